"""The sweep driver: plan, skip what is done, run the rest in batches (process pool, Dask, or in-process), report.

``run_sweep(spec)`` is what ``looplab sweep SPEC`` calls. The driver only holds task descriptors and small
per-task reports; rows are built and written by the workers, so memory does not grow with the sweep.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import looplab
from looplab.errors import LooplabError, ToolMissingError
from looplab.sweep.sources import resolve_accelerators, resolve_layers
from looplab.sweep.spec import SweepSpec, Task, plan_tasks
from looplab.sweep.store import DatasetStore, atomic_write_json
from looplab.sweep.worker import RunContext, execute_task, worker_init


def resolve_energy(spec: SweepSpec) -> str:
    """The ERT source actually used: ``auto`` -> Accelergy when it is installed, else looplab's estimator."""
    if spec.execution.energy != "auto":
        return spec.execution.energy
    if spec.backend != "analytical":
        return "accelergy"
    return "accelergy" if shutil.which("accelergy") else "estimator"


#: Below this many points ``kernel: auto`` takes the numpy path: numba's first compile on a machine (~30 s,
#: cached afterwards) would not pay off.
NUMBA_MIN_POINTS = 20_000


def resolve_kernel(spec: SweepSpec, n_points: int, manifest: dict | None) -> str:
    """numba | numpy for the analytical backend; fixed for a dataset (a resumed sweep keeps its first choice, so
    every row comes from the same code path)."""
    if spec.backend != "analytical":
        return "numpy"
    if manifest and manifest.get("kernel") in ("numba", "numpy"):
        choice = manifest["kernel"]
    elif spec.execution.kernel != "auto":
        choice = spec.execution.kernel
    else:
        choice = "numba" if n_points >= NUMBA_MIN_POINTS else "numpy"
    if choice == "numba":
        try:
            from looplab.analytical import kernel
        except ImportError:
            kernel = None
        if kernel is None or not getattr(kernel, "AVAILABLE", False):
            if spec.execution.kernel == "numba" or (manifest and manifest.get("kernel") == "numba"):
                raise LooplabError("this sweep uses the numba kernel of the analytical model, but numba is not "
                                   "installed here", "execution.kernel")
            choice = "numpy"
    return choice


def plan(spec: SweepSpec) -> list[Task]:
    return list(plan_tasks(spec, resolve_accelerators(spec), resolve_layers(spec)))


class _Serial:
    """Runs tasks in this process (``workers: 1``): simplest, and what the tests use to compare."""

    n_slots = 1

    class _Done:
        def __init__(self, rep: dict[str, Any]):
            self.rep = rep

    def submit(self, task: Task, ctx: RunContext) -> Any:
        return self._Done(execute_task(task, ctx))

    def wait(self, pending: set) -> tuple[set, set]:
        return set(pending), set()

    @staticmethod
    def result(fut: Any) -> dict[str, Any]:
        return fut.rep

    def close(self) -> None:
        pass


class _Pool:
    """A local process pool (spawned workers that exit when the driver dies)."""

    def __init__(self, n: int):
        self.n_slots = n
        self._new()

    def _new(self) -> None:
        self.ex = ProcessPoolExecutor(max_workers=self.n_slots, mp_context=mp.get_context("spawn"),
                                      initializer=worker_init, initargs=(os.getpid(),))

    def submit(self, task: Task, ctx: RunContext) -> Any:
        return self.ex.submit(execute_task, task, ctx)

    def wait(self, pending: set) -> tuple[set, set]:
        return wait(pending, return_when=FIRST_COMPLETED)

    @staticmethod
    def result(fut: Any) -> dict[str, Any]:
        return fut.result()

    def restart(self) -> None:
        self.ex.shutdown(wait=False, cancel_futures=True)
        self._new()

    def close(self) -> None:
        self.ex.shutdown(wait=True, cancel_futures=True)


def _worker_count(spec: SweepSpec, workers: int | None) -> int:
    n = workers if workers is not None else spec.execution.workers
    if n <= 0:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, n)


