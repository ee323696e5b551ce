"""Differentiable (torch) form of the analytical model, for gradient co-search.

The same equations as :mod:`looplab.analytical.model`, on float tensors: temporal and spatial factors are
continuous ``[B, L, 7]`` tensors and buffer capacities enter through an overflow penalty. The discrete
structure of Timeloop's analysis (loop order, bypass, which moves slide a tile and which refetch it, which
children share a delta) is taken from the mapping rounded to integers; every magnitude (tile sizes, slab
sizes, trip counts, fan-outs, multicast counts, partition sizes) is a differentiable function of the factors.
``ceil``/``rint``/floor-division use straight-through estimators (exact value, identity gradient), so at
integer points the results equal the numpy model's; the rare mappings with link transfers between PEs take
their value from the numpy model (straight-through as well).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from looplab.analytical.model import LevelCosts, NestStats, _align, analyse, costs, layer_dims
from looplab.analytical.nest import delta_sum, distinct_offsets, projection
from looplab.archspec import ArchSpec
from mappers.mapping import MappingBatch


def _ste(x: torch.Tensor, fn) -> torch.Tensor:
    return x + (fn(x) - x).detach()


def _replay(size: torch.Tensor, ext: torch.Tensor, dims: np.ndarray, n: torch.Tensor, stride: torch.Tensor,
            proj_t: torch.Tensor, plan: dict) -> torch.Tensor:
    """Re-run :func:`delta_sum`'s recursion with torch magnitudes and the recorded discrete choices."""
    M = plan["M"]
    if M == 0:
        return size
    B = size.shape[0]
    order = torch.as_tensor(plan["order"])
    dims_c = np.take_along_axis(dims, plan["order"], axis=1)
    n_c = torch.gather(n, 1, order)
    s_c = torch.gather(stride, 1, order)
    rows = torch.arange(B)
    D = torch.zeros(B, M + 1, dtype=size.dtype)
    back = torch.zeros(B, 4, dtype=size.dtype)
    for j, (lv, choice, y, axis) in enumerate(plan["steps"]):
        lv_t = torch.as_tensor(lv)
        step = proj_t[:, torch.as_tensor(dims_c[:, j])].T * s_c[:, j, None]
        tau = step - back
        ax = torch.as_tensor(axis)
        slab = size * tau[rows, ax].abs() / ext[rows, ax]
        ch = torch.as_tensor(choice)
        d = torch.where(ch == 0, torch.zeros_like(D), torch.where(ch == 1, slab[:, None], size[:, None]))
        Dy = torch.gather(D, 1, torch.as_tensor(y))
        D = torch.where(lv_t[:, None], D + (n_c[:, j, None] - 1) * (d + Dy), D)
        back = back + torch.where(lv_t[:, None], step, torch.zeros_like(step))
    return size + D[:, M]


def _row_costs(lc: LevelCosts, row: int) -> LevelCosts:
    """The per-level costs of one row when ``lc`` holds per-row arrays ([B, L], ``e_mac`` [B]); else ``lc``."""
    if np.ndim(lc.block) == 1:
        return lc
    e_mac = np.asarray(lc.e_mac)
    return LevelCosts(*(np.asarray(getattr(lc, f))[row] for f in ("block", "e_read", "e_write", "e_update",
                                                                  "read_bw", "write_bw", "shared_bw")),
                      float(e_mac[row]) if e_mac.ndim else float(e_mac), lc.mac_instances)


def _cost_groups(lc: LevelCosts, rows: np.ndarray) -> list[np.ndarray]:
    """``rows`` split into groups with equal per-level costs (one group when ``lc`` is per level)."""
    if np.ndim(lc.block) == 1 or not len(rows):
        return [rows] if len(rows) else []
    keys = np.concatenate([np.asarray(getattr(lc, f))[rows].reshape(len(rows), -1) for f in
                           ("block", "e_read", "e_write", "e_update", "read_bw", "write_bw", "shared_bw", "e_mac")], 1)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    return [rows[inv.ravel() == g] for g in range(int(inv.max()) + 1)]


def _take(st: NestStats, rows: np.ndarray) -> NestStats:
    """The statistics of ``rows`` only."""
    return dataclasses.replace(st, **{f.name: getattr(st, f.name)[rows] for f in dataclasses.fields(st)
                                      if f.name != "computes"})


