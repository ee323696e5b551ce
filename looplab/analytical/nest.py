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
  costs the slab it gained; anything else costs the whole box) only while the tile keeps the same
  translation (``gResetOnStrideChange``); :func:`delta_sum` runs that exact recursion as a small dynamic
  programme over three states.
* Spatial fan-out: a parent read is shared by all children whose deltas coincide (multicast, or spatial
  reduction for outputs); the number of distinct deltas is the number of distinct child offsets.
* ``CollapseTiles``: partition sizes, parent access share, masking of bypassed levels, first-read
  elision for outputs (``reads = updates - partition``), as in ``tiling.cpp``.
"""

from __future__ import annotations

import numpy as np

from looplab.archspec import DIMS

R, S, P, Q, C, K, N = range(7)
# Semantics switches (defaults = the behaviour that reproduces the reference Timeloop build):
#   run_last: replay iteration #N-1 of every loop (Timeloop does this for imperfect factorisations only)
#   keep_dir_no_overlap: a single-axis move past the whole tile still records its sliding direction
VARIANT: dict = {"run_last": False, "keep_dir_no_overlap": True}
TENSOR_NAMES = ("Weights", "Inputs", "Outputs")


def projection(conv: dict[str, int]) -> np.ndarray:
    """Coefficients [3 data spaces, 4 axes, 7 dims] of Timeloop's cnn_layer projections."""
    a = np.zeros((3, 4, 7), np.int64)
    # Weights: R, S, C, K
    a[0, 0, R] = a[0, 1, S] = a[0, 2, C] = a[0, 3, K] = 1
    # Inputs: W = R*Wdilation + P*Wstride, H = S*Hdilation + Q*Hstride, C, N
    a[1, 0, R], a[1, 0, P] = conv["Wdilation"], conv["Wstride"]
    a[1, 1, S], a[1, 1, Q] = conv["Hdilation"], conv["Hstride"]
    a[1, 2, C] = a[1, 3, N] = 1
    # Outputs: P, Q, K, N
    a[2, 0, P] = a[2, 1, Q] = a[2, 2, K] = a[2, 3, N] = 1
    return a


def extents(box: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """Data-space extents [..., 3, 4] of operation-space boxes ``box`` [..., 7] (bounding boxes)."""
    return np.einsum("tad,...d->...ta", proj, box - 1) + 1


def _transition(tau: np.ndarray, ext: np.ndarray, size: np.ndarray, x: np.ndarray,
                gradient_reset: bool) -> tuple[np.ndarray, np.ndarray]:
    """AAHR ``operator-`` for a tile translated by ``tau`` [B, 4] from gradient state ``x`` [B, S].

    States: 0 = no gradient, ``1 + 2*axis + (sign < 0)`` = sliding along ``axis``. Returns the delta size and
    the new state, both [B, S].
    """
    rows = np.arange(tau.shape[0])
    nzm = tau != 0
    nz = nzm.sum(axis=1)
    axis = nzm.argmax(axis=1)
    mag = np.abs(tau[rows, axis])
    ext_a = ext[rows, axis]
    partial = (nz == 1) & (mag < ext_a)
    cand = 1 + 2 * axis + (tau[rows, axis] < 0)
    if gradient_reset:
        accept = partial[:, None] & ((x == 0) | (x == cand[:, None]))
    else:
        accept = np.broadcast_to(partial[:, None], x.shape)
    slab = size * mag / np.maximum(ext_a, 1)
    d = np.where(nz[:, None] == 0, 0.0, np.where(accept, slab[:, None], size[:, None]))
    y = np.where(accept, cand[:, None], 0)
    if VARIANT.get("keep_dir_no_overlap"):
        y = np.where(((nz == 1) & (mag >= ext_a))[:, None], cand[:, None], y)
    return d, y


def delta_sum(ext: np.ndarray, loops_dim: np.ndarray, loops_n: np.ndarray, loops_stride: np.ndarray,
              proj_t: np.ndarray, direct: np.ndarray, gradient_reset: bool = True) -> np.ndarray:
    """Sum over Timeloop's visits of |tile delta| for one data space, per mapping (float64 [B]).

    ``ext`` [B, 4] tile extents; loops above the tile (innermost first) as [B, M] arrays of dim index, trip
    count and operation-space stride; ``proj_t`` [4, 7] the data space's projection; ``direct`` [B, M] marks
    the temporal loop that directly encloses the tile (its own deltas are accounted specially).

    Timeloop (``ComputeTemporalWorkingSet`` with uniform extrapolation and last-iteration replay) visits
    iterations #0, #1 (weight ``N-2``) and #N-1 of every loop with ``N >= 3`` (#0, #1 when ``N == 2``); the
    directly enclosing loop counts its #1 delta ``N-1`` times and ignores the delta of #N-1, whose visit
    still moves the tile. Deltas follow AAHR subtraction with gradient resets (:func:`_transition`), so the
    sum is a dynamic programme over loops with the 9 gradient states.
    """
    B, M = loops_n.shape
    size = ext.prod(axis=1).astype(np.float64)
    D = np.zeros((B, 9))
    E = np.tile(np.arange(9), (B, 1))
    back = np.zeros((B, 4), np.int64)  # translation of the lower loops from their last position back to 0
    for j in range(M):
        n = loops_n[:, j]
        live = n > 1
        if not live.any():
            continue
        three = (n > 2) & bool(VARIANT.get("run_last", True))
        step = proj_t[:, loops_dim[:, j]].T * loops_stride[:, j, None]  # [B, 4]
        tau_a = step - back
        tau_b = step * np.maximum(n - 2, 0)[:, None] - back
        d1, y1 = _transition(tau_a, ext, size, E, gradient_reset)
        x2 = np.take_along_axis(E, y1, axis=1)
        d2, y2 = _transition(tau_b, ext, size, x2, gradient_reset)
        w1 = np.where(three, n - 2, n - 1).astype(np.float64)[:, None]
        dj = direct[:, j][:, None]
        c1 = np.where(dj, (n - 1).astype(np.float64)[:, None], w1)
        c2 = np.where(dj, 0.0, 1.0)
        Dy1 = np.take_along_axis(D, y1, axis=1)
        Dy2 = np.take_along_axis(D, y2, axis=1)
        t3 = three[:, None]
        Dn = D + c1 * d1 + w1 * Dy1 + np.where(t3, c2 * d2 + Dy2, 0.0)
        En = np.where(t3, np.take_along_axis(E, y2, axis=1), x2)
        D = np.where(live[:, None], Dn, D)
        E = np.where(live[:, None], En, E)
        last = np.where(three | (n == 2), n - 1, 1)
        back = back + np.where(live[:, None], step * last[:, None], 0)
    return size + D[:, 0]


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
