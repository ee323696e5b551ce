"""What runs inside a worker (a pool process, a Dask worker, or the main process): one task, end to end.

A task samples its mappings (seeded), evaluates them (the analytical model on the whole batch at once; the
Timeloop backends per point, each in its own temporary directory, with the ERT/ART produced once per
architecture), builds the columns and writes the task's Parquet part atomically. Only a small report goes
back to the driver, so memory is bounded by the task size.
"""

from __future__ import annotations

import os
import resource
import tempfile
import threading
import time
import traceback
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from looplab.errors import LooplabError
from looplab.result import EvalResult
from looplab.sweep.spec import AccelRef, Task, Unit


@dataclass(frozen=True)
class RunContext:
    """Everything a worker needs besides the task (picklable)."""

    out: str
    backend: str
    energy: str  # accelergy | estimator (resolved from "auto" by the driver)
    timeout_s: float
    mapping_yaml: bool = False
    compression: str = "lz4"
    kernel: str = "numpy"  # analytical model path: numba | numpy (resolved by the driver)
    kernel_threads: int = 1  # numba threads per worker


@dataclass
class ArchBundle:
    arch_yaml: str
    arch_path: Path
    spec: Any  # ArchSpec
    ert: Any  # Ert | None
    ert_path: Path | None
    art_path: Path | None
    schema: Any  # pa.Schema


_BUNDLES: OrderedDict[tuple, ArchBundle] = OrderedDict()
_BACKENDS: dict[str, tuple[Any, str]] = {}
_LOCK = threading.Lock()


def _bundle(acc: AccelRef, ctx: RunContext) -> ArchBundle:
    import json

    from looplab.archspec import parse_arch
    from looplab.sweep.rows import schema_for
    from looplab.sweep.sources import arch_yaml_text

    key = (ctx.out, acc.family, json.dumps(acc.params, sort_keys=True), ctx.energy)
    with _LOCK:
        if key in _BUNDLES:
            _BUNDLES.move_to_end(key)
            return _BUNDLES[key]
    text = arch_yaml_text(acc)
    cache = Path(ctx.out) / "arch_cache" / acc.name
    arch_path = cache / "arch.yaml"
    if ctx.backend != "analytical" or ctx.energy == "accelergy":  # the simulators read the file
        cache.mkdir(parents=True, exist_ok=True)
        if not arch_path.is_file() or arch_path.read_text() != text:
            from looplab.sweep.store import atomic_write_bytes

            atomic_write_bytes(arch_path, text.encode())
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster than the pure-Python parser
    if acc.source is not None:  # an architecture file: any format parse_arch reads
        spec = parse_arch(Path(acc.source))
    else:
        spec = parse_arch(yaml.load(text, Loader=loader), source=f"{acc.name} (arch.yaml)")
    ert = ert_path = art_path = None
    if acc.ert is not None:  # the file's own ERT (e.g. the one Accelergy wrote for it)
        ert_path = Path(acc.ert)
        if ctx.backend == "analytical":
            from looplab.energy.ert import load_ert

            ert = load_ert(ert_path)
    elif ctx.energy == "accelergy":
        from looplab.timeloop.accelergy import ensure_ert

        ert_path, art_path = ensure_ert(arch_path)  # content-addressed cache shared by sweeps
        if ctx.backend == "analytical":
            from looplab.energy.ert import load_ert

            ert = load_ert(ert_path)
    elif ctx.backend == "analytical":  # looplab's estimator, once per architecture (not once per batch)
        from looplab.energy.estimator import estimate_ert

        ert = estimate_ert(spec)
    bundle = ArchBundle(text, arch_path, spec, ert, ert_path, art_path, schema_for(spec, list(acc.params), acc.family))
    with _LOCK:
        _BUNDLES[key] = bundle
        while len(_BUNDLES) > 8:
            _BUNDLES.popitem(last=False)
    return bundle


def backend_info(name: str) -> tuple[Any, str]:
    """(backend object or None for the analytical model, version string), cached per process."""
    if name not in _BACKENDS:
        if name == "analytical":
            import looplab

            _BACKENDS[name] = (None, f"looplab-analytical {getattr(looplab, '__version__', '')}".strip())
        else:
            from looplab.backends import get_backend

            be = get_backend(name)
            _BACKENDS[name] = (be, str(be.version()))
    return _BACKENDS[name]


def _evaluate_points(unit: Unit, bundle: ArchBundle, batch: Any, ctx: RunContext, backend: Any) -> list[EvalResult]:
    """Timeloop backends, point by point: the backend runs each evaluation in its own temporary directory
    (parallel runs never share one); the ERT/ART made once per architecture are passed in."""
    from looplab.sweep.rows import mapping_yaml_texts, spatial_levels
    from looplab.sweep.sources import problem_yaml_text

    texts = mapping_yaml_texts(batch, spatial_levels(bundle.spec))
    out: list[EvalResult] = []
    with tempfile.TemporaryDirectory(prefix="looplab-sweep-") as tdir:
        prob = Path(tdir) / "problem.yaml"
        prob.write_text(problem_yaml_text(unit.layer))
        for i, text in enumerate(texts):
            mp = Path(tdir) / f"mapping_{i:05d}.yaml"
            mp.write_text(text)
            try:
                r = backend.evaluate(bundle.arch_path, prob, mp, ert=bundle.ert_path, art=bundle.art_path,
                                     timeout_s=ctx.timeout_s)
            except LooplabError as exc:
                r = EvalResult(valid=None, backend=ctx.backend, error_kind="crash", reason=str(exc))
            out.append(r)
            mp.unlink()
    return out


