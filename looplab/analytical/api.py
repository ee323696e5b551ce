"""Public entry points: :func:`evaluate_batch` (arrays), :func:`evaluate` (one mapping), :func:`evaluate_files`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from looplab.analytical.builds import check_build, extra_write_words
from looplab.analytical.model import (
    _align,
    analyse,
    cluster_scale,
    costs,
    layer_dims,
    leakage,
    level_costs,
    utilized_instances,
)
from looplab.analytical.nest import projection
from looplab.archspec import TENSORS, ArchSpec, parse_arch
from looplab.errors import LooplabError
from looplab.result import EvalResult, LevelStats, TensorStats
from mappers.mapping import Mapping, MappingBatch
from mappers.validity import Validity, check_batch, kernel_available
from mappers.validity import plan as vplan


@dataclass
class BatchResult:
    """Per-mapping results; invalid rows have cycles -1 and NaN energy/utilization.

    ``reads``/``fills``/``updates`` [B, L, 3] (storage levels innermost first; Weights, Inputs, Outputs) are the
    per-instance access counts of stats.txt, NaN where a level bypasses the tensor or the row is invalid; present
    when ``evaluate_batch(..., stats=True)``. ``failed_level``/``kind``/``reason`` are built on first access.
    """

    level_names: tuple[str, ...]  # "MACC"-style compute level first, then storage innermost first
    validity: Validity
    cycles: np.ndarray  # int64
    energy_pJ: np.ndarray
    utilization: np.ndarray
    energy_by_level: np.ndarray  # [B, 1 + L]
    reads: np.ndarray | None = None
    fills: np.ndarray | None = None
    updates: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.cycles.shape[0])

    @classmethod
    def concat(cls, parts: list[BatchResult]) -> BatchResult:
        """Rows of ``parts`` (same level names) one after the other."""
        if len({p.level_names for p in parts}) != 1:
            raise LooplabError("cannot concatenate results of architectures with different levels")

        def cat(name: str) -> np.ndarray | None:
            arrs = [getattr(p, name) for p in parts]
            return None if any(a is None for a in arrs) else np.concatenate(arrs)

        return cls(parts[0].level_names, Validity.concat([p.validity for p in parts]), cat("cycles"),
                   cat("energy_pJ"), cat("utilization"), cat("energy_by_level"), cat("reads"), cat("fills"),
                   cat("updates"))

    @property
    def valid(self) -> np.ndarray:
        return self.validity.valid

    @property
    def failed_level(self) -> np.ndarray:
        return self.validity.failed_level

    @property
    def kind(self) -> np.ndarray:
        return self.validity.kind

    @property
    def reason(self) -> np.ndarray:
        return self.validity.reason

    @property
    def edp(self) -> np.ndarray:
        """Energy-delay product (pJ x cycles) per row; NaN where invalid."""
        return np.where(self.valid, self.energy_pJ * self.cycles, np.nan)

    def metric(self, name: str) -> np.ndarray:
        """``edp``, ``energy`` (pJ) or ``delay`` (= ``cycles``) per row, NaN where invalid."""
        if name == "edp":
            return self.edp
        if name == "energy":
            return np.where(self.valid, self.energy_pJ, np.nan)
        if name in ("delay", "cycles"):
            return np.where(self.valid, self.cycles.astype(float), np.nan)
        raise LooplabError(f"unknown metric {name!r}; choose edp, energy or delay", "metric")

    def best(self, metric: str = "edp", k: int = 1) -> np.ndarray:
        """Row indices of the ``k`` valid rows with the lowest ``metric`` (``edp``, ``energy`` or ``delay``),
        best first; fewer when fewer rows are valid (ties keep row order). Take the mapping of row ``i`` with
        ``batch.mapping(i)``."""
        values = self.metric(metric)
        rows = np.flatnonzero(~np.isnan(values))
        return rows[np.argsort(values[rows], kind="stable")[:max(0, k)]]

    def to_results(self) -> list[EvalResult]:
        out = []
        for i in range(len(self)):
            if self.valid[i]:
                out.append(EvalResult(True, "analytical", cycles=int(self.cycles[i]),
                                      energy_pJ=float(self.energy_pJ[i]), utilization=float(self.utilization[i]),
                                      energy_by_level=dict(zip(self.level_names,
                                                               map(float, self.energy_by_level[i]), strict=True))))
            else:
                out.append(EvalResult(False, "analytical", failed_level=self.failed_level[i], reason=self.reason[i],
                                      error_kind=self.kind[i]))
        return out


def _kernel_inputs(arch: ArchSpec, dims: dict) -> tuple:
    sizes, conv = layer_dims(dims)
    proj = projection(conv)
    single = np.array([bool(((proj[pv] != 0).sum(axis=1) <= 1).all()) for pv in range(3)])
    mixed = np.zeros((3, 7), bool)
    for pv in range(3):
        mx = (proj[pv] != 0).sum(axis=1) > 1
        mixed[pv] = (proj[pv][mx] != 0).any(axis=0)
    return proj, single, mixed, float(np.prod(sizes))


def _sparse_projection(proj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (data space, axis) the (at most two) dims and coefficients of the projection (-1: none)."""
    pdim = np.full((3, 4, 2), -1, np.int64)
    pcoef = np.zeros((3, 4, 2), np.int64)
    for pv in range(3):
        for a in range(4):
            nz = np.nonzero(proj[pv, a])[0]
            pdim[pv, a, :len(nz)] = nz
            pcoef[pv, a, :len(nz)] = proj[pv, a, nz]
    return pdim, pcoef


