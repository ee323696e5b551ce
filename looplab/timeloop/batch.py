"""``looplab evaluate --batch CASES.jsonl --out RESULTS.jsonl``: many evaluations, in worker processes, resumable.

CASES line:   {"id": ..., "arch": path, "problem": path, "mapping": path, "ert": path or null, "art": optional}
RESULTS line: {"id": ..., "valid": bool|null, "failed_level": str|null, "reason": str|null, "cycles": int|null,
               "energy_pJ": float|null, "backend": str, ["error_kind": str]}

Relative paths in CASES are taken relative to the CASES file's folder. Each finished case is appended to RESULTS
and flushed at once; rerunning skips every id already there (a torn last line from a kill is dropped first).
Parallelism uses processes (Accelergy holds a global lock; the pytimeloop bindings are not thread-safe). A
worker that dies (e.g. a crash inside the pytimeloop bindings) costs only its case: the cases that were in
flight are retried one at a time, and the one that kills its worker again is recorded as ``crash``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError, ToolMissingError
from looplab.result import EvalResult

REQUIRED = ("id", "arch", "problem", "mapping")
_WORKER_BACKENDS: dict[tuple, Any] = {}


@dataclass
class BatchSummary:
    total: int = 0
    skipped: int = 0
    evaluated: int = 0
    valid: int = 0
    invalid: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items()))
        return (f"{self.evaluated} evaluated ({self.valid} valid, {self.invalid} invalid, {self.failed} failed"
                f"{': ' + kinds if kinds else ''}), {self.skipped} skipped (already in RESULTS), "
                f"{self.total} cases")


def _id_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def read_cases(path: Path) -> list[dict[str, Any]]:
    """Parse and check CASES.jsonl; paths resolved against its folder. LooplabError names line and field."""
    path = Path(path)
    if not path.is_file():
        raise LooplabError("cases file not found", str(path))
    base = path.resolve().parent
    cases, seen = [], set()
    checked: dict[str, str] = {}  # a path as written -> resolved and found to be a file (arch/problem files repeat)
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LooplabError(f"not JSON ({exc.msg})", where) from None
        if not isinstance(case, dict):
            raise LooplabError("a case must be a JSON object", where)
        for key in REQUIRED:
            if case.get(key) is None:
                raise LooplabError(f"missing field '{key}'", where)
        key = _id_key(case["id"])
        if key in seen:
            raise LooplabError(f"duplicate id {case['id']!r}", where)
        seen.add(key)
        for fld in ("arch", "problem", "mapping", "ert", "art"):
            raw = case.get(fld)
            if raw is None:
                continue
            if isinstance(raw, str) and raw in checked:
                case[fld] = checked[raw]
                continue
            p = Path(raw)
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                why = "is a directory, not a file" if p.is_dir() else "file not found"
                raise LooplabError(f"field '{fld}': {why}: {p}", where)
            case[fld] = str(p)
            if isinstance(raw, str):
                checked[raw] = case[fld]
        cases.append(case)
    return cases


def done_ids(out_path: Path) -> set[str]:
    """Ids already in RESULTS; a torn (unterminated or unparsable) last line is cut off the file."""
    out_path = Path(out_path)
    if not out_path.exists():
        return set()
    data = out_path.read_bytes()
    keep = data if data.endswith(b"\n") or not data else data[: data.rfind(b"\n") + 1]
    ids: set[str] = set()
    good_end = 0
    for raw in keep.splitlines(keepends=True):
        try:
            row = json.loads(raw)
        except json.JSONDecodeError:
            break
        ids.add(_id_key(row.get("id")))
        good_end += len(raw)
    if good_end != len(data):
        with open(out_path, "r+b") as fh:
            fh.truncate(good_end)
    return ids


def preflight(backend: str) -> None:
    """Refuse to start a batch whose every case would fail the same way (simulator or model not installed)."""
    import shutil

    if backend == "timeloop" and shutil.which("timeloop-model") is None:
        raise ToolMissingError("timeloop-model is not on PATH (see `looplab doctor`); nothing was evaluated",
                           "--backend timeloop")
    if backend == "pytimeloop":
        from looplab.timeloop.pytimeloop_backend import available

        if not available():
            raise ToolMissingError("pytimeloop is not importable (see `looplab doctor`); nothing was evaluated",
                               "--backend pytimeloop")
    if backend == "analytical":
        try:
            from looplab.analytical import evaluate_files  # noqa: F401
        except ImportError as exc:
            raise LooplabError(f"the analytical model is not available in this build ({exc})",
                               "--backend analytical") from None


def drop_failed(out_path: Path) -> int:
    """Remove rows whose evaluation failed (error_kind in FAILURE_KINDS) from RESULTS, atomically; returns how
    many were dropped, so that a resumed batch evaluates those cases again."""
    from looplab.result import FAILURE_KINDS

    out_path = Path(out_path)
    if not out_path.exists():
        return 0
    done_ids(out_path)  # cut a torn last line first
    keep, dropped = [], 0
    for line in out_path.read_text().splitlines():
        if json.loads(line).get("error_kind") in FAILURE_KINDS:
            dropped += 1
        else:
            keep.append(line + "\n")
    if dropped:
        tmp = out_path.with_name(out_path.name + ".tmp")
        tmp.write_text("".join(keep))
        tmp.replace(out_path)
    return dropped


def evaluate_case(backend: str, options: dict[str, Any], case: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """One case -> one RESULTS row (runs in a worker process; the backend object is reused per process)."""
    from looplab.backends import get_backend

    key = (backend, tuple(sorted(options.items())))
    if key not in _WORKER_BACKENDS:
        _WORKER_BACKENDS[key] = get_backend(backend, **options)
    be = _WORKER_BACKENDS[key]
    opt = {k: Path(case[k]) if case.get(k) else None for k in ("ert", "art")}
    try:
        result = be.evaluate(Path(case["arch"]), Path(case["problem"]), Path(case["mapping"]), opt["ert"],
                             opt["art"], timeout_s=timeout_s)
    except LooplabError as exc:  # bad input file contents: recorded, the batch goes on
        result = EvalResult(valid=False, backend=backend, error_kind="parse", reason=str(exc))
    return _row(case, result)


def analytical_rows(cases: list[dict[str, Any]], jobs: int = 1) -> Iterable[list[dict[str, Any]]]:
    """RESULTS rows of the analytical backend, a group of cases (same arch, problem, ERT) at a time
    (:mod:`looplab.analytical.grouped`; ``jobs`` processes read the mapping files)."""
    from looplab.analytical.grouped import evaluate_cases

    for pairs in evaluate_cases(cases, jobs=jobs):
        yield [_row(case, result) for case, result in pairs]


def _row(case: dict[str, Any], result: EvalResult) -> dict[str, Any]:
    row = result.to_row(case["id"])
    if result.wall_s is not None:
        row["wall_s"] = round(result.wall_s, 6)
    return row


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _crash_row(backend: str, case: dict[str, Any], why: str) -> dict[str, Any]:
    return EvalResult(valid=None, backend=backend, error_kind="crash", reason=why).to_row(case["id"])


def warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_batch(cases_path: Path, out_path: Path, backend: str = "timeloop", jobs: int | None = None,
              timeout_s: float = 120,
              options: dict[str, Any] | None = None, progress: bool = True, retry_failed: bool = False,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> BatchSummary:
    """Evaluate every case of CASES not yet in RESULTS; rows are appended as they finish.

    ``retry_failed``: first drop RESULTS rows whose evaluation failed (timeout, crash, ...) so they run again.
    ``jobs``: worker processes (default 1; for the analytical backend one per core, reading the mapping files).
    """
    if jobs is None:
        jobs = _cores() if backend == "analytical" else 1
    options = dict(options or {})
    cases = read_cases(cases_path)
    if backend in ("timeloop", "pytimeloop", "analytical"):
        preflight(backend)
    if retry_failed:
        drop_failed(out_path)
    if not cases:
        warn(f"looplab: warning: {cases_path} holds no cases; nothing to evaluate")
    done = done_ids(out_path)
    todo = [c for c in cases if _id_key(c["id"]) not in done]
    if backend == "pytimeloop":  # one worker process per architecture: keep each architecture's cases together
        todo.sort(key=lambda c: (c["arch"], c.get("ert") or "", c.get("art") or ""))
    summary = BatchSummary(total=len(cases), skipped=len(cases) - len(todo))
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    from looplab.progress import Progress

    bar = Progress(total=len(todo), unit="eval", desc="evaluate", enabled=progress)
    with open(out_path, "a") as out:
        def emit(row: dict[str, Any]) -> None:
            out.write(json.dumps(row) + "\n")
            out.flush()
            summary.evaluated += 1
            if row.get("valid") is True:
                summary.valid += 1
            elif row.get("valid") is False:
                summary.invalid += 1
            else:
                summary.failed += 1
                kind = row.get("error_kind", "unknown")
                summary.failures[kind] = summary.failures.get(kind, 0) + 1
            if on_row:
                on_row(row)
            bar.postfix(valid=summary.valid, invalid=summary.invalid, failed=summary.failed)
            bar.update(1)

        if backend == "analytical":  # grouped: each file parsed once, one evaluate_batch per group
            for rows in analytical_rows(todo, jobs):
                for row in rows:
                    emit(row)
        elif jobs <= 1:  # every backend isolates native crashes in its own child processes: safe inline
            for case in todo:
                emit(evaluate_case(backend, options, case, timeout_s))
        else:
            broken = _run_pool(todo, backend, options, timeout_s, max(1, jobs), emit)
            for case in broken:  # one at a time, each in a fresh worker
                again = _run_pool([case], backend, options, timeout_s, 1, emit)
                if again:
                    emit(_crash_row(backend, case, "the worker process died while evaluating this case "
                                                   "(twice); see stderr for the native error"))
    bar.close()
    return summary


def _run_pool(cases: Iterable[dict[str, Any]], backend: str, options: dict[str, Any], timeout_s: float, jobs: int,
              emit: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Run cases in a process pool; return the cases whose worker pool broke before they finished."""
    broken: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures: dict[Future, dict[str, Any]] = {
            pool.submit(evaluate_case, backend, options, c, timeout_s): c for c in cases}
        for fut in as_completed(futures):
            try:
                emit(fut.result())
            except BrokenProcessPool:
                broken.append(futures[fut])
    return broken
