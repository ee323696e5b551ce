"""In-process evaluation through the timeloop-python bindings (``pytimeloop``), when they import.

The call sequence is the one timeloop-model's application makes, through the bindings
(Accelergy-Project/timeloop-python: ``bindings.config.Configurator``, ``bindings.model.Engine``)::

    cfg = Configurator.from_yaml_str(arch + problem + mapping + ERT + ART)
    engine = Engine(cfg.get_arch_specs())          # built once per (arch, ERT, ART) in each worker process
    status = engine.evaluate(cfg.get_mapping(), cfg.get_workload(), cfg.get_sparse_opts(), break_on_failure=True)
    text = engine.pretty_print_stats()             # the exact text of timeloop-model.stats.txt

The Configurator still parses the architecture text for every mapping (the mapping is parsed against it); the
engine and its ERT/ART are set up once per worker. The bindings cannot be exercised on machines without them:
everything that does not need them (status -> EvalResult, caching keys) is plain Python and unit-tested.
A crash inside the native code takes the process with it -- run batches through worker processes
(``looplab evaluate --batch`` does).
"""

from __future__ import annotations

import hashlib
import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError
from looplab.result import EvalResult
from looplab.timeloop.errors import classify_reason
from looplab.timeloop.parse_stats import parse_stats_text

BACKEND = "pytimeloop"
# Per-process cache: (arch, ERT, ART) hash -> [Engine, level names, evaluations done]. The bindings' evaluate()
# keeps its mapping/workload arguments alive for the engine's lifetime (pybind11 keep_alive), so an engine is
# replaced after ENGINE_REUSE evaluations to bound memory in long batches.
_ENGINES: dict[str, list[Any]] = {}
ENGINE_REUSE = 256


def available() -> bool:
    return importlib.util.find_spec("pytimeloop") is not None


def version() -> str:
    import importlib.metadata as md

    for dist in ("pytimeloop", "timeloop-python"):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return "unknown" if available() else "not installed"


def _bindings() -> tuple[Any, Any]:
    """(Configurator, Engine) from the bindings; ImportError when they are absent."""
    import importlib

    errors = []
    for pkg in ("bindings", "pytimeloop.bindings"):  # top-level `bindings` module, or nested in the package
        try:
            config = importlib.import_module(f"{pkg}.config")
            model = importlib.import_module(f"{pkg}.model")
            return config.Configurator, model.Engine
        except (ImportError, AttributeError) as exc:
            errors.append(f"{pkg}: {exc}")
    raise ImportError("; ".join(errors))


def status_to_result(status: Sequence[Any], level_names: Sequence[str],
                     wall_s: float | None = None) -> EvalResult | None:
    """The first failing level of ``Engine.evaluate``'s status list as an invalid EvalResult (None if all
    succeeded). Each status has ``success`` and ``fail_reason`` -- the text timeloop-model prints after
    ``ERROR: couldn't map level <L>:``."""
    for i, st in enumerate(status):
        if not st.success:
            reason = str(st.fail_reason).strip()
            kind, mapped, available_ = classify_reason(reason)
            level = level_names[i] if i < len(level_names) else str(i)
            return EvalResult(valid=False, backend=BACKEND, failed_level=level, reason=reason, error_kind=kind,
                              wall_s=wall_s, extra={"mapped": mapped, "available": available_})
    return None


def _engine(key: str, cfg: Any, engine_cls: Any) -> tuple[Any, list[str]]:
    entry = _ENGINES.get(key)
    if entry is None or entry[2] >= ENGINE_REUSE:
        specs = cfg.get_arch_specs()
        if len(_ENGINES) >= 8 and key not in _ENGINES:  # a few architectures per worker at a time
            _ENGINES.pop(next(iter(_ENGINES)))
        entry = _ENGINES[key] = [engine_cls(specs), list(specs.level_names()), 0]
    entry[2] += 1
    return entry[0], entry[1]


def combined_yaml(arch: Path, problem: Path, mapping: Path, ert: Path | None, art: Path | None) -> tuple[str, str]:
    """(all inputs as one YAML document, hash of the arch+ERT+ART part used as the engine cache key)."""
    texts = {}
    for field, path in (("arch", arch), ("problem", problem), ("mapping", mapping), ("ERT", ert), ("ART", art)):
        if path is None:
            continue
        p = Path(path)
        if not p.is_file():
            raise LooplabError(f"{field} file not found", str(p))
        texts[field] = p.read_text()
    key = hashlib.sha256("\0".join(texts.get(k, "") for k in ("arch", "ERT", "ART")).encode()).hexdigest()
    return "\n".join(t.rstrip("\n") for t in texts.values()) + "\n", key


def evaluate(arch: Path, problem: Path, mapping: Path, ert: Path | None = None, art: Path | None = None) -> EvalResult:
    """Evaluate one mapping in this process. Without ERT/ART the caller must supply them (ensure_ert)."""
    start = time.monotonic()
    try:
        configurator_cls, engine_cls = _bindings()
    except ImportError as exc:
        return EvalResult(valid=None, backend=BACKEND, error_kind="missing_binary",
                          reason=f"pytimeloop bindings not importable ({exc}); use --backend timeloop or install "
                                 "timeloop-python (see `looplab doctor`)")
    text, key = combined_yaml(arch, problem, mapping, ert, art)
    try:
        cfg = configurator_cls.from_yaml_str(text)
    except Exception as exc:  # noqa: BLE001 - the bindings raise their own exception types for bad input
        return EvalResult(valid=False, backend=BACKEND, error_kind="parse", reason=f"Timeloop rejected the "
                          f"inputs: {exc}", wall_s=time.monotonic() - start)
    engine, level_names = _engine(key, cfg, engine_cls)
    status = engine.evaluate(cfg.get_mapping(), cfg.get_workload(), cfg.get_sparse_opts(), break_on_failure=True)
    invalid = status_to_result(status, level_names, time.monotonic() - start)
    if invalid is not None:
        return invalid
    try:
        result = parse_stats_text(engine.pretty_print_stats(), backend=BACKEND, where="Engine.pretty_print_stats")
    except LooplabError as exc:
        return EvalResult(valid=None, backend=BACKEND, error_kind="garbage", reason=str(exc))
    result.wall_s = time.monotonic() - start
    return result
