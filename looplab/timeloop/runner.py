"""Run ``timeloop-model`` once, isolated in its own temporary directory, and turn what happened into an EvalResult.

Every outcome is typed (``looplab.result``):

* valid mapping -> ``valid=True`` with the parsed ``timeloop-model.stats.txt``;
* Timeloop's ``ERROR: couldn't map level L: ...`` -> ``valid=False``, ``error_kind`` capacity|fanout|constraint
  (or ``parse`` when Timeloop rejected its input files);
* the run itself failed -> ``valid=None`` and ``error_kind`` one of ``FAILURE_KINDS``: ``missing_binary``,
  ``timeout`` (the whole process group is killed), ``crash`` (killed by a signal, or a non-zero exit without an
  ERROR line), ``accelergy`` ("Failed to run Accelergy", which timeloop-model reports with exit status 0),
  ``no_stats`` (exit 0 but no stats file) and ``garbage`` (a stats file that does not parse).

The temporary directory is removed in every case (``keep_dir`` copies it somewhere first, for debugging).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from looplab.errors import LooplabError
from looplab.result import EvalResult
from looplab.timeloop.errors import find_error
from looplab.timeloop.parse_stats import parse_stats_text

BINARY = "timeloop-model"
STATS_FILE = "timeloop-model.stats.txt"
ACCELERGY_FAILED = "Failed to run Accelergy"
SHAPES_MISSING = "problem shape files"  # "ERROR: problem shape files: cnn_layer.yaml ... not found in ... path"
SHAPES_HINT = ("Timeloop cannot find its problem shapes: set TIMELOOP_DIR to the folder holding problem-shapes/ "
               "(or LOOPLAB_SIMULATORS=DIR; see `looplab doctor`)")
INPUT_NAMES = ("arch.yaml", "problem.yaml", "mapping.yaml", "ERT.yaml", "ART.yaml")
_TAIL = 400


@dataclass
class RunOutput:
    """What one subprocess run left behind."""

    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    timed_out: bool
    stats_text: str | None


def _tail(text: str, n: int = _TAIL) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else "..." + text[-n:]


def _check_inputs(paths: dict[str, Path | None]) -> None:
    for field, path in paths.items():
        if path is not None and not Path(path).is_file():
            raise LooplabError(f"{field} file not found: {path}", str(path))


def run_process(cmd: list[str], cwd: Path, timeout_s: float, env: dict[str, str] | None = None) -> RunOutput:
    """Run ``cmd`` in its own session (process group) in ``cwd``; kill the whole group on timeout."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True, env=env)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a child holding the pipes open past SIGKILL
            out, err = "", ""
    finally:
        if proc.poll() is None:  # interrupted (KeyboardInterrupt ...): leave nothing running
            _kill_group(proc)
            proc.wait()
    stats = cwd / STATS_FILE
    stats_text = stats.read_text(errors="replace") if stats.is_file() else None
    return RunOutput(proc.returncode, out or "", err or "", time.monotonic() - start, timed_out, stats_text)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def classify(run: RunOutput, backend: str = "timeloop", timeout_s: float | None = None) -> EvalResult:
    """Turn one finished (or killed) run into a typed EvalResult."""

    def failure(kind: str, reason: str) -> EvalResult:
        return EvalResult(valid=None, backend=backend, error_kind=kind, reason=reason, wall_s=run.wall_s)

    both = run.stdout + "\n" + run.stderr
    if run.timed_out:
        return failure("timeout", f"{BINARY} did not finish within {timeout_s:g} s; its process group was killed")
    if ACCELERGY_FAILED in both:
        line = next(ln for ln in both.splitlines() if ACCELERGY_FAILED in ln)
        return failure("accelergy", f"{line.strip()} (exit status {run.returncode}); pass a cached ERT/ART "
                                    "(looplab.timeloop.accelergy.ensure_ert) or fix the architecture")
    if SHAPES_MISSING in both and "not found" in both:  # the installation, not the mapping
        return failure("missing_binary", f"{SHAPES_HINT}; {_tail(both)}")
    err = find_error(run.stderr, run.stdout)
    if err is not None and err.level is not None:
        return EvalResult(valid=False, backend=backend, failed_level=err.level, reason=err.reason,
                          error_kind=err.kind, wall_s=run.wall_s,
                          extra={"mapped": err.mapped, "available": err.available, "exit_code": run.returncode})
    rc = run.returncode
    if rc is not None and rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return failure("crash", f"{BINARY} was killed by {name}; stderr: {_tail(run.stderr) or '(empty)'}")
    if err is not None and rc != 0:
        return EvalResult(valid=False, backend=backend, reason=err.reason, error_kind=err.kind, wall_s=run.wall_s,
                          extra={"exit_code": rc})
    if rc != 0:
        return failure("crash", f"{BINARY} exited with status {rc} without an ERROR line; "
                                f"stderr: {_tail(run.stderr) or '(empty)'}; stdout: {_tail(run.stdout) or '(empty)'}")
    if run.stats_text is None:
        return failure("no_stats", f"{BINARY} exited with status 0 but wrote no {STATS_FILE}; "
                                   f"stdout: {_tail(run.stdout) or '(empty)'}")
    try:
        result = parse_stats_text(run.stats_text, backend=backend, where=STATS_FILE)
    except LooplabError as exc:
        return failure("garbage", f"{exc}; first bytes: {run.stats_text[:120]!r}")
    result.wall_s = run.wall_s
    return result


def run_timeloop_model(arch: Path, problem: Path, mapping: Path, ert: Path | None = None, art: Path | None = None,
                       *, timeout_s: float = 120, binary: str = BINARY, workdir_root: Path | None = None,
                       keep_dir: Path | None = None, backend: str = "timeloop") -> EvalResult:
    """Evaluate one mapping with ``timeloop-model`` in a fresh temporary directory.

    The inputs are copied in as ``arch.yaml problem.yaml mapping.yaml [ERT.yaml ART.yaml]`` and the command is
    exactly ``timeloop-model arch.yaml problem.yaml mapping.yaml ERT.yaml ART.yaml`` (with cached ERT/ART
    Accelergy is not run). Missing input files raise LooplabError; everything else becomes an EvalResult.
    """
    _check_inputs({"arch": arch, "problem": problem, "mapping": mapping, "ERT": ert, "ART": art})
    exe = shutil.which(binary)
    if exe is None:
        return EvalResult(valid=None, backend=backend, error_kind="missing_binary",
                          reason=f"{binary} not found on PATH; install Timeloop (or use the Docker image, "
                                 "see docs/timeloop.md) and run `looplab doctor`")
    workdir = Path(tempfile.mkdtemp(prefix="looplab-timeloop-", dir=workdir_root))
    try:
        args = []
        for name, src in zip(INPUT_NAMES, (arch, problem, mapping, ert, art), strict=True):
            if src is not None:
                shutil.copyfile(src, workdir / name)
                args.append(name)
        (workdir / "command.txt").write_text(" ".join([binary, *args]) + "\n")
        run = run_process([exe, *args], workdir, timeout_s)
        result = classify(run, backend=backend, timeout_s=timeout_s)
        if keep_dir is not None:
            (workdir / "stdout.txt").write_text(run.stdout)
            (workdir / "stderr.txt").write_text(run.stderr)
            shutil.copytree(workdir, keep_dir, dirs_exist_ok=True)
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
