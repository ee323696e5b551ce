"""One interface over the three evaluators: ``get_backend("timeloop" | "pytimeloop" | "analytical")``.

    backend = get_backend("timeloop")
    backend.name, backend.version()
    result = backend.evaluate(arch_yaml, problem_yaml, mapping_yaml, ert=None, art=None, timeout_s=120)

All return :class:`looplab.result.EvalResult`. With ``ert=None`` the Timeloop backends take ERT/ART from the
Accelergy cache (:func:`looplab.timeloop.accelergy.ensure_ert`, Accelergy runs once per architecture); an ERT
given without an ART picks up the ``ART`` file beside it (``ERT.yaml`` -> ``ART.yaml``) when there is one.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from looplab.errors import LooplabError
from looplab.result import EvalResult

BACKEND_NAMES = ("timeloop", "pytimeloop", "analytical")


class Backend(Protocol):
    name: str

    def version(self) -> str: ...

    def evaluate(self, arch_yaml: Path, problem_yaml: Path, mapping_yaml: Path, ert: Path | None = None,
                 art: Path | None = None, timeout_s: float = 120) -> EvalResult: ...


def sibling_art(ert: Path | None) -> Path | None:
    """``.../ERT.yaml`` -> ``.../ART.yaml`` (also ``x.ERT.yaml`` -> ``x.ART.yaml``) when that file exists."""
    if ert is None:
        return None
    ert = Path(ert)
    if "ERT" not in ert.name:
        return None
    cand = ert.with_name(ert.name.replace("ERT", "ART"))
    return cand if cand.is_file() else None


def _tables(arch_yaml: Path, ert: Path | None, art: Path | None, cache_dir: Path | None,
            backend: str) -> tuple[Path | None, Path | None, EvalResult | None]:
    """(ERT, ART, None) or (None, None, failure result) when Accelergy could not produce them."""
    if ert is not None:
        return Path(ert), Path(art) if art is not None else sibling_art(ert), None
    from looplab.timeloop.accelergy import AccelergyError, ensure_ert

    try:
        ert_path, art_path = ensure_ert(Path(arch_yaml), cache_dir)
    except AccelergyError as exc:
        return None, None, EvalResult(valid=None, backend=backend, error_kind="accelergy", reason=str(exc))
    return ert_path, art_path, None


class TimeloopBackend:
    """The real ``timeloop-model`` as a subprocess, one temporary directory per evaluation."""

    name = "timeloop"

    def __init__(self, binary: str = "timeloop-model", cache_dir: Path | None = None,
                 workdir_root: Path | None = None, keep_dir: Path | None = None):
        self.binary, self.cache_dir, self.workdir_root, self.keep_dir = binary, cache_dir, workdir_root, keep_dir

    def version(self) -> str:
        from looplab.doctor import check_binary

        st = check_binary(self.binary)
        if not st.found:
            return "not installed"
        return f"{st.version or 'unknown version'} ({st.path})"

    def evaluate(self, arch_yaml: Path, problem_yaml: Path, mapping_yaml: Path, ert: Path | None = None,
                 art: Path | None = None, timeout_s: float = 120) -> EvalResult:
        from looplab.timeloop.runner import run_timeloop_model

        if shutil.which(self.binary) is None:  # report the missing simulator before trying Accelergy
            return run_timeloop_model(arch_yaml, problem_yaml, mapping_yaml, binary=self.binary)
        ert, art, failure = _tables(arch_yaml, ert, art, self.cache_dir, self.name)
        if failure is not None:
            return failure
        return run_timeloop_model(arch_yaml, problem_yaml, mapping_yaml, ert, art, timeout_s=timeout_s,
                                  binary=self.binary, workdir_root=self.workdir_root, keep_dir=self.keep_dir)


class PytimeloopBackend:
    """timeloop-python bindings, one worker process per architecture (``looplab.timeloop.pytimeloop_backend``)."""

    name = "pytimeloop"

    def __init__(self, cache_dir: Path | None = None):
        self.cache_dir = cache_dir

    def version(self) -> str:
        from looplab.timeloop import pytimeloop_backend

        return pytimeloop_backend.version()

    def evaluate(self, arch_yaml: Path, problem_yaml: Path, mapping_yaml: Path, ert: Path | None = None,
                 art: Path | None = None, timeout_s: float = 120) -> EvalResult:
        from looplab.timeloop import pytimeloop_backend

        if not pytimeloop_backend.available():
            return EvalResult(valid=None, backend=self.name, error_kind="missing_binary",
                              reason="pytimeloop is not importable; install timeloop-python or use --backend "
                                     "timeloop (see `looplab doctor`)")
        ert, art, failure = _tables(arch_yaml, ert, art, self.cache_dir, self.name)
        if failure is not None:
            return failure
        return pytimeloop_backend.evaluate(Path(arch_yaml), Path(problem_yaml), Path(mapping_yaml), ert, art,
                                           timeout_s=timeout_s)


class AnalyticalBackend:
    """looplab's own model (``looplab.analytical.evaluate_files``); ERT None -> looplab's energy estimator."""

    name = "analytical"

    def __init__(self, cache_dir: Path | None = None):
        self.cache_dir = cache_dir  # unused: the analytical model needs no Accelergy tables

    def version(self) -> str:
        import looplab

        return f"looplab {getattr(looplab, '__version__', 'dev')}"

    def evaluate(self, arch_yaml: Path, problem_yaml: Path, mapping_yaml: Path, ert: Path | None = None,
                 art: Path | None = None, timeout_s: float = 120) -> EvalResult:
        try:
            from looplab.analytical import evaluate_files
        except ImportError as exc:
            raise LooplabError(f"the analytical backend is not available in this build ({exc})") from exc
        return evaluate_files(Path(arch_yaml), Path(problem_yaml), Path(mapping_yaml), ert)


_BACKENDS = {"timeloop": TimeloopBackend, "pytimeloop": PytimeloopBackend, "analytical": AnalyticalBackend}


def get_backend(name: str, **options) -> Backend:
    """A backend by name; ``options`` go to its constructor (e.g. ``cache_dir``, ``workdir_root``)."""
    from looplab.timeloop.discover import activate

    activate()  # LOOPLAB_SIMULATORS=DIR / TIMELOOP_DIR (idempotent)
    try:
        cls = _BACKENDS[name]
    except KeyError:
        raise LooplabError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}",
                           "--backend") from None
    return cls(**options)
