"""Batched (numpy) evaluation of a mapping batch: per-level, per-tensor Timeloop statistics, energy, cycles.

:func:`analyse` returns the access counts exactly as Timeloop's stats.txt prints them (per instance);
:func:`evaluate_arrays` adds energy (ERT x actions, per-vector accesses) and cycles (bandwidth throttling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from looplab.analytical.links import child_offsets_batch, link_dp, link_tables_batch, translations
from looplab.analytical.nest import delta_sum_fast, delta_sum_stationary, distinct_offsets, extents, projection
from looplab.archspec import DIMS, ArchSpec
from looplab.errors import LooplabError
from mappers.mapping import MappingBatch

CONV_KEYS = ("Wstride", "Hstride", "Wdilation", "Hdilation", "depthwise")


def layer_dims(dims: dict) -> tuple[np.ndarray, dict[str, int]]:
    """(sizes of R..N as int64[7], stride/dilation dict) from a layer dims mapping."""
    try:
        sizes = np.array([int(dims[d]) for d in DIMS], np.int64)
    except KeyError as exc:
        raise LooplabError(f"layer dims lack {exc.args[0]!r} (need {''.join(DIMS)})", "layer") from None
    conv = {k: int(dims.get(k, 0 if k == "depthwise" else 1)) for k in CONV_KEYS}
    return sizes, conv


@dataclass
class NestStats:
    """Per-instance counts, arrays [B, L, 3] (levels innermost first; Weights, Inputs, Outputs)."""

    reads: np.ndarray
    fills: np.ndarray
    updates: np.ndarray
    temporal_reductions: np.ndarray
    utilized_capacity: np.ndarray  # tile size kept (0 where bypassed)
    partition_size: np.ndarray
    utilized_instances: np.ndarray  # [B, L]
    compute_cycles: np.ndarray  # [B] temporal iterations
    computes: int
    mac_instances_used: np.ndarray  # [B]


def _align(arch: ArchSpec, batch: MappingBatch) -> MappingBatch:
    return batch.reordered(arch.storage_names)


def _links(arch, batch, lvl, pv, proj_t, ext, below, sp, fan, u, ldim, ln, lstride, Dd, Ccont, Wacc, Lk) -> None:
    """Apply Timeloop's link transfers at level ``lvl``'s fan-out for data space ``pv`` (in place)."""
    mixed = (proj_t != 0).sum(axis=1) > 1  # axes fed by two dims
    mixed_dims = (proj_t[mixed] != 0).any(axis=0)  # [7]
    cand = np.nonzero((fan[:, lvl] > 1) & (sp[:, lvl][:, mixed_dims] > 1).any(axis=1))[0]
    if len(cand) == 0:
        return
    lv = arch.storage[lvl]
    tau = translations(ldim[cand], ln[cand], lstride[cand], proj_t)
    # a link needs a move equal to an offset difference between two children: within the children's span
    span = (np.abs(proj_t)[None, :, :] * (below[cand, lvl] * (sp[cand, lvl] - 1))[:, None, :]).sum(axis=2)
    possible = ((np.abs(tau) <= span[:, None, :]).all(axis=2) & (tau != 0).any(axis=2) & (ln[cand] > 1))
    keep_rows = possible.any(axis=1)
    cand, tau, possible = cand[keep_rows], tau[keep_rows], possible[keep_rows]
    if len(cand) == 0:
        return
    sperm = batch.sperm if batch.sperm is not None else np.tile(np.arange(7), (len(batch), len(arch.storage), 1))
    fx, fy = max(1, lv.fanout_x), max(1, lv.fanout_y)
    offs = child_offsets_batch(batch.spatial_x[cand, lvl], batch.spatial_y[cand, lvl], sperm[cand, lvl],
                               below[cand, lvl], proj_t, int(fan[cand, lvl].max()))
    n_linked, u_link, _ = link_tables_batch(tau, possible, offs, fan[cand, lvl], fx, fy)
    some = n_linked.any(axis=1)
    if not some.any():
        return
    cand, tau, n_linked, u_link = cand[some], tau[some], n_linked[some], u_link[some]
    d, acc, wacc, lk = link_dp(ext[cand, lvl - 1, pv], ln[cand], tau, n_linked, u_link, u[cand], fan[cand, lvl])
    Dd[cand, lvl, pv] = d
    Ccont[cand, lvl, pv] = acc
    Wacc[cand, lvl, pv] = wacc
    Lk[cand, lvl, pv] = lk


def analyse(arch: ArchSpec, dims: dict, batch: MappingBatch) -> NestStats:
    """Timeloop's per-level statistics for every mapping of ``batch`` (assumed factor-complete)."""
    batch = _align(arch, batch)
    sizes, conv = layer_dims(dims)
    proj = projection(conv)
    t = batch.temporal.astype(np.int64)
    sp = (batch.spatial_x * batch.spatial_y).astype(np.int64)
    B, L, _ = t.shape
    keep = batch.keep.astype(bool)

    cum = np.cumprod(t * sp, axis=1)  # [B, L, 7] tile boxes
    below = np.concatenate([np.ones((B, 1, 7), np.int64), cum[:, :-1]], axis=1)  # box under each level
    ext = extents(cum, proj)  # [B, L, 3, 4]
    size = ext.prod(axis=3)  # [B, L, 3]
    fan = sp.prod(axis=2)  # [B, L] fan-out used at each level's block
    has_sp = fan > 1
    master_size = extents(below * sp, proj).prod(axis=3)  # [B, L, 3] union of children tiles
    # replication: instances of level l used = product of fan-outs of the blocks above
    rep = np.concatenate([np.cumprod(fan[:, ::-1], axis=1)[:, ::-1][:, 1:], np.ones((B, 1), np.int64)], axis=1)
    T = t.prod(axis=(1, 2))  # temporal iterations (compute cycles)

    # loops (temporal only), level by level, permutation order innermost first
    perm = batch.perm.astype(np.int64)
    ldim = perm.reshape(B, L * 7)
    ln = np.take_along_axis(t, perm, axis=2).reshape(B, L * 7)
    lstride = np.take_along_axis(below * sp, perm, axis=2).reshape(B, L * 7)

    Ccont = np.zeros((B, L, 3))
    Wacc = np.zeros((B, L, 3))
    Dd = np.zeros((B, L, 3))
    Lk = np.zeros((B, L, 3))  # link transfers at each level's fan-out
    # innermost level: one access per operation point and data space; with a fan-out to the arithmetic units,
    # children fetching the same point share it (FillSpatialDeltas at loop level 0)
    for pv in range(3):
        Ccont[:, 0, pv] = T * distinct_offsets(sp[:, 0], below[:, 0], proj[pv])
        Wacc[:, 0, pv] = T * fan[:, 0]
    single_dim = [bool(((proj[pv] != 0).sum(axis=1) <= 1).all()) for pv in range(3)]
    for lvl in range(1, L):
        cols = slice(lvl * 7, L * 7)
        for pv in range(3):
            if single_dim[pv]:
                d = delta_sum_stationary(ext[:, lvl - 1, pv], ldim[:, cols], ln[:, cols], proj[pv])
            else:
                d = delta_sum_fast(ext[:, lvl - 1, pv], ldim[:, cols], ln[:, cols], lstride[:, cols], proj[pv])
            u = distinct_offsets(sp[:, lvl], below[:, lvl], proj[pv])
            Dd[:, lvl, pv] = d
            Ccont[:, lvl, pv] = u * d
            Wacc[:, lvl, pv] = fan[:, lvl] * d
            if not single_dim[pv]:
                _links(arch, batch, lvl, pv, proj[pv], ext, below, sp, fan, u, ldim[:, cols], ln[:, cols],
                       lstride[:, cols], Dd, Ccont, Wacc, Lk)
    pas = np.zeros((B, L, 3))
    pas[:, :-1] = Wacc[:, 1:] / fan[:, 1:, None]

    # partition sizes (integer, outer to inner)
    pfd = np.where(has_sp[:, 1:, None], master_size[:, 1:], size[:, :-1])  # for levels 0..L-2
    part = np.zeros((B, L, 3), np.int64)
    part[:, -1] = size[:, -1]
    for lvl in range(L - 2, -1, -1):
        part[:, lvl] = np.where(pfd[:, lvl] != 0, part[:, lvl + 1] * size[:, lvl] // np.maximum(pfd[:, lvl], 1),
                                part[:, lvl + 1])

    # masking of bypassed levels (tiling.cpp MaskTiles / ProcessOuterMaskedLevels)
    alive = np.ones((B, L, 3), bool)
    for lvl in range(L):
        m = ~keep[:, lvl]  # [B, 3]
        if lvl < L - 1:
            wnext = Wacc[:, lvl + 1]
            factor = np.where(wnext > 0, Ccont[:, lvl] * fan[:, lvl + 1, None] / np.where(wnext > 0, wnext, 1), 0.0)
            Ccont[:, lvl + 1] = np.where(m, Ccont[:, lvl + 1] * factor, Ccont[:, lvl + 1])
            Wacc[:, lvl + 1] = np.where(m, Wacc[:, lvl + 1] * factor, Wacc[:, lvl + 1])
            Lk[:, lvl + 1] = np.where(m, 0.0, Lk[:, lvl + 1])
        alive[:, lvl] &= ~m
    # outermost kept level: parent access share 0; levels above it are wiped
    above_kept = np.flip(np.cumsum(np.flip(alive, axis=1), axis=1), axis=1)  # kept levels at or above
    outermost = alive & (above_kept == 1)
    pas = np.where(outermost, 0.0, pas)

    # peer accesses/fills from link transfers at the level above (tiling.cpp ComputePeerAccesses)
    peer = np.zeros((B, L, 3))
    peer[:, :-1] = Lk[:, 1:] / rep[:, :-1, None]
    rw = np.array([False, False, True])
    upd = np.where(rw, Ccont, 0.0)
    rd = np.where(rw, Ccont + peer - part, Ccont + peer)
    fl = np.where(rw & ~outermost, pas + peer - part, pas + peer)
    tr = np.where(rw, Ccont + peer - part, 0.0)
    rd, fl, upd, tr = (np.where(alive, np.rint(x), 0.0) for x in (rd, fl, upd, tr))
    cap = np.where(alive, size, 0)
    return NestStats(rd, fl, upd, tr, cap, np.where(alive, part, 0), rep, T, int(np.prod(sizes)), fan.prod(axis=1))


