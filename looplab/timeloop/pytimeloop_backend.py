"""Evaluation through the timeloop-python bindings (``pytimeloop``), each architecture in its own worker process.

This build of the bindings cannot hold two architectures in one process (a second ``ArchSpecs`` segfaults), needs
a workload before the architecture, segfaults when an ``Engine`` is destroyed, and prints to file descriptor 1
(sim/README.md). So looplab never imports them in the caller's process: :class:`ArchWorker` starts
``pytimeloop_worker.py`` for one (architecture, ERT, ART) and sends it (problem, mapping) requests over a pipe;
the worker evaluates exactly as timeloop-model does::

    workload = Workload(problem)                          # first: the problem shape is process-global
    specs = ArchSpecs(arch); specs.parse_accelergy_ert(ERT); specs.parse_accelergy_art(ART)    # once
    engine = Engine(specs)                                # once, never destroyed
    status = engine.evaluate(Mapping(mapping, specs, workload), workload, sparse_opts, break_on_failure=True)
    text = engine.pretty_print_stats()                    # byte for byte timeloop-model.stats.txt

Workers are kept per process (at most ``MAX_WORKERS``, least recently used closed first) and replaced after
``WORKER_REUSE`` evaluations (the bindings keep every evaluation's arguments alive as long as the engine). A
worker that dies or overruns ``timeout_s`` is killed and its case typed ``crash`` / ``timeout``; the next
evaluation starts a fresh one. Everything here is plain Python and unit-tested with a stand-in worker.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError
from looplab.result import EvalResult
from looplab.timeloop.errors import classify_reason
from looplab.timeloop.parse_stats import parse_stats_text
from looplab.timeloop.runner import SHAPES_HINT, SHAPES_MISSING

BACKEND = "pytimeloop"
WORKER_SCRIPT = Path(__file__).with_name("pytimeloop_worker.py")
MAX_WORKERS = 3
WORKER_REUSE = 2000
START_TIMEOUT_S = 120.0
_WORKERS: OrderedDict[str, ArchWorker] = OrderedDict()


def available() -> bool:
    return importlib.util.find_spec("pytimeloop") is not None and importlib.util.find_spec("bindings") is not None


def version() -> str:
    import importlib.metadata as md

    for dist in ("pytimeloop", "timeloop-python"):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return "unknown" if available() else "not installed"


def status_to_result(status: Sequence[Sequence[Any]], level_names: Sequence[str],
                     wall_s: float | None = None) -> EvalResult | None:
    """The first failing level of ``Engine.evaluate``'s status list, as ``[success, fail_reason]`` pairs
    innermost level first, as an invalid EvalResult (None if all succeeded). ``fail_reason`` is the text
    timeloop-model prints after ``ERROR: couldn't map level <L>:``."""
    for i, (success, fail_reason) in enumerate(status):
        if not success:
            reason = str(fail_reason).strip()
            kind, mapped, available_ = classify_reason(reason)
            level = level_names[i] if i < len(level_names) else str(i)
            return EvalResult(valid=False, backend=BACKEND, failed_level=level, reason=reason, error_kind=kind,
                              wall_s=wall_s, extra={"mapped": mapped, "available": available_})
    return None


def tables_key(arch: Path, ert: Path | None, art: Path | None) -> str:
    """SHA-256 over the architecture, ERT and ART texts: one worker process per distinct key."""
    h = hashlib.sha256()
    for path in (arch, ert, art):
        h.update(Path(path).read_bytes() if path is not None else b"")
        h.update(b"\0")
    return h.hexdigest()


def reply_to_result(reply: dict[str, Any], wall_s: float) -> EvalResult:
    """A worker's JSON reply -> EvalResult (invalid at the first failing level, or the parsed stats)."""
    if "error" in reply:
        log = f"; Timeloop said: {reply['log']}" if reply.get("log") else ""
        return EvalResult(valid=False, backend=BACKEND, error_kind="parse", wall_s=wall_s,
                          reason=f"Timeloop rejected the inputs: {reply['error']}{log}")
    invalid = status_to_result(reply["status"], reply["levels"], wall_s)
    if invalid is not None:
        return invalid
    try:
        result = parse_stats_text(reply["stats"] or "", backend=BACKEND, where="Engine.pretty_print_stats")
    except LooplabError as exc:
        return EvalResult(valid=None, backend=BACKEND, error_kind="garbage", reason=str(exc), wall_s=wall_s)
    result.wall_s = wall_s
    return result


class WorkerDied(Exception):
    """The worker process exited (or was killed) before answering."""


class WorkerTimeout(Exception):
    """The worker did not answer within the time limit."""


