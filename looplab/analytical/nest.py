"""Timeloop's nest analysis (``NestAnalysis`` + ``CollapseTiles``) as closed-form array math.

Everything is vectorised over a batch of mappings of one (architecture, layer) and follows Timeloop's
actual algorithm, not an idealised reuse model:

* The loop nest per storage level is its non-trivial temporal loops (innermost first, in permutation
  order) followed by its spatial loops; a level's tile (its ``utilized capacity``) is the data-space
  projection of the operation-space box of every loop at that level and below (axis-aligned bounding
  boxes: inputs use ``(P-1)*Wstride + (R-1)*Wdilation + 1``).
* Fills are the sum of deltas between successive tiles as the loops above iterate. Timeloop visits
  iteration #0 of each temporal loop and iteration #1 weighted by ``N-1`` (``gExtrapolateUniformTemporal``),
  and subtracts boxes with its AAHR rules (a box shifted along exactly one axis by less than its extent
  costs the slab it gained; anything else costs the whole box) only while the tile keeps moving by the
  same translation (``SaveAndSubtractIfSameStride``); :func:`delta_sum` runs that exact recursion as a
  dynamic programme.
* Spatial fan-out: a parent read is shared by all children whose deltas coincide (multicast, or spatial
  reduction for outputs); the number of distinct deltas is the number of distinct child offsets.
* ``CollapseTiles``: partition sizes, parent access share, masking of bypassed levels, first-read
  elision for outputs (``reads = updates - partition``), as in ``tiling.cpp``.
"""

from __future__ import annotations

import numpy as np

from looplab.archspec import DIMS

R, S, P, Q, C, K, N = range(7)
TENSOR_NAMES = ("Weights", "Inputs", "Outputs")


def projection(conv: dict[str, int]) -> np.ndarray:
    """Coefficients [3 data spaces, 4 axes, 7 dims] of Timeloop's cnn_layer projections (``conv["depthwise"]``:
    the depthwise shape, whose Outputs are indexed by C instead of K)."""
    a = np.zeros((3, 4, 7), np.int64)
    # Weights: R, S, C, K
    a[0, 0, R] = a[0, 1, S] = a[0, 2, C] = a[0, 3, K] = 1
    # Inputs: W = R*Wdilation + P*Wstride, H = S*Hdilation + Q*Hstride, C, N
    a[1, 0, R], a[1, 0, P] = conv["Wdilation"], conv["Wstride"]
    a[1, 1, S], a[1, 1, Q] = conv["Hdilation"], conv["Hstride"]
    a[1, 2, C] = a[1, 3, N] = 1
    # Outputs: P, Q, K, N (a depthwise convolution: P, Q, C, N -- its channels index weights, inputs and outputs)
    a[2, 0, P] = a[2, 1, Q] = a[2, 3, N] = 1
    a[2, 2, C if conv.get("depthwise") else K] = 1
    return a