@dataclass
class LevelCosts:
    """Per-level constants for energy and bandwidth (from the architecture and its ERT)."""

    block: np.ndarray  # [L]
    e_read: np.ndarray  # [L]
    e_write: np.ndarray
    e_update: np.ndarray
    read_bw: np.ndarray  # [L] (inf when unspecified)
    write_bw: np.ndarray
    shared_bw: np.ndarray
    e_mac: float
    mac_instances: int
    e_leak: np.ndarray | None = None  # [L] per-instance-cycle leakage (None: no level leaks)
    clusters: np.ndarray | None = None  # [L] instances / cluster_size (inf where cluster_size is 1; None: all 1)


def utilized_instances(spatial_x: np.ndarray, spatial_y: np.ndarray) -> np.ndarray:
    """Instances [B, L] each storage level uses: the product of the spatial factors of the levels above it."""
    fan = (spatial_x * spatial_y).prod(axis=2).astype(np.float64)  # [B, L]: fan-out below each level
    above = np.ones_like(fan)
    above[:, :-1] = np.cumprod(fan[:, ::-1], axis=1)[:, ::-1][:, 1:]
    return above


def leakage(lc: LevelCosts, used: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Leakage energy [B, L] of the storage levels: ``leak x utilized instances x cycles`` (Timeloop's
    ``BufferLevel`` leakage; the arithmetic level's leakage is not in its total)."""
    return lc.e_leak[None, :] * used * cycles.astype(np.float64)[:, None]


def cluster_scale(lc: LevelCosts, used: np.ndarray) -> np.ndarray:
    """Factor [B, L] on each level's access energy for clustered buffers: Timeloop charges the accesses once per
    utilized cluster, ``min(utilized instances, instances / cluster_size)``, not per utilized instance
    (``BufferLevel::ComputeBufferEnergy``)."""
    return np.minimum(used, lc.clusters[None, :]) / np.maximum(used, 1.0)


def resolve_ert(arch: ArchSpec, ert: Any) -> Any:
    """``ert``, or for ``None`` looplab's Accelergy-free estimate for ``arch`` (:mod:`looplab.energy.estimator`)."""
    if ert is not None:
        return ert
    from looplab.interop.arch_formats import LEGACY_MARK

    if arch.attributes.get(LEGACY_MARK):
        raise LooplabError("the legacy 'arch:' format takes its energies from Timeloop's built-in energy model, which "
                           "looplab does not reproduce; give an ERT (--ert ERT.yaml) for energies", arch.source)
    try:
        from looplab.energy.estimator import estimate_ert
    except ImportError:
        raise LooplabError("no ERT given and looplab.energy.estimator is not available", arch.source) from None
    return estimate_ert(arch)


def level_costs(arch: ArchSpec, ert: Any) -> LevelCosts:
    """Per-level energies per access, bandwidths and the MAC energy of ``arch`` from its ERT (``None``: the
    estimator's, as in :func:`looplab.analytical.evaluate_batch`)."""
    ert = resolve_ert(arch, ert)
    L = len(arch.storage)
    er, ew, eu, el = np.zeros(L), np.zeros(L), np.zeros(L), np.zeros(L)
    cl = np.full(L, math.inf)
    for i, lv in enumerate(arch.storage):
        if lv.is_dummy and not ert.has(lv.path):
            continue  # the front end's dummy_storage has no ERT entry: it never holds data (costs nothing)
        cluster = lv.attributes.get("cluster_size", lv.attributes.get("cluster-size"))
        if cluster is not None and float(cluster) > 1:
            cl[i] = lv.instances // int(cluster)
        er[i] = ert.energy(lv.path, "read")
        ew[i] = ert.energy(lv.path, "write")
        if "leak" in ert.actions(lv.path):
            el[i] = ert.energy(lv.path, "leak")
        try:
            eu[i] = ert.energy(lv.path, "update")
        except LooplabError:
            eu[i] = ew[i]
    inf = math.inf
    return LevelCosts(
        block=np.array([lv.block_size for lv in arch.storage], np.float64), e_read=er, e_write=ew, e_update=eu,
        read_bw=np.array([lv.read_bandwidth or inf for lv in arch.storage], np.float64),
        write_bw=np.array([lv.write_bandwidth or inf for lv in arch.storage], np.float64),
        shared_bw=np.array([lv.shared_bandwidth or inf for lv in arch.storage], np.float64),
        e_mac=_mac_energy(arch, ert), mac_instances=int(arch.compute.instances),
        e_leak=el if (el != 0).any() else None, clusters=cl if np.isfinite(cl).any() else None)


def _mac_energy(arch: ArchSpec, ert) -> float:
    for action in ("mac_random", "compute", "multiply_accumulate"):
        try:
            return ert.energy(arch.compute.path, action)
        except LooplabError:
            continue
    raise LooplabError(f"ERT has no MAC energy (mac_random) for {arch.compute.path}")


@dataclass
class Costs:
    energy_tensor: np.ndarray  # [B, L, 3] pJ (total over instances)
    energy_mac: np.ndarray  # [B]
    level_cycles: np.ndarray  # [B, L]
    cycles: np.ndarray  # [B] int64
    energy: np.ndarray  # [B]
    utilization: np.ndarray  # [B]


def costs(st: NestStats, lc: LevelCosts, extra_writes: np.ndarray | None = None) -> Costs:
    """Energy, cycles and utilization from the nest statistics. ``extra_writes`` [B, L, 3] adds write accesses to
    the bandwidth demand only (see :mod:`looplab.analytical.builds`)."""
    bs = lc.block[None, :, None]
    vec = np.ceil(st.reads / bs) * lc.e_read[None, :, None] + np.ceil(st.fills / bs) * lc.e_write[None, :, None] \
        + np.ceil(st.updates / bs) * lc.e_update[None, :, None]
    e_t = vec * st.utilized_instances[:, :, None]
    e_mac = st.computes * lc.e_mac * np.ones(len(st.compute_cycles))
    Tc = st.compute_cycles.astype(np.float64)[:, None]
    rbw = (st.reads / Tc[:, :, None]).sum(axis=2)
    writes = st.fills + st.updates if extra_writes is None else st.fills + st.updates + extra_writes
    wbw = (writes / Tc[:, :, None]).sum(axis=2)
    slow = np.ones_like(rbw)
    with np.errstate(divide="ignore", invalid="ignore"):
        slow = np.where(lc.read_bw < rbw, np.minimum(slow, lc.read_bw / rbw), slow)
        slow = np.where(lc.write_bw < wbw, np.minimum(slow, lc.write_bw / wbw), slow)
        slow = np.where(lc.shared_bw < rbw + wbw, np.minimum(slow, lc.shared_bw / (rbw + wbw)), slow)
        lvl_cycles = np.ceil(Tc / slow).astype(np.int64)
    cycles = np.maximum(lvl_cycles.max(axis=1), st.compute_cycles)
    energy = e_t.sum(axis=(1, 2)) + e_mac
    util = st.computes / (cycles.astype(np.float64) * lc.mac_instances)
    return Costs(e_t, e_mac, lvl_cycles, cycles, energy, util)
