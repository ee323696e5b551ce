"""Many file cases through the analytical model at once: what ``looplab evaluate --batch --backend analytical`` runs.

Cases (``{"id", "arch", "problem", "mapping", "ert"}`` with file paths) are grouped by (architecture, problem,
ERT); each architecture, problem and ERT file is parsed once (libyaml), each mapping file once, and each group is
evaluated with one :func:`looplab.analytical.evaluate_batch` call. The results are the ones
:func:`looplab.analytical.evaluate_files` gives case by case. A file that does not parse makes a ``parse`` result
for the cases that use it; the other cases go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from looplab.analytical.api import evaluate_batch, read_problem
from looplab.archspec import parse_arch
from looplab.errors import LooplabError
from looplab.result import EvalResult
from mappers.mapping import Mapping, MappingBatch

#: fewer cases than this are read in this process (starting workers would cost more than it saves)
POOL_MIN_CASES = 512
LOOP_DIMS = ("R", "S", "P", "Q", "C", "K", "N")


class _Once:
    """``get(key)`` runs ``load(key)`` the first time only; an error is kept and raised again for that key."""

    def __init__(self, load: Callable[[Any], Any]):
        self.load = load
        self.values: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        if key not in self.values:
            try:
                self.values[key] = (True, self.load(key))
            except LooplabError as exc:
                self.values[key] = (False, exc)
        ok, value = self.values[key]
        if not ok:
            raise value
        return value


def group_cases(cases: Sequence[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    """Cases by (arch, problem, ert) path, in order of first appearance (case order kept inside a group)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for c in cases:
        groups.setdefault((c["arch"], c["problem"], c.get("ert")), []).append(c)
    return groups


def read_mappings(paths: Sequence[str], level_names: Sequence[str], layer: dict[str, int],
                  ) -> tuple[MappingBatch | None, list[int], dict[int, str], float]:
    """Mapping files of one group -> (batch of the good ones, their indices, {index: error text}, seconds).
    Plain data in and out, so it runs in a worker process as well."""
    t0 = time.perf_counter()
    good: list[Mapping] = []
    idx: list[int] = []
    errors: dict[int, str] = {}
    for i, p in enumerate(paths):
        try:
            m = Mapping.from_yaml(Path(p), level_names)
            m.check_layer(layer, str(p))
        except LooplabError as exc:
            errors[i] = str(exc)
            continue
        good.append(m)
        idx.append(i)
    batch = MappingBatch.from_mappings(good, level_names) if good else None
    return batch, idx, errors, time.perf_counter() - t0


def evaluate_cases(cases: Sequence[dict[str, Any]], build: str = "reference", jobs: int = 1,
                   ) -> Iterator[list[tuple[dict[str, Any], EvalResult]]]:
    """Yield, group by group, ``[(case, EvalResult), ...]`` in case order (``wall_s``: the group's mapping
    parsing and evaluation time shared evenly over its cases). ``jobs`` > 1 parses the mapping files in that many
    worker processes while this one evaluates."""
    from looplab.energy.ert import load_ert

    archs = _Once(lambda p: parse_arch(Path(p)))
    problems = _Once(lambda p: read_problem(Path(p)))
    erts = _Once(lambda p: load_ert(p))
    estimated = _Once(lambda p: _estimated_ert(archs.get(p)))
    ready: list[tuple[list[dict[str, Any]], Any, dict, Any]] = []
    for (arch_p, prob_p, ert_p), group in group_cases(cases).items():
        try:
            arch = archs.get(arch_p)
            dims = problems.get(prob_p)
            ert = erts.get(ert_p) if ert_p is not None else estimated.get(arch_p)
        except LooplabError as exc:
            yield [(c, _parse_failure(str(exc))) for c in group]
            continue
        ready.append((group, arch, dims, ert))
    args = [([c["mapping"] for c in g], a.storage_names, {k: d[k] for k in LOOP_DIMS}) for g, a, d, _ in ready]
    with _MappingReader(jobs, len(cases)) as run:
        for (group, arch, dims, ert), (batch, idx, errors, parse_s) in zip(ready, run(args), strict=True):
            t0 = time.perf_counter()
            results: list[EvalResult | None] = [None] * len(group)
            for i, text in errors.items():
                results[i] = _parse_failure(text)
            if batch is not None:
                try:
                    got = evaluate_batch(arch, ert, dims, batch, build=build).to_results()
                except LooplabError as exc:
                    got = [_parse_failure(str(exc)) for _ in idx]
                for i, r in zip(idx, got, strict=True):
                    results[i] = r
            share = (parse_s + time.perf_counter() - t0) / len(group)
            for r in results:
                r.wall_s = share
            yield list(zip(group, results, strict=True))


class _MappingReader:
    """``with _MappingReader(jobs, n) as run: run(args)`` -> read_mappings over ``args`` in order, in a process
    pool when ``jobs`` > 1 and there is enough work to pay for the workers' start."""

    def __init__(self, jobs: int, n_cases: int):
        self.jobs = jobs if n_cases >= POOL_MIN_CASES else 1
        self.pool: Any = None

    def __enter__(self) -> Callable[[list], Iterator]:
        if self.jobs <= 1:
            return lambda args: (read_mappings(*a) for a in args)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        self.pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx)
        return lambda args: self.pool.map(read_mappings, *zip(*args, strict=True)) if args else iter(())

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _parse_failure(text: str) -> EvalResult:
    return EvalResult(valid=False, backend="analytical", error_kind="parse", reason=text)


def _estimated_ert(arch: Any) -> Any:
    from looplab.energy.estimator import estimate_ert

    return estimate_ert(arch)