def evaluate_torch(arch: ArchSpec, lc: LevelCosts, dims: dict, batch: MappingBatch,
                   temporal: torch.Tensor | None = None, spatial_x: torch.Tensor | None = None,
                   spatial_y: torch.Tensor | None = None, capacity: torch.Tensor | None = None,
                   dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """Energy (pJ), cycles, per-level counts and a capacity-overflow penalty, differentiable in the factors.

    ``batch`` fixes permutations, bypass and spatial permutations (and, rounded, the discrete structure); its rows
    may be mappings of different layers that share ``dims``' strides and dilations (the loop bounds come from the
    factors). ``lc`` holds per-level costs ``[L]`` or per-row costs ``[B, L]`` (``e_mac`` ``[B]``), so rows may
    be on different hardware of the same level structure;
    ``temporal``/``spatial_x``/``spatial_y`` (float ``[B, L, 7]``, default: the batch's factors) carry the
    gradients; ``capacity`` float ``[L]`` words (None: no penalty). ``lc`` is ``level_costs(arch, ert)``.

    Returns a dict of tensors (B rows; L storage levels innermost first; the last axis of the counts is
    Weights, Inputs, Outputs):

    * ``energy_pJ`` [B], ``cycles`` [B]: differentiable in the factors (rounding steps pass the gradient straight
      through);
    * ``capacity_overflow`` [B]: words over capacity summed over levels (0 without ``capacity``);
    * ``reads``, ``fills``, ``updates`` [B, L, 3]: per-instance access counts (as stats.txt prints them);
    * ``energy_by_level`` [B, L]: storage energy per level in pJ (the MACs' energy is ``energy_pJ`` minus its sum);
    * ``linked`` [B] bool: rows with link transfers, whose energy and cycles take the numpy model's exact values
      (straight-through, so their gradient is the smooth model's).
    """
    batch = _align(arch, batch)
    _, conv = layer_dims(dims)
    proj_np = projection(conv)
    proj = torch.as_tensor(proj_np, dtype=dtype)
    T_ = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731
    t = T_(batch.temporal) if temporal is None else temporal
    sx = T_(batch.spatial_x) if spatial_x is None else spatial_x
    sy = T_(batch.spatial_y) if spatial_y is None else spatial_y
    # discrete structure at the rounded point
    rb = MappingBatch(batch.level_names, np.rint(t.detach().numpy()).astype(np.int64),
                      np.rint(sx.detach().numpy()).astype(np.int64), np.rint(sy.detach().numpy()).astype(np.int64),
                      batch.perm, batch.keep, batch.sperm)
    ti, spi = rb.temporal, rb.spatial_x * rb.spatial_y
    B, L, _ = ti.shape
    keep = torch.as_tensor(rb.keep.astype(bool))
    sp = sx * sy
    cum = torch.cumprod(t * sp, dim=1)
    below = torch.cat([torch.ones(B, 1, 7, dtype=dtype), cum[:, :-1]], dim=1)
    ext = torch.einsum("tad,bld->blta", proj, cum - 1) + 1  # [B, L, 3, 4]
    size = ext.prod(dim=3)
    fan = sp.prod(dim=2)
    rep = torch.cat([torch.flip(torch.cumprod(torch.flip(fan, [1]), dim=1), [1])[:, 1:],
                     torch.ones(B, 1, dtype=dtype)], dim=1)
    T = t.reshape(B, -1).prod(dim=1)
    perm = torch.as_tensor(batch.perm.astype(np.int64))
    ldim = batch.perm.astype(np.int64).reshape(B, L * 7)
    ln = torch.gather(t, 2, perm).reshape(B, L * 7)
    lstride = torch.gather(below * sp, 2, perm).reshape(B, L * 7)
    # integer copies for the plans
    cum_i = np.cumprod(ti * spi, axis=1)
    below_i = np.concatenate([np.ones((B, 1, 7), np.int64), cum_i[:, :-1]], axis=1)
    ext_i = np.einsum("tad,bld->blta", proj_np, cum_i - 1) + 1
    ln_i = np.take_along_axis(ti, batch.perm.astype(np.int64), axis=2).reshape(B, L * 7)
    ls_i = np.take_along_axis(below_i * spi, batch.perm.astype(np.int64), axis=2).reshape(B, L * 7)

    u0 = torch.stack([torch.where(torch.as_tensor((proj_np[pv] != 0).any(axis=0)), sp[:, 0],
                                  torch.ones_like(sp[:, 0])).prod(dim=1) for pv in range(3)], dim=1)
    C = [T[:, None] * u0]
    W = [(T * fan[:, 0])[:, None].expand(B, 3)]
    for lvl in range(1, L):
        cols = slice(lvl * 7, L * 7)
        cc, ww = [], []
        for pv in range(3):
            plan: dict = {}
            delta_sum(ext_i[:, lvl - 1, pv], ldim[:, cols], ln_i[:, cols], ls_i[:, cols], proj_np[pv], plan=plan)
            d = _replay(size[:, lvl - 1, pv], ext[:, lvl - 1, pv], ldim[:, cols], ln[:, cols], lstride[:, cols],
                        proj[pv], plan)
            rel = (proj_np[pv] != 0)  # [4, 7]
            mixed = ((rel[None] & (spi[:, lvl, None, :] > 1)).sum(axis=2) > 1).any(axis=1)  # [B]
            u_cont = torch.stack([torch.where(torch.as_tensor(rel.any(axis=0)), sp[:, lvl],
                                              torch.ones_like(sp[:, lvl]))], 0)[0].prod(dim=1)
            u_int = T_(distinct_offsets(spi[:, lvl], below_i[:, lvl], proj_np[pv]))
            u = torch.where(torch.as_tensor(mixed), u_int, u_cont)
            cc.append(u * d)
            ww.append(fan[:, lvl] * d)
        C.append(torch.stack(cc, dim=1))
        W.append(torch.stack(ww, dim=1))
    fan_l = [fan[:, lvl] for lvl in range(L)]
    pas = [W[lvl + 1] / fan_l[lvl + 1][:, None] for lvl in range(L - 1)] + [torch.zeros(B, 3, dtype=dtype)]
    # partition sizes (floor division, straight-through)
    has_sp = torch.as_tensor(spi.prod(axis=2) > 1)
    master = (torch.einsum("tad,bld->blta", proj, below * sp - 1) + 1).prod(dim=3)
    part = [None] * L
    part[L - 1] = size[:, L - 1]
    for lvl in range(L - 2, -1, -1):
        pfd = torch.where(has_sp[:, lvl + 1, None], master[:, lvl + 1], size[:, lvl])
        part[lvl] = _ste(part[lvl + 1] * size[:, lvl] / pfd, torch.floor)
    # masking
    C = list(C)
    W = list(W)
    for lvl in range(L - 1):
        m = ~keep[:, lvl]
        factor = C[lvl] * fan_l[lvl + 1][:, None] / W[lvl + 1]
        C[lvl + 1] = torch.where(m, C[lvl + 1] * factor, C[lvl + 1])
        W[lvl + 1] = torch.where(m, W[lvl + 1] * factor, W[lvl + 1])
    Cc, pas_t, part_t = torch.stack(C, 1), torch.stack(pas, 1), torch.stack(part, 1)
    alive = keep
    above = torch.flip(torch.cumsum(torch.flip(alive.to(torch.int64), [1]), dim=1), [1])
    outer = alive & (above == 1)
    pas_t = torch.where(outer, torch.zeros_like(pas_t), pas_t)
    rw = torch.tensor([False, False, True])
    z = torch.zeros_like(Cc)
    upd = torch.where(alive & rw, _ste(Cc, torch.round), z)
    rd = torch.where(alive, _ste(torch.where(rw, Cc - part_t, Cc), torch.round), z)
    fl = torch.where(alive, _ste(torch.where(rw & ~outer, pas_t - part_t, pas_t), torch.round), z)

    per = lambda a: T_(a).reshape(-1, L)[:, :, None]  # noqa: E731  ([L] or per-row [B, L] costs)
    bs = per(lc.block)
    vec = _ste(rd / bs, torch.ceil) * per(lc.e_read) + _ste(fl / bs, torch.ceil) * per(lc.e_write) \
        + _ste(upd / bs, torch.ceil) * per(lc.e_update)
    e_level = vec.sum(dim=2) * rep
    computes = cum[:, -1].prod(dim=1)
    e_mac = T_(lc.e_mac)
    energy = e_level.sum(dim=1) + computes * e_mac
    Tc = T[:, None]
    rbw = (rd / Tc[:, :, None]).sum(dim=2)
    wbw = ((fl + upd) / Tc[:, :, None]).sum(dim=2)
    # Timeloop's slowdown = min(1, bandwidth / demand) per limit; cycles = ceil(T / slowdown)
    one = torch.ones_like(rbw)
    slow = one
    big = lambda a: T_(np.minimum(a, 1e300)).reshape(-1, L)  # noqa: E731  (unbounded: finite stand-in, never binding)
    for bw, dem in ((big(lc.read_bw), rbw), (big(lc.write_bw), wbw), (big(lc.shared_bw), rbw + wbw)):
        slow = torch.where(bw < dem, torch.minimum(slow, bw / dem), slow)
    level_cycles = _ste(Tc / slow, torch.ceil)
    cycles = torch.maximum(T, level_cycles.amax(dim=1))

    # mappings with link transfers: exact value from the numpy model (straight-through)
    st = analyse(arch, dims, rb)
    linked = torch.as_tensor(np.abs(st.reads - rd.detach().numpy()).max(axis=(1, 2)) > 0.5)
    if bool(linked.any()):
        exact, exact_c = np.zeros(B), np.zeros(B)
        e_row = (computes.detach() * e_mac).numpy()
        rows = np.flatnonzero(linked.numpy())
        for group in _cost_groups(lc, rows):
            co = costs(_take(st, group), _row_costs(lc, int(group[0])))
            # the MAC energy from the rows' own factors (rows may be different layers with the same strides)
            exact[group] = co.energy - co.energy_mac + e_row[group]
            exact_c[group] = co.cycles
        exact, exact_c = T_(exact), T_(exact_c)
        energy = torch.where(linked, energy + (exact - energy).detach(), energy)
        cycles = torch.where(linked, cycles + (exact_c - cycles).detach(), cycles)
    over = torch.zeros(B, dtype=dtype)
    if capacity is not None:
        used = torch.where(alive, size, torch.zeros_like(size)).sum(dim=2)
        over = torch.relu(used - capacity[None, :]).sum(dim=1)
    return {"energy_pJ": energy, "cycles": cycles, "capacity_overflow": over, "reads": rd, "fills": fl,
            "updates": upd, "energy_by_level": e_level, "linked": linked}
