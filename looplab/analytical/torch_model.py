"""Differentiable (torch) form of the analytical model, for gradient co-search.

Same equations as :mod:`looplab.analytical.model` on float tensors: temporal and spatial factors are
continuous ``[B, L, 7]`` tensors, buffer sizes enter through the capacity penalty, loop orders and bypass are
fixed. Tile sizes, the stationarity product (fills = tile x trip counts from the innermost relevant loop
outward), multicast (distinct child tiles = product of relevant spatial factors), masking of bypassed levels,
first-read elision for outputs, per-vector energy and bandwidth-bound cycles are all expressed with
differentiable ops. Differences from the exact numpy model, by design: inputs use the stationarity product
too (Timeloop's sliding-window slab savings are discrete events), vector counts are not rounded up, and the
cycle max is a plain ``max`` (sub-gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from looplab.analytical.model import LevelCosts
from looplab.analytical.nest import projection


def tile_sizes(cum: torch.Tensor, proj: torch.Tensor) -> torch.Tensor:
    """[B, L, 3] data-space tile sizes of the operation-space boxes ``cum`` [B, L, 7]."""
    ext = torch.einsum("tad,bld->blta", proj, cum - 1) + 1
    return ext.prod(dim=-1)


def evaluate_torch(temporal: torch.Tensor, spatial: torch.Tensor, perm: np.ndarray, keep: np.ndarray,
                   conv: dict[str, int], lc: LevelCosts, capacity: torch.Tensor | None = None,
                   ) -> dict[str, torch.Tensor]:
    """Energy (pJ), cycles and a capacity-overflow penalty, differentiable in factors and capacities.

    ``temporal``/``spatial`` float [B, L, 7]; ``perm`` int [B, L, 7] (innermost first); ``keep`` bool
    [B, L, 3]; ``capacity`` float [L] words (inf for unbounded) or None.
    """
    dtype = temporal.dtype
    B, L, _ = temporal.shape
    proj = torch.as_tensor(projection(conv), dtype=dtype)
    rel = (proj != 0).any(dim=1)  # [3, 7]
    cum = torch.cumprod(temporal * spatial, dim=1)
    size = tile_sizes(cum, proj)  # [B, L, 3]
    fan = spatial.prod(dim=2)  # [B, L]
    ones = torch.ones(B, 1, dtype=dtype)
    rep = torch.cat([torch.flip(torch.cumprod(torch.flip(fan, [1]), dim=1), [1])[:, 1:], ones], dim=1)
    T = temporal.reshape(B, -1).prod(dim=1)
    perm_t = torch.as_tensor(perm, dtype=torch.long)
    ln = torch.gather(temporal, 2, perm_t).reshape(B, L * 7)
    ldim = perm_t.reshape(B, L * 7)
    keep_t = torch.as_tensor(keep, dtype=torch.bool)

    C = [T[:, None].expand(B, 3)]
    W = [T[:, None].expand(B, 3)]
    Dd = [torch.zeros(B, 3, dtype=dtype)]
    for lvl in range(1, L):
        n = ln[:, lvl * 7:]
        dims = ldim[:, lvl * 7:]
        suffix = torch.flip(torch.cumprod(torch.flip(n, [1]), dim=1), [1])
        cols = []
        for pv in range(3):
            r = rel[pv][dims] & (n > 1 + 1e-9)
            first = (torch.cumsum(r.to(torch.int64), dim=1) == 1) & r
            prod = torch.where(r.any(dim=1), (suffix * first).sum(dim=1), torch.ones(B, dtype=dtype))
            cols.append(size[:, lvl - 1, pv] * prod)
        d = torch.stack(cols, dim=1)
        u = torch.stack([torch.where(rel[pv], spatial[:, lvl], torch.ones_like(spatial[:, lvl])).prod(dim=1)
                         for pv in range(3)], dim=1)
        Dd.append(d)
        C.append(u * d)
        W.append(fan[:, lvl, None] * d)
    C = list(C)
    W = list(W)
    for lvl in range(L - 1):
        m = ~keep_t[:, lvl]
        factor = C[lvl] * fan[:, lvl + 1, None] / W[lvl + 1]
        C[lvl + 1] = torch.where(m, C[lvl + 1] * factor, C[lvl + 1])
        W[lvl + 1] = torch.where(m, W[lvl + 1] * factor, W[lvl + 1])
    Cc = torch.stack(C, dim=1)  # [B, L, 3]
    pas = torch.cat([torch.stack(Dd[1:], dim=1), torch.zeros(B, 1, 3, dtype=dtype)], dim=1)
    alive = keep_t.clone()
    above = torch.flip(torch.cumsum(torch.flip(alive.to(torch.int64), [1]), dim=1), [1])
    outer = alive & (above == 1)
    pas = torch.where(outer, torch.zeros_like(pas), pas)
    # partition sizes
    has_sp = fan > 1 + 1e-9
    master = tile_sizes(torch.cat([torch.ones(B, 1, 7, dtype=dtype), cum[:, :-1]], dim=1) * spatial, proj)
    part = [size[:, -1]]
    for lvl in range(L - 2, -1, -1):
        pfd = torch.where(has_sp[:, lvl + 1, None], master[:, lvl + 1], size[:, lvl])
        part.insert(0, part[0] * size[:, lvl] / pfd)
    part = torch.stack(part, dim=1)
    rw = torch.tensor([False, False, True])
    upd = torch.where(rw, Cc, torch.zeros_like(Cc))
    rd = torch.where(rw, Cc - part, Cc)
    fl = torch.where(rw & ~outer, pas - part, pas)
    z = torch.zeros_like(Cc)
    rd, fl, upd = (torch.where(alive, x, z) for x in (rd, fl, upd))

    t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    bs = t(lc.block)[None, :, None]
    vec = rd / bs * t(lc.e_read)[None, :, None] + fl / bs * t(lc.e_write)[None, :, None] \
        + upd / bs * t(lc.e_update)[None, :, None]
    computes = cum[:, -1].prod(dim=1)
    energy = (vec * rep[:, :, None]).sum(dim=(1, 2)) + computes * lc.e_mac
    rbw = rd.sum(dim=2)
    wbw = (fl + upd).sum(dim=2)
    need = torch.stack([rbw / t(lc.read_bw), wbw / t(lc.write_bw), (rbw + wbw) / t(lc.shared_bw)], dim=0)
    level_cycles = need.amax(dim=0)  # [B, L] cycles the bandwidth demands
    cycles = torch.maximum(T, level_cycles.amax(dim=1))
    over = torch.zeros(B, dtype=dtype)
    if capacity is not None:
        used = torch.where(alive, size, torch.zeros_like(size)).sum(dim=2)
        over = torch.relu(used - capacity[None, :]).sum(dim=1)
    return {"energy_pJ": energy, "cycles": cycles, "capacity_overflow": over, "reads": rd, "fills": fl,
            "updates": upd}