def evaluate_batch(arch: ArchSpec, ert: Any, dims: dict, batch: MappingBatch, chunk: int = 65536,
                   use_kernel: bool | None = None, stats: bool = False, build: str = "reference") -> BatchResult:
    """Evaluate ``batch`` (mappings of one layer on ``arch``) in chunks of at most ``chunk`` rows.

    ``use_kernel`` (default: when numba is installed) runs the compiled kernel, which checks validity and
    evaluates each row in one pass; the numpy path gives the same numbers. ``stats`` adds per-level per-tensor
    reads/fills/updates to the result. ``build`` picks the Timeloop build to reproduce
    (:mod:`looplab.analytical.builds`; only ``reference`` runs in the kernel, the others take the numpy path).
    """
    layer_dims(dims)
    check_build(build)
    lc = level_costs(arch, ert)
    batch = _align(arch, batch)
    if use_kernel is None:
        use_kernel = kernel_available() and build == "reference"
    if use_kernel and not kernel_available():
        raise LooplabError("use_kernel=True but numba is not installed")
    if use_kernel and build != "reference":
        raise LooplabError(f"the compiled kernel reproduces the reference build only, not {build!r}", "use_kernel")
    B, L = len(batch), len(arch.storage)
    names = (arch.compute.name, *arch.storage_names)
    cycles = np.full(B, -1, np.int64)
    energy = np.full(B, np.nan)
    util = np.full(B, np.nan)
    by_level = np.full((B, 1 + L), np.nan)
    acc = tuple(np.full((B, L, 3), np.nan) for _ in range(3)) if stats else None
    step = max(1, chunk)
    if use_kernel:
        pl = vplan(arch, dims)
        code, value, fallback = _run_kernel(arch, dims, pl, batch, lc, step, stats, cycles, energy, util, by_level,
                                            acc)
        rows_numpy = np.flatnonzero(fallback)
        val = Validity.from_codes(pl, code, value, batch.temporal, batch.spatial_x, batch.spatial_y)
    else:
        val = check_batch(arch, dims, batch)
        rows_numpy = np.flatnonzero(val.valid)
    for s in range(0, len(rows_numpy), step):
        rows = rows_numpy[s:s + step]
        st = analyse(arch, dims, batch[rows])
        co = costs(st, lc, extra_write_words(build, st))
        cycles[rows] = co.cycles
        energy[rows] = co.energy
        util[rows] = co.utilization
        by_level[rows, 0] = co.energy_mac
        by_level[rows, 1:] = co.energy_tensor.sum(axis=2)
        if acc is not None:
            kept = st.utilized_capacity > 0
            for out, x in zip(acc, (st.reads, st.fills, st.updates), strict=True):
                out[rows] = np.where(kept, x, np.nan)
    if lc.e_leak is not None or lc.clusters is not None:
        ok = np.flatnonzero(val.valid)
        used = utilized_instances(batch.spatial_x[ok], batch.spatial_y[ok])
        if lc.clusters is not None:
            delta = by_level[ok, 1:] * (cluster_scale(lc, used) - 1.0)
            energy[ok] += delta.sum(axis=1)
            by_level[ok, 1:] += delta
        if lc.e_leak is not None:
            leak = leakage(lc, used, cycles[ok])
            energy[ok] += leak.sum(axis=1)
            by_level[ok, 1:] += leak
    reads, fills, updates = acc if acc is not None else (None, None, None)
    return BatchResult(names, val, cycles, energy, util, by_level, reads, fills, updates)