def extents(box: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """Data-space extents [..., 3, 4] of operation-space boxes ``box`` [..., 7] (bounding boxes)."""
    flat = (box - 1).astype(np.float64) @ proj.reshape(-1, 7).T.astype(np.float64)
    return flat.astype(np.int64).reshape(*box.shape[:-1], *proj.shape[:2]) + 1


def classify_move(taus: np.ndarray, keyed: np.ndarray, j: int, ext: np.ndarray,
                  size: np.ndarray) -> tuple[np.ndarray, ...]:
    """Move ``j`` of every row (``taus`` [B, >j, 4]): ``(zero, canon, partial, sub, axis, mag)``.

    ``canon``: the first earlier usable (``keyed``) move equal to it, else ``j``; ``partial``: a slide along one
    axis by less than the tile's extent there, which brings in ``sub = size * |move| / extent`` words (any other
    non-zero move brings the whole tile, ``size``; a zero move nothing)."""
    B = taus.shape[0]
    rows = np.arange(B)
    tau = taus[:, j]
    zero = ~(tau != 0).any(axis=1)
    if j:
        same = (taus[:, :j] == tau[:, None, :]).all(axis=2) & keyed[:, :j]
        canon = np.where(same.any(axis=1), same.argmax(axis=1), j)
    else:
        canon = np.zeros(B, np.int64)
    nzm = tau != 0
    nz = nzm.sum(axis=1)
    axis = nzm.argmax(axis=1)
    mag = np.abs(tau[rows, axis])
    ext_a = ext[rows, axis]
    partial = (nz == 1) & (mag < ext_a)
    sub = np.where(zero, 0.0, np.where(partial, size * mag / np.maximum(ext_a, 1), size))
    return zero, canon, partial, sub, axis, mag


def delta_sum(ext: np.ndarray, loops_dim: np.ndarray, loops_n: np.ndarray, loops_stride: np.ndarray,
              proj_t: np.ndarray, plan: dict | None = None) -> np.ndarray:
    """Sum over Timeloop's visits of |tile delta| for one data space, per mapping (float64 [B]).

    ``ext`` [B, 4] tile extents; the loops above the tile (innermost first) as [B, M] arrays of dim index,
    trip count and operation-space stride; ``proj_t`` [4, 7] the data space's projection.

    Timeloop visits iteration #0 and #1 (weighted ``N-1``) of every loop (``gExtrapolateUniformTemporal``),
    so the visits form a binary counter: transition ``j`` moves loop ``j`` 0 -> 1 and the lower non-trivial
    loops 1 -> 0, a fixed translation ``tau_j`` of the tile. ``SaveAndSubtractIfSameStride`` remembers the
    last translation: a move by the remembered translation (or with none remembered) costs the AAHR set
    difference (the slab gained when the tile slides along one axis by less than its extent, else the whole
    tile) and is remembered; any other move costs the whole tile and forgets; a zero move costs nothing and
    leaves the memory as it is. The remembered translation is always one of the ``tau_i``, so the weighted
    sum is a dynamic programme over loops with states "tau_i remembered" (canonical i) or "none".
    """
    B = loops_n.shape[0]
    size = ext.prod(axis=1).astype(np.float64)
    live = loops_n > 1
    order = np.argsort(~live, axis=1, kind="stable")
    M = int(live.sum(axis=1).max()) if live.size else 0
    if plan is not None:
        plan.update(order=order[:, :M], steps=[], M=M)
    if M == 0:
        return size
    dims = np.take_along_axis(loops_dim, order, axis=1)[:, :M]
    ns = np.take_along_axis(loops_n, order, axis=1)[:, :M]
    strides = np.take_along_axis(loops_stride, order, axis=1)[:, :M]
    alive = ns > 1
    NONE = M
    S = M + 1
    states = np.arange(S)[None, :]
    D = np.zeros((B, S))
    E = np.tile(np.arange(S), (B, 1))
    back = np.zeros((B, 4), np.int64)
    taus = np.zeros((B, M, 4), np.int64)
    keyed = np.zeros((B, M), bool)  # tau_i usable as a canonical representative
    for j in range(M):
        n = ns[:, j]
        lv = alive[:, j]
        step = proj_t[:, dims[:, j]].T * strides[:, j, None]  # [B, 4]
        taus[:, j] = step - back
        zero, canon, partial, sub, axis, _ = classify_move(taus, keyed, j, ext, size)
        keyed[:, j] = lv & ~zero
        hit = (states == NONE) | (states == canon[:, None])  # [B, S]
        d_tab = np.where(zero[:, None], 0.0, np.where(hit, sub[:, None], size[:, None]))
        y_tab = np.where(zero[:, None], states,
                         np.where(states == NONE, canon[:, None], np.where(hit, states, NONE)))
        d = np.take_along_axis(d_tab, E, axis=1)
        y = np.take_along_axis(y_tab, E, axis=1)
        if plan is not None:  # replayable structure: 0 nothing, 1 slab, 2 whole tile; next states
            slab = (np.take_along_axis(np.where(hit, 1, 0), E, axis=1) == 1) & partial[:, None]
            choice = np.where(zero[:, None], 0, np.where(slab, 1, 2))
            plan["steps"].append((lv, choice, y, axis))
        Dy = np.take_along_axis(D, y, axis=1)
        Ey = np.take_along_axis(E, y, axis=1)
        w = (n - 1).astype(np.float64)[:, None]
        D = np.where(lv[:, None], D + w * (d + Dy), D)
        E = np.where(lv[:, None], Ey, E)
        back = back + np.where(lv[:, None], step, 0)
    return size + D[:, NONE]


def delta_sum_fast(ext: np.ndarray, loops_dim: np.ndarray, loops_n: np.ndarray, loops_stride: np.ndarray,
                   proj_t: np.ndarray) -> np.ndarray:
    """:func:`delta_sum` with a closed form for the mappings where no move can slide the tile partially.

    Without a partial move every non-zero move costs the whole tile whatever is remembered, so the sum is
    ``size * (1 + sum over transitions j with tau_j != 0 of (N_j - 1) * prod_{i > j} N_i)``; only the other
    mappings run the dynamic programme.
    """
    size = ext.prod(axis=1).astype(np.float64)
    live = loops_n > 1
    step = proj_t.T[loops_dim] * np.where(live, loops_stride, 0)[:, :, None]  # [B, M, 4]
    back = np.cumsum(step, axis=1) - step
    tau = step - back
    nzm = tau != 0
    nz = nzm.sum(axis=2)
    mag = np.where(nzm, np.abs(tau), 0).max(axis=2)
    axis = nzm.argmax(axis=2)
    ext_a = np.take_along_axis(ext, axis, axis=1)
    partial = live & (nz == 1) & (mag < ext_a)
    need = partial.any(axis=1)
    n = loops_n.astype(np.float64)
    suffix = np.concatenate([np.cumprod(n[:, ::-1], axis=1)[:, ::-1][:, 1:], np.ones((len(n), 1))], axis=1)
    weight = (n - 1) * suffix
    out = size * (1.0 + np.where(live & (nz > 0), weight, 0.0).sum(axis=1))
    if need.any():
        idx = np.nonzero(need)[0]
        out[idx] = delta_sum(ext[idx], loops_dim[idx], loops_n[idx], loops_stride[idx], proj_t)
    return out


def delta_sum_stationary(ext: np.ndarray, loops_dim: np.ndarray, loops_n: np.ndarray,
                         proj_t: np.ndarray) -> np.ndarray:
    """Closed form of :func:`delta_sum` for data spaces whose axes each follow one dimension (Weights,
    Outputs): a tile never partially overlaps its predecessor, so a visit costs the whole tile unless the
    translation is zero. That leaves ``size * prod(N_j for loops from the innermost relevant one outward)``.
    """
    size = ext.prod(axis=1).astype(np.float64)
    relevant = (proj_t != 0).any(axis=0)[loops_dim] & (loops_n > 1)  # [B, M]
    suffix = np.cumprod(loops_n[:, ::-1].astype(np.float64), axis=1)[:, ::-1]
    first = relevant.argmax(axis=1)
    rows = np.arange(len(size))
    return size * np.where(relevant.any(axis=1), suffix[rows, first], 1.0)


def distinct_offsets(spatial: np.ndarray, inner_box: np.ndarray, proj_t: np.ndarray) -> np.ndarray:
    """Number of distinct data-space offsets among the children of a spatial fan-out (int64 [B]).

    ``spatial`` [B, 7] spatial factors of the fan-out, ``inner_box`` [B, 7] the child tile's box (the
    spatial stride of each dim). Children whose offsets coincide receive identical deltas (multicast).
    """
    B = spatial.shape[0]
    rel = (proj_t != 0)  # [4, 7]
    out = np.ones(B, np.int64)
    mixed = np.zeros(B, bool)
    for a in range(4):
        dims = np.nonzero(rel[a])[0]
        used = spatial[:, dims] > 1
        out *= np.where(used, spatial[:, dims], 1).prod(axis=1)
        if len(dims) > 1:
            mixed |= used.sum(axis=1) > 1
    for b in np.nonzero(mixed)[0]:
        count = 1
        for a in range(4):
            vals = np.zeros(1, np.int64)
            for d in np.nonzero(rel[a])[0]:
                f = int(spatial[b, d])
                if f > 1:
                    vals = (vals[:, None] + proj_t[a, d] * inner_box[b, d] * np.arange(f)[None, :]).ravel()
            count *= len(np.unique(vals))
        out[b] = count
    return out


__all__ = ["DIMS", "TENSOR_NAMES", "delta_sum", "distinct_offsets", "extents", "projection"]