def run_sweep(spec: SweepSpec, resume: bool = False, scheduler: Any = None, workers: int | None = None,
              progress: bool = True, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) a sweep; returns the summary (also written to ``<out>/summary.json``).

    ``scheduler``: None (local process pool, or in-process when one worker), a Dask address
    ``tcp://HOST:8786``, ``local`` / ``local:N`` (a Dask LocalCluster), a dask-jobqueue spec (dict or YAML
    path), or a ``distributed.Client``. ``spec.cluster`` is used when no scheduler is given.
    """
    echo = echo or (lambda s: print(s, file=sys.stderr, flush=True))
    t_start = time.perf_counter()
    if scheduler is None and spec.cluster is not None:
        scheduler = spec.cluster
    check_spec(spec, local=scheduler is None)
    energy = resolve_energy(spec)
    tasks = plan(spec)
    store = DatasetStore(spec.out)
    old_manifest = store.manifest() if resume else None
    n_points = sum(t.n_points for t in tasks)
    kernel = resolve_kernel(spec, n_points, old_manifest)
    n_acc = len({u.accel_index for t in tasks for u in t.units})
    n_lay = len({u.layer_index for t in tasks for u in t.units})
    store.init({"name": spec.name, "plan_hash": spec.plan_hash, "spec": spec.to_dict(), "energy": energy,
                "kernel": kernel, "looplab_version": getattr(looplab, "__version__", None), "n_tasks": len(tasks),
                "n_points": sum(t.n_points for t in tasks), "accelerators": n_acc, "layers": n_lay,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, resume)
    done = store.done_ids()
    max_att = spec.execution.max_attempts
    gave_up = {f["task_id"] for f in store.failures() if f.get("attempts", 0) >= max_att and f["task_id"] not in done}
    todo = [t for t in tasks if t.id not in done and t.id not in gave_up]
    cores = _worker_count(spec, 0)
    if scheduler is not None:
        from looplab.sweep.dask_runner import DaskExecutor

        ex: Any = DaskExecutor(scheduler)
        where = ex.describe()
        threads = 1
    else:
        n = min(_worker_count(spec, workers), max(1, len(todo)))
        ex = _Serial() if n == 1 else _Pool(n)
        where = "in-process" if n == 1 else f"{n} local worker processes"
        threads = max(1, cores // n)
    ctx = RunContext(str(spec.out), spec.backend, energy, spec.execution.timeout_s, spec.store.with_yaml(spec.backend),
                     spec.store.compression, kernel, threads)
    energy_note = {"estimator": "looplab energy estimator (Accelergy not found)",
                   "accelergy": "Accelergy ERT/ART, once per architecture"}[energy]
    kernel_note = "" if spec.backend != "analytical" else (
        "; model: numba kernel (compiles once per worker)" if kernel == "numba" else "; model: numpy path")
    echo(f"sweep {spec.name}: {n_acc} accelerators x {n_lay} layers, {len(tasks)} tasks, "
         f"{n_points} points; backend {spec.backend}; energy: {energy_note}{kernel_note}")
    echo(f"output {spec.out}: {len(done)} tasks already done, {len(gave_up)} given up after {max_att} attempts, "
         f"{len(todo)} to run on {where}")

    from looplab.progress import Progress

    bar = Progress(total=sum(t.n_points for t in todo), unit="pt", desc="sweep", enabled=progress, echo=echo)
    agg: Counter = Counter()
    reasons: Counter = Counter()
    task_fail: Counter = Counter()
    timing: Counter = Counter()
    worker_rss = 0
    n_run = n_failed = 0
    queue = list(reversed(todo))  # pop() from the end = plan order
    pending: dict[Any, Task] = {}
    try:
        while queue or pending:
            while queue and len(pending) < 2 * ex.n_slots:
                task = queue.pop()
                pending[ex.submit(task, ctx)] = task
            done_f, _ = ex.wait(set(pending))
            for fut in done_f:
                task = pending.pop(fut)
                try:
                    rep = ex.result(fut)
                except BrokenProcessPool:
                    rep = {"task_id": task.id, "error": "worker process died (killed or crashed)"}
                except Exception as exc:  # noqa: BLE001 - e.g. a Dask worker lost
                    rep = {"task_id": task.id, "error": f"{type(exc).__name__}: {exc}"}
                worker_rss = max(worker_rss, int(rep.get("maxrss_kib", 0)))
                if "error" in rep:
                    rec = store.record_failure(task.id, rep["error"], {"archs": task.accel_names,
                                                                       "layers": task.layer_names})
                    if rec["attempts"] < max_att:
                        queue.append(task)
                    else:
                        n_failed += 1
                        task_fail[rep["error"]] += 1
                        bar.add_total(-task.n_points)
                    if isinstance(ex, _Pool) and "worker process died" in rep["error"]:
                        for f2, t2 in list(pending.items()):
                            queue.append(t2)
                            pending.pop(f2)
                        ex.restart()
                        break
                    continue
                if store.failure(task.id) is not None:
                    store.clear_failure(task.id)
                n_run += 1
                agg.update(rows=rep["rows"], valid=rep["valid"], sampler_valid=rep["sampler_valid"])
                reasons.update(rep["reasons"])
                for k in ("t_setup", "t_sample", "t_eval", "t_build", "t_write", "wall_s", "cpu_s"):
                    timing[k] += rep.get(k, 0.0)
                store.append_log({"task_id": task.id, "archs": task.accel_names, "layers": task.layer_names,
                                  "rows": rep["rows"], "valid": rep["valid"], "reasons": rep["reasons"],
                                  "wall_s": round(rep["wall_s"], 4), "pid": rep.get("pid")})
                bar.postfix(valid=f"{agg['valid'] / max(1, agg['rows']):.1%}")
                bar.update(rep["rows"])
    finally:
        bar.close()
        ex.close()
    # A worker orphaned by a killed earlier run exits within half a second, possibly mid-write and after the
    # clean-up at start: remove temp files of writers that are gone now, so none outlives the finished sweep.
    store.cleanup_tmp()
    wall = time.perf_counter() - t_start
    ru_self = resource.getrusage(resource.RUSAGE_SELF)
    ru_child = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = {
        "name": spec.name, "out": str(spec.out), "backend": spec.backend, "energy": energy, "kernel": kernel,
        "executor": where,
        "tasks_total": len(tasks), "tasks_done_before": len(done), "tasks_run": n_run, "tasks_failed": n_failed,
        "tasks_given_up_before": len(gave_up), "rows_run": agg["rows"], "valid_run": agg["valid"],
        "valid_share_run": agg["valid"] / agg["rows"] if agg["rows"] else None,
        "sampler_valid_run": agg["sampler_valid"], "rows_in_dataset": store.n_rows(),
        "wall_s": wall, "points_per_s": agg["rows"] / wall if wall > 0 else None,
        "point_outcomes": dict(reasons.most_common()), "task_failures": dict(task_fail.most_common()),
        "worker_time_s": {k: round(v, 4) for k, v in timing.items()},
        "cpu_s_driver": ru_self.ru_utime + ru_self.ru_stime, "cpu_s_children": ru_child.ru_utime + ru_child.ru_stime,
        "peak_rss_driver_mib": ru_self.ru_maxrss / 1024, "peak_rss_worker_mib": worker_rss / 1024,
    }
    atomic_write_json(store.root / "summary.json", summary)
    for line in format_summary(summary):
        echo(line)
    if n_failed:
        echo(f"{n_failed} task(s) failed {max_att} times and were given up; reasons in {store.failures_dir}")
    return summary


def format_summary(s: dict[str, Any]) -> list[str]:
    vs = s["valid_share_run"]
    lines = [f"done: {s['rows_run']} rows in {s['wall_s']:.1f} s ({(s['points_per_s'] or 0):.0f} points/s), "
             f"valid {'-' if vs is None else f'{vs:.1%}'}; {s['tasks_run']} tasks run, "
             f"{s['tasks_done_before']} were already done, {s['tasks_failed']} failed",
             f"dataset {s['out']}: {s['rows_in_dataset']} rows"]
    if s["point_outcomes"]:
        lines.append("not valid, by reason: " + ", ".join(f"{k}: {v}" for k, v in s["point_outcomes"].items()))
    if s["task_failures"]:
        lines.append("failed tasks, by reason: " + ", ".join(f"{k}: {v}" for k, v in s["task_failures"].items()))
    return lines


def check_spec(spec: SweepSpec, local: bool = True) -> None:
    """Fail early (in the driver) on what would make every task fail."""
    if spec.backend == "timeloop" and local and shutil.which("timeloop-model") is None:
        raise ToolMissingError("timeloop-model is not on PATH (see `looplab doctor`); to sweep with looplab's "
                               "analytical model instead: --backend analytical --out <another folder>",
                               "backend: timeloop")
    if local and resolve_energy(spec) == "accelergy" and shutil.which("accelergy") is None:
        raise ToolMissingError("accelergy is not on PATH (see `looplab doctor`); use energy: estimator for the "
                               "analytical backend", "execution.energy")
    if spec.backend == "analytical":
        try:
            from looplab.analytical import evaluate_batch  # noqa: F401
        except ImportError as exc:
            raise LooplabError(f"the analytical model is not available in this build ({exc})",
                               "backend: analytical") from None
    if spec.backend != "analytical" and local:
        from looplab.sweep.worker import backend_info

        try:
            backend_info(spec.backend)
        except LooplabError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise LooplabError(f"backend {spec.backend!r} unavailable: {exc}", "backend") from None
