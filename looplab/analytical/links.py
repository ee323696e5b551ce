"""Timeloop's inter-PE link transfers (``ComputeNetworkLinkTransfers``) for a spatial fan-out.

At every visit of a spatial level Timeloop compares each child's delta with the previous visit's deltas of
its mesh neighbours (``h +- 1``, ``v +- 1`` on the hardware mesh, children numbered by their logical
spatial index); a child whose delta equals a neighbour's previous one receives it over the link instead of
from the parent. The link version is kept when it lowers the parent's accesses (the distinct deltas still
fetched). Children's deltas are translates of each other, so a child links exactly when the move between
the previous and the current delta equals the offset from it to one of its neighbours. Only input tiles
(whose W/H axes mix two loop dimensions) can meet that condition.
"""

from __future__ import annotations

import numpy as np

from looplab.analytical.nest import classify_move


def child_offsets(sx: np.ndarray, sy: np.ndarray, sperm: np.ndarray, below: np.ndarray,
                  proj_t: np.ndarray) -> np.ndarray:
    """Data-space offsets [F, 4] of the children of one fan-out, in Timeloop's logical index order.

    Spatial loops sit innermost-first as the X dims then the Y dims, each in spatial-permutation order; the
    logical child index is mixed-radix with the innermost loop fastest.
    """
    loops = [(int(k), int(sx[k])) for k in sperm if sx[k] > 1] + [(int(k), int(sy[k])) for k in sperm if sy[k] > 1]
    F = int(np.prod([f for _, f in loops])) if loops else 1
    idx = np.arange(F)
    off = np.zeros((F, 7), np.int64)
    mult = np.ones(7, np.int64)
    for k, f in loops:
        off[:, k] += (idx % f) * below[k] * mult[k]
        mult[k] *= f
        idx = idx // f
    return off @ proj_t.T


def link_tables(tau: np.ndarray, offs: np.ndarray, mesh_x: int, mesh_y: int) -> tuple[np.ndarray, np.ndarray, int]:
    """For each move ``tau`` [M, 4]: (children linked [M], distinct deltas still fetched [M], U without links).

    Moves whose links would not lower the parent accesses get (0, U).
    """
    F = len(offs)
    _, group = np.unique(offs, axis=0, return_inverse=True)
    group = group.ravel()
    U = int(group.max()) + 1
    i = np.arange(F)
    h, v = i % mesh_x, i // mesh_x
    nbrs = []
    for dh, dv in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        hh, vv = h + dh, v + dv
        j = vv * mesh_x + hh
        ok = (hh >= 0) & (hh < mesh_x) & (vv >= 0) & (vv < mesh_y) & (j < F) & (j >= 0)
        diff = np.where(ok[:, None], offs[np.clip(j, 0, F - 1)] - offs, np.iinfo(np.int64).min)
        nbrs.append(diff)
    diffs = np.stack(nbrs, axis=1)  # [F, 4 neighbours, 4 axes]
    linked = (diffs[None, :, :, :] == tau[:, None, None, :]).all(axis=3).any(axis=2)  # [M, F]
    member = np.zeros((F, U), bool)
    member[i, group] = True
    remaining = ((~linked).astype(np.int64) @ member.astype(np.int64) > 0).sum(axis=1)  # [M]
    use = linked.any(axis=1) & (remaining < U) & (tau != 0).any(axis=1)
    return np.where(use, linked.sum(axis=1), 0), np.where(use, remaining, U), U


def translations(loops_dim: np.ndarray, loops_n: np.ndarray, loops_stride: np.ndarray,
                 proj_t: np.ndarray) -> np.ndarray:
    """Tile translation [B, M, 4] of each loop's 0 -> 1 transition (lower non-trivial loops go 1 -> 0)."""
    live = loops_n > 1
    step = proj_t.T[loops_dim] * np.where(live, loops_stride, 0)[:, :, None]
    return step - (np.cumsum(step, axis=1) - step)