def _run_kernel(arch: ArchSpec, dims: dict, pl: Any, batch: MappingBatch, lc: Any, step: int, stats: bool,
                cycles: np.ndarray, energy: np.ndarray, util: np.ndarray, by_level: np.ndarray,
                acc: tuple | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The compiled kernel over ``batch`` in slices of ``step`` rows (results written into the given arrays)."""
    from looplab.analytical import kernel
    from looplab.numba_setup import announce_compile

    B, L = len(batch), len(arch.storage)
    proj, single, mixed, computes = _kernel_inputs(arch, dims)
    pdim, pcoef = _sparse_projection(proj)
    relevant = (proj != 0).any(axis=1)
    mesh_x = np.array([max(1, lv.fanout_x) for lv in arch.storage], np.int64)
    mesh_y = np.array([max(1, lv.fanout_y) for lv in arch.storage], np.int64)
    sperm = batch.sperm if batch.sperm is not None else np.arange(7, dtype=np.int8)[None, None, :].repeat(L, 1)
    code = np.empty(B, np.int32)
    value = np.empty(B, np.int64)
    fallback = np.zeros(B, bool)
    stat_out = acc if acc is not None else tuple(np.zeros((1, L, 3)) for _ in range(3))
    for s in range(0, B, step):
        sl = slice(s, min(B, s + step))
        sp = sperm if sperm.shape[0] == 1 else sperm[sl]
        nchunk = kernel.chunks(sl.stop - sl.start)
        run = kernel.evaluate_rows if nchunk > 1 else kernel.evaluate_rows_serial
        announce_compile(run, "the analytical model's kernel" + (" (parallel)" if nchunk > 1 else ""))
        with kernel.KERNEL_LOCK:
            run(
                batch.temporal[sl], batch.spatial_x[sl], batch.spatial_y[sl], sp, batch.perm[sl], batch.keep[sl],
                proj, pdim, pcoef, relevant, single, mixed, mesh_x, mesh_y, lc.block, lc.e_read, lc.e_write,
                lc.e_update, lc.read_bw, lc.write_bw, lc.shared_bw, lc.e_mac, float(lc.mac_instances), computes,
                pl.size, pl.pdim, pl.pcoef, pl.arith, pl.cap, pl.floor, pl.inst, pl.mx, pl.my, pl.code, stats,
                nchunk, code[sl], value[sl], energy[sl], cycles[sl], util[sl], by_level[sl], fallback[sl],
                *(x[sl] if acc is not None else x for x in stat_out))
    return code, value, fallback


def evaluate(arch: ArchSpec, ert: Any, dims: dict, mapping: Mapping) -> EvalResult:
    """One mapping, with per-level per-tensor statistics in ``EvalResult.levels``."""
    batch = MappingBatch.from_mappings([mapping], arch.storage_names)
    res = evaluate_batch(arch, ert, dims, batch, use_kernel=False).to_results()[0]
    if not res.valid:
        return res
    st = analyse(arch, dims, batch)
    lc = level_costs(arch, ert)
    co = costs(st, lc)
    # what evaluate_batch adds on top of the access energies: cluster (network) scaling and leakage
    used = utilized_instances(batch.spatial_x, batch.spatial_y)
    e_tensor = co.energy_tensor[0]
    if lc.clusters is not None:
        e_tensor = e_tensor * cluster_scale(lc, used)[0][:, None]
    leak = float(leakage(lc, used, co.cycles)[0].sum()) if lc.e_leak is not None else 0.0
    res.computes = st.computes
    res.levels[arch.compute.name] = LevelStats(cycles=float(st.compute_cycles[0]), energy_pJ=float(co.energy_mac[0]))
    for li, lv in enumerate(arch.storage):
        tensors = {}
        for ti, tn in enumerate(TENSORS):
            if st.utilized_capacity[0, li, ti] == 0:
                continue
            tensors[tn] = TensorStats(reads=float(st.reads[0, li, ti]), fills=float(st.fills[0, li, ti]),
                                      updates=float(st.updates[0, li, ti]),
                                      utilized_capacity=float(st.utilized_capacity[0, li, ti]),
                                      utilized_instances=float(st.utilized_instances[0, li]),
                                      energy_pJ=float(e_tensor[li, ti]))
        e_level = res.energy_by_level.get(lv.name, e_tensor[li].sum())
        res.levels[lv.name] = LevelStats(cycles=float(co.level_cycles[0, li]), energy_pJ=float(e_level),
                                         tensors=tensors)
    res.energy_by_action = energy_by_action(float(co.energy_mac[0]), e_tensor, st.reads[0], st.fills[0],
                                            st.updates[0], leak)
    res.extra = {"model": "looplab analytical", "timeloop_build": "reference",
                 "energy_pJ_levels_sum": float(sum(res.energy_by_level.values())),
                 "level_cycles": {lv.name: int(co.level_cycles[0, li]) for li, lv in enumerate(arch.storage)},
                 "compute_cycles": int(st.compute_cycles[0])}
    return res


def energy_by_action(e_mac: float, energy_tensor: np.ndarray, reads: np.ndarray, fills: np.ndarray,
                     updates: np.ndarray, leak: float = 0.0) -> dict[str, float]:
    """Energy (pJ) per action kind, with the keys and the rule of timeloop-model's stats
    (:func:`looplab.timeloop.parse_stats.energy_by_action`): each data space's access energy split over its reads,
    fills and updates in proportion to their counts; ``leak`` (pJ, all levels) as leakage; temporal reduction and
    address generation are not charged by the modelled ERTs (0). The values sum to the mapping's energy."""
    out = dict.fromkeys(("compute", "read", "fill", "update", "temporal_reduction", "address_generation",
                         "leakage"), 0.0)
    out["compute"] = float(e_mac)
    n = reads + fills + updates
    with np.errstate(divide="ignore", invalid="ignore"):
        for action, counts in (("read", reads), ("fill", fills), ("update", updates)):
            out[action] = float(np.where(n > 0, energy_tensor * counts / n, 0.0).sum())
    out["leakage"] = float(leak)
    return out


def read_problem(source: str | Path | dict) -> dict[str, int]:
    """Layer dims (R..N, strides, dilations) from a Timeloop problem YAML (any shape looplab maps by role)."""
    return dict(read_problem_spec_file(source).dims)


def read_problem_spec_file(source: str | Path | dict) -> Any:
    """The :class:`looplab.interop.problem.ProblemSpec` of a problem file (dims and the file's own names)."""
    from looplab.interop.problem import read_problem_spec
    from looplab.yamlio import load_source

    data, where = load_source(source, "problem")
    spec = read_problem_spec(data, where)
    from looplab.workloads import Layer

    Layer.from_dims({k: v for k, v in spec.dims.items() if k != "depthwise"},
                    where=f"{where}: problem.instance")  # validates every value
    return spec


def evaluate_files(arch_yaml: str | Path, problem_yaml: str | Path, mapping_yaml: str | Path,
                   ert_yaml: str | Path | None = None) -> EvalResult:
    """timeloop-model's inputs -> EvalResult (backend ``analytical``)."""
    from looplab.energy.ert import load_ert

    arch = parse_arch(Path(arch_yaml))
    spec = read_problem_spec_file(problem_yaml)
    dims = dict(spec.dims)
    mapping = Mapping.from_yaml(Path(mapping_yaml), arch.storage_names, dim_names=spec.dim_names,
                                tensor_names=spec.tensor_names)
    mapping.check_layer({k: dims[k] for k in ("R", "S", "P", "Q", "C", "K", "N")}, str(mapping_yaml))
    ert = load_ert(ert_yaml) if ert_yaml is not None else None
    return evaluate(arch, ert, dims, mapping)