def _numba_threads(n: int) -> None:
    """Numba's parallel loops use ``n`` threads in this worker (not every core: the workers share them)."""
    import numba

    n = max(1, min(n, numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


def failure_keys(valid: Any, failed_level: Any, error_kind: Any) -> Counter:
    """Counts of non-valid points by reason: ``invalid <level> (<kind>)`` or ``failed (<kind>)``."""
    import pyarrow as pa

    t = pa.table({"v": valid, "l": failed_level, "k": error_kind})
    t = t.filter(pa.compute.invert(pa.compute.fill_null(t["v"], False)))
    c: Counter = Counter()
    if t.num_rows == 0:
        return c
    g = t.group_by(["v", "l", "k"], use_threads=False).aggregate([([], "count_all")])
    for v, lv, k, n in zip(*(g[x].to_pylist() for x in ("v", "l", "k", "count_all")), strict=True):
        if v is False:
            c[f"invalid {lv}" + (f" ({k})" if k else "")] += n
        else:
            c[f"failed ({k or 'unknown'})"] += n
    return c


def execute_task(task: Task, ctx: RunContext) -> dict[str, Any]:
    """Run one task and write its part file. Never raises: errors come back in the report's ``error``."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    rep: dict[str, Any] = {"task_id": task.id, "pid": os.getpid()}
    try:
        from looplab.sweep.rows import build_table, concat_results, from_batch_result, from_results
        from looplab.sweep.store import DatasetStore
        from mappers.mapping import MappingBatch
        from mappers.sampler import sample_mappings

        backend, version = backend_info(ctx.backend)
        tm: Counter = Counter()
        batches, svalid, results, sizes = [], [], [], []
        for unit in task.units:
            ts = time.perf_counter()
            bundle = _bundle(unit.accel, ctx)
            tm["t_setup"] += time.perf_counter() - ts
            dims = dict(unit.layer.dims)
            ta = time.perf_counter()
            batch, sampler_valid = sample_mappings(bundle.spec, dims, unit.n_valid, unit.n_invalid, seed=unit.seed,
                                                   family=None if unit.accel.origin == "file" else unit.accel.family)
            tb = time.perf_counter()
            if ctx.backend == "analytical":
                from looplab.analytical import evaluate_batch

                if ctx.kernel == "numba":
                    _numba_threads(ctx.kernel_threads)
                results.append(evaluate_batch(bundle.spec, bundle.ert, dims, batch, use_kernel=ctx.kernel == "numba",
                                              stats=True))
                tc = time.perf_counter()
            else:
                points = _evaluate_points(unit, bundle, batch, ctx, backend)
                tc = time.perf_counter()
                results.append(from_results(points, bundle.spec))
            batches.append(batch)
            svalid.append(np.asarray(sampler_valid, bool))
            sizes.append(len(batch))
            tm.update(t_sample=tb - ta, t_eval=tc - tb, t_build=time.perf_counter() - tc)
        tc = time.perf_counter()
        if ctx.backend == "analytical":  # one set of result columns for the whole task
            from looplab.analytical import BatchResult

            res = from_batch_result(BatchResult.concat(results), bundle.spec)
        else:
            res = concat_results(results)
        table = build_table(task.id, task.units, sizes, bundle.spec, bundle.schema,
                            batches[0] if len(batches) == 1 else MappingBatch.concat(batches), np.concatenate(svalid),
                            res, ctx.backend, version, with_yaml=ctx.mapping_yaml)
        n_sampler_valid = int(sum(v.sum() for v in svalid))
        tm["t_build"] += time.perf_counter() - tc
        t4 = time.perf_counter()
        DatasetStore(ctx.out).write_part(task.family, task.id, table, ctx.compression)
        tm["t_write"] = time.perf_counter() - t4
        import pyarrow.compute as pc

        rep.update(rows=table.num_rows, valid=int(pc.sum(pc.fill_null(table["valid"], False).cast("int64")).as_py()
                                                  or 0), sampler_valid=n_sampler_valid,
                   reasons=dict(failure_keys(table["valid"], table["failed_level"], table["error_kind"])), **tm)
    except Exception as exc:  # noqa: BLE001 - reported to the driver, recorded as the task's failure
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        rep["error"] = f"{type(exc).__name__}: {exc}{where}"
    rep["wall_s"] = time.perf_counter() - t0
    rep["cpu_s"] = time.process_time() - c0
    rep["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rep


def worker_init(parent_pid: int) -> None:
    """Pool initializer: exit when the driver dies (SIGKILL leaves no one to tell the pool to stop)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="looplab-parent-watch").start()