def link_dp(ext: np.ndarray, loops_n: np.ndarray, tau: np.ndarray, n_linked: np.ndarray, u_link: np.ndarray,
            U: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-child delta sum and the parent's (accesses, multicast-weighted accesses, link transfers).

    Same visit sequence and remembered-translation rule as :func:`looplab.analytical.nest.delta_sum`, with
    the kind of the previous delta (empty, whole tile, slab) in the state: a delta links when it has the
    shape of the previous one (whole -> whole, or slab -> slab by the same move).
    """
    B, M = loops_n.shape
    size = ext.prod(axis=1).astype(np.float64)
    NONE = M
    S = 3 * (M + 1)
    st = np.arange(S)
    r_of, p_of = st // 3, st % 3  # remembered translation, previous delta kind (0 empty, 1 whole, 2 slab)
    A = np.zeros((B, 4, S))  # accumulators: delta, accesses, weighted, links
    E = np.tile(st, (B, 1))
    keyed = np.zeros((B, M), bool)
    Uf, Ff = U.astype(np.float64), F.astype(np.float64)
    for j in range(M):
        n = loops_n[:, j]
        lv = n > 1
        if not lv.any():
            continue
        zero, canon, partial, sub, _, _ = classify_move(tau, keyed, j, ext, size)
        keyed[:, j] = lv & ~zero
        hit = (r_of[None, :] == NONE) | (r_of[None, :] == canon[:, None])  # [B, S]
        d = np.where(zero[:, None], 0.0, np.where(hit, sub[:, None], size[:, None]))
        kind = np.where(zero[:, None], 0, np.where(hit & partial[:, None], 2, 1))
        r_new = np.where(zero[:, None], r_of[None, :], np.where(hit, canon[:, None], NONE))
        y_tab = r_new * 3 + kind
        link = (kind > 0) & (kind == p_of[None, :])
        nl = n_linked[:, j].astype(np.float64)[:, None]
        c_tab = np.stack([d, d * np.where(link, u_link[:, j, None], Uf[:, None]),
                          d * np.where(link, Ff[:, None] - nl, Ff[:, None]), d * np.where(link, nl, 0.0)], axis=1)
        c = np.take_along_axis(c_tab, np.broadcast_to(E[:, None, :], A.shape), axis=2)
        y = np.take_along_axis(y_tab, E, axis=1)
        Ay = np.take_along_axis(A, np.broadcast_to(y[:, None, :], A.shape), axis=2)
        Ey = np.take_along_axis(E, y, axis=1)
        w = (n - 1).astype(np.float64)[:, None, None]
        A = np.where(lv[:, None, None], A + w * (c + Ay), A)
        E = np.where(lv[:, None], Ey, E)
    entry = NONE * 3 + 1
    base = np.stack([size, size * Uf, size * Ff, np.zeros(B)], axis=1)
    out = base + A[:, :, entry]
    return out[:, 0], out[:, 1], out[:, 2], out[:, 3]


def child_offsets_batch(sx: np.ndarray, sy: np.ndarray, sperm: np.ndarray, below: np.ndarray, proj_t: np.ndarray,
                        n_children: int) -> np.ndarray:
    """:func:`child_offsets` for many rows at once: [B, n_children, 4] (rows beyond a row's fan-out are junk)."""
    B = sx.shape[0]
    rows = np.arange(B)
    rem = np.tile(np.arange(n_children, dtype=np.int64), (B, 1))
    off = np.zeros((B, n_children, 7), np.int64)
    mult = np.ones((B, 7), np.int64)
    for fac in (sx, sy):
        for q in range(7):
            k = sperm[:, q].astype(np.int64)
            f = fac[rows, k].astype(np.int64)
            digit = rem % f[:, None]
            rem = rem // f[:, None]
            coef = below[rows, k] * mult[rows, k]
            off[rows[:, None], np.arange(n_children)[None, :], k[:, None]] += digit * coef[:, None]
            mult[rows, k] *= f
    return off @ proj_t.T


def link_tables_batch(tau: np.ndarray, possible: np.ndarray, offs: np.ndarray, n_children: np.ndarray,
                      mesh_x: int, mesh_y: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`link_tables` for many rows: tau [B, M, 4], possible [B, M], offs [B, Fmax, 4], n_children [B]."""
    B, Fm, _ = offs.shape
    M = tau.shape[1]
    i = np.arange(Fm)
    valid = i[None, :] < n_children[:, None]
    # pack offsets into one key per child (shifted to be non-negative)
    lo = offs.min(axis=1, keepdims=True)
    rel = offs - lo
    span = rel.max(axis=1) + 1  # [B, 4]
    key = rel[:, :, 0]
    for a in range(1, 4):
        key = key * span[:, a:a + 1] + rel[:, :, a]
    SENT = np.iinfo(np.int64).max

    def distinct(keys: np.ndarray) -> np.ndarray:
        srt = np.sort(keys, axis=-1)
        new = np.concatenate([srt[..., :1] != SENT, (srt[..., 1:] != srt[..., :-1]) & (srt[..., 1:] != SENT)], -1)
        return new.sum(axis=-1)

    U = distinct(np.where(valid, key, SENT))
    h, v = i % mesh_x, i // mesh_x
    diffs = []
    for dh, dv in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        hh, vv = h + dh, v + dv
        j = vv * mesh_x + hh
        ok = (hh >= 0) & (hh < mesh_x) & (vv >= 0) & (vv < mesh_y) & (j >= 0)
        jc = np.clip(j, 0, Fm - 1)
        okb = ok[None, :] & (j[None, :] < n_children[:, None]) & valid
        d = offs[:, jc] - offs
        diffs.append(np.where(okb[:, :, None], d, np.iinfo(np.int64).min))
    diffs = np.stack(diffs, axis=2)  # [B, Fm, 4, 4]
    n_linked = np.zeros((B, M), np.int64)
    u_link = np.tile(U[:, None], (1, M))
    for m in range(M):
        rb = np.nonzero(possible[:, m])[0]
        if len(rb) == 0:
            continue
        linked = (diffs[rb] == tau[rb, m][:, None, None, :]).all(axis=3).any(axis=2) & valid[rb]  # [b, Fm]
        anyl = linked.any(axis=1)
        if not anyl.any():
            continue
        rem = distinct(np.where(valid[rb] & ~linked, key[rb], SENT))
        use = anyl & (rem < U[rb])
        n_linked[rb, m] = np.where(use, linked.sum(axis=1), 0)
        u_link[rb, m] = np.where(use, rem, U[rb])
    return n_linked, u_link, U