class ArchWorker:
    """One ``pytimeloop_worker.py`` process serving one (architecture, ERT, ART)."""

    def __init__(self, arch: Path, ert: Path | None, art: Path | None, command: Sequence[str] | None = None):
        fd, self.log_path = tempfile.mkstemp(prefix="looplab-pytimeloop-", suffix=".log")
        os.close(fd)
        cmd = list(command or [sys.executable, str(WORKER_SCRIPT)])
        cmd += [str(Path(arch).resolve()), str(Path(ert).resolve()) if ert else "",
                str(Path(art).resolve()) if art else "", self.log_path]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.evaluations = 0
        self._buf = b""
        try:
            ready = self._read_reply(START_TIMEOUT_S)
        except (WorkerDied, WorkerTimeout):
            self.kill()
            self.close()
            raise
        if "error" in ready:
            self.close()
            raise WorkerDied(ready["error"])

    def _read_reply(self, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerTimeout()
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise WorkerDied(self.death_note())
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def death_note(self) -> str:
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is not None and rc < 0:
            try:
                how = f"killed by {signal.Signals(-rc).name}"
            except ValueError:
                how = f"killed by signal {-rc}"
        else:
            how = f"exited with status {rc}"
        tail = self.log_tail()
        return f"the pytimeloop worker {how}" + (f"; its output ended: {tail}" if tail else "")

    def log_tail(self, n: int = 400) -> str:
        try:
            text = Path(self.log_path).read_text(errors="replace").strip()
        except OSError:
            return ""
        return text if len(text) <= n else "..." + text[-n:]

    def evaluate(self, problem: Path, mapping: Path, timeout_s: float) -> dict[str, Any]:
        req = json.dumps({"problem": str(Path(problem).resolve()), "mapping": str(Path(mapping).resolve())})
        try:
            self.proc.stdin.write(req.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerDied(self.death_note()) from None
        self.evaluations += 1
        return self._read_reply(timeout_s)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        Path(self.log_path).unlink(missing_ok=True)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()


def _worker(key: str, arch: Path, ert: Path | None, art: Path | None) -> ArchWorker:
    w = _WORKERS.get(key)
    if w is not None and (w.proc.poll() is not None or w.evaluations >= WORKER_REUSE):
        _WORKERS.pop(key).close()
        w = None
    if w is None:
        while len(_WORKERS) >= MAX_WORKERS:
            _WORKERS.popitem(last=False)[1].close()
        w = _WORKERS[key] = ArchWorker(arch, ert, art)
    _WORKERS.move_to_end(key)
    return w


def _drop(key: str, kill: bool) -> None:
    w = _WORKERS.pop(key, None)
    if w is not None:
        if kill:
            w.kill()
        w.close()


# A forked child (a process pool's worker) must not talk to its parent's workers over the inherited pipes.
os.register_at_fork(after_in_child=lambda: _WORKERS.clear())


@atexit.register
def close_all() -> None:
    """Stop every worker process of this process (also run at interpreter exit)."""
    while _WORKERS:
        _WORKERS.popitem()[1].close()


def evaluate(arch: Path, problem: Path, mapping: Path, ert: Path | None = None, art: Path | None = None,
             timeout_s: float = 120) -> EvalResult:
    """Evaluate one mapping in the worker process for (arch, ERT, ART). Without ERT/ART the caller must supply
    them (``ensure_ert``); Timeloop's built-in energy model would be used otherwise."""
    start = time.monotonic()
    for field, path in (("arch", arch), ("problem", problem), ("mapping", mapping), ("ERT", ert), ("ART", art)):
        if path is not None and not Path(path).is_file():
            raise LooplabError(f"{field} file not found", str(path))
    if not available():
        return EvalResult(valid=None, backend=BACKEND, error_kind="missing_binary",
                          reason="pytimeloop bindings not importable; use --backend timeloop or install "
                                 "timeloop-python (see `looplab doctor`)")
    key = tables_key(arch, ert, art)
    try:
        worker = _worker(key, Path(arch), ert, art)
        reply = worker.evaluate(problem, mapping, timeout_s)
    except WorkerTimeout:
        _drop(key, kill=True)
        return EvalResult(valid=None, backend=BACKEND, error_kind="timeout", wall_s=time.monotonic() - start,
                          reason=f"pytimeloop did not finish within {timeout_s:g} s; its worker was killed")
    except WorkerDied as exc:
        _drop(key, kill=False)
        kind = "missing_binary" if SHAPES_MISSING in str(exc) else "crash"
        reason = f"{SHAPES_HINT}; {exc}" if kind == "missing_binary" else str(exc)
        return EvalResult(valid=None, backend=BACKEND, error_kind=kind, reason=reason,
                          wall_s=time.monotonic() - start)
    if SHAPES_MISSING in str(reply.get("error", "")) + str(reply.get("log", "")):
        return EvalResult(valid=None, backend=BACKEND, error_kind="missing_binary", wall_s=time.monotonic() - start,
                          reason=f"{SHAPES_HINT}; {reply.get('error')}")
    return reply_to_result(reply, time.monotonic() - start)
