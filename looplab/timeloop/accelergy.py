"""Accelergy once per architecture: ERT/ART produced once, cached on disk, reused by every evaluation.

The cache key is a SHA-256 over everything that changes the tables: the exact bytes of the architecture file
(plus any extra input files such as component libraries) and the Accelergy toolchain fingerprint (Accelergy's
version and the versions of its installed plug-in packages). Entries live in ``<cache>/<key>/`` with
``ERT.yaml``, ``ART.yaml``, the summaries, ``accelergy.log`` and ``meta.json``.

Concurrency: a per-key ``fcntl`` lock keeps concurrent processes from running Accelergy twice, and each entry is
produced in a private temporary directory and renamed into place in one step, so a reader never sees a half
written entry (even where file locks are not honoured, e.g. some network file systems, the worst case is
duplicated work, never a torn entry).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from looplab.errors import LooplabError

ENV_CACHE = "LOOPLAB_CACHE"
ACCELERGY = "accelergy"
OUTPUTS = ("ERT.yaml", "ART.yaml")
OPTIONAL_OUTPUTS = ("ERT_summary.yaml", "ART_summary.yaml", "flattened_architecture.yaml", "accelergy.log")

# producer(arch_yaml, out_dir) must leave ERT.yaml and ART.yaml in out_dir (or raise AccelergyError)
Producer = Callable[[Path, Path], None]


class AccelergyError(LooplabError):
    """Accelergy did not produce ERT/ART for an architecture."""


def default_cache_dir() -> Path:
    """``$LOOPLAB_CACHE/accelergy`` or ``~/.cache/looplab/accelergy``."""
    root = os.environ.get(ENV_CACHE)
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "looplab"
    return base / "accelergy"


def toolchain_fingerprint() -> str:
    """Accelergy and plug-in package versions (importlib.metadata), plus the accelergy binary's location (looked
    up on every call: PATH may change within a process, and a cached stale location would split the cache)."""
    return _fingerprint(shutil.which(ACCELERGY))


@lru_cache(maxsize=8)
def _fingerprint(exe: str | None) -> str:
    from looplab.doctor import accelergy_packages

    parts = [f"{name}=={ver}" for name, ver in sorted(accelergy_packages().items())]
    parts.append(f"bin={exe}")
    return ";".join(parts)


def cache_key(arch_yaml: Path, extra_inputs: Iterable[Path] = (), fingerprint: str | None = None) -> str:
    """Content hash of the architecture (+ extra inputs) and the toolchain fingerprint."""
    h = hashlib.sha256()
    for path in (arch_yaml, *extra_inputs):
        data = Path(path).read_bytes()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    h.update((toolchain_fingerprint() if fingerprint is None else fingerprint).encode())
    return h.hexdigest()[:32]


def run_accelergy(arch_yaml: Path, out_dir: Path, timeout_s: float = 600,
                  extra_inputs: Iterable[Path] = ()) -> None:
    """``accelergy ARCH [EXTRA...] -o OUT_DIR`` in its own process group; raises AccelergyError on failure."""
    from looplab.timeloop.runner import run_process

    exe = shutil.which(ACCELERGY)
    if exe is None:
        raise AccelergyError("accelergy not found on PATH; install Accelergy and its plug-ins (see `looplab "
                             "doctor`) or pass --ert/--art", str(arch_yaml))
    inputs = [str(Path(p).resolve()) for p in (arch_yaml, *extra_inputs)]
    run = run_process([exe, *inputs, "-o", f"{out_dir}/"], out_dir, timeout_s)
    log = out_dir / "accelergy.log"
    (out_dir / "accelergy.output.txt" if log.exists() else log).write_text(run.stdout + run.stderr)
    _normalise_names(out_dir)
    if run.timed_out:
        raise AccelergyError(f"accelergy did not finish within {timeout_s:g} s", str(arch_yaml))
    missing = [n for n in OUTPUTS if not (out_dir / n).is_file()]
    if run.returncode != 0 or missing:
        tail = (run.stderr or run.stdout).strip()[-400:]
        raise AccelergyError(f"accelergy exited with status {run.returncode} and did not write "
                             f"{', '.join(missing) or 'valid outputs'}; output: {tail or '(empty)'}", str(arch_yaml))


def _normalise_names(out_dir: Path) -> None:
    """Accelergy run with an output prefix writes ``<prefix>.ERT.yaml`` etc.: give them the plain names."""
    for name in (*OUTPUTS, *OPTIONAL_OUTPUTS[:2]):
        if not (out_dir / name).exists():
            hits = sorted(out_dir.glob(f"*.{name}"))
            if len(hits) == 1:
                hits[0].rename(out_dir / name)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _complete(entry: Path) -> bool:
    return all((entry / n).is_file() for n in (*OUTPUTS, "meta.json"))


def ensure_ert(arch_yaml: Path, cache_dir: Path | None = None, *, producer: Producer | None = None,
               extra_inputs: Iterable[Path] = (), fingerprint: str | None = None,
               timeout_s: float = 600) -> tuple[Path, Path]:
    """(ERT.yaml, ART.yaml) for ``arch_yaml`` from the cache, running Accelergy once on a miss.

    ``producer`` replaces the Accelergy run (default :func:`run_accelergy`); raises AccelergyError when the
    tables cannot be produced.
    """
    arch_yaml = Path(arch_yaml)
    if not arch_yaml.is_file():
        raise LooplabError("architecture file not found", str(arch_yaml))
    extra = [Path(p) for p in extra_inputs]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    key = cache_key(arch_yaml, extra, fingerprint)
    entry = cache / key
    if not _complete(entry):
        with _locked(cache / f"{key}.lock"):
            if not _complete(entry):
                _produce(arch_yaml, extra, cache, entry, producer, timeout_s)
    return entry / "ERT.yaml", entry / "ART.yaml"


def _produce(arch_yaml: Path, extra: list[Path], cache: Path, entry: Path, producer: Producer | None,
             timeout_s: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=cache))
    try:
        start = time.monotonic()
        if producer is None:
            run_accelergy(arch_yaml, tmp, timeout_s, extra)
        else:
            producer(arch_yaml, tmp)
        missing = [n for n in OUTPUTS if not (tmp / n).is_file()]
        if missing:
            raise AccelergyError(f"Accelergy run left no {', '.join(missing)}", str(arch_yaml))
        shutil.copyfile(arch_yaml, tmp / "arch.yaml")
        meta = {"arch": str(arch_yaml.resolve()), "extra_inputs": [str(p) for p in extra], "key": entry.name,
                "seconds": round(time.monotonic() - start, 3), "created": time.time(),
                **_estimator_info(tmp)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if entry.exists():  # a stale, incomplete entry (e.g. a crashed writer before this scheme): replace it
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.rename(tmp, entry)
        except OSError:
            if not _complete(entry):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _estimator_info(out_dir: Path) -> dict:
    """Which estimator produced each component (from ERT_summary.yaml), flagging Accelergy's dummy tables."""
    from looplab.timeloop.parse_accelergy import component_estimators, uses_dummy

    summary = out_dir / "ERT_summary.yaml"
    if not summary.is_file():
        return {}
    try:
        est = component_estimators(summary, out_dir / "ART_summary.yaml" if (out_dir / "ART_summary.yaml").is_file()
                                   else None)
    except LooplabError:
        return {}
    return {"estimators": est, "dummy_estimated": uses_dummy(est)}


def cached_entries(cache_dir: Path | None = None) -> list[Path]:
    """Complete cache entries (directories holding ERT.yaml, ART.yaml and meta.json)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return sorted(p for p in cache.glob("*") if p.is_dir() and not p.name.startswith(".") and _complete(p))
