"""``cosa`` features: the first study's preprocessed set after CoSA (~36 columns), all relative or log-scale.

Columns (``<L>`` a storage level, ``<T>`` a tensor W/I/O; every quantity is log2 unless said otherwise):

* the accelerator block of :mod:`surrogates.features.raw` (``cap_<L>``, ``fanout_<L>``, ``macs``);
* ``layer_macs``: log2 of the layer's MAC count;
* ``util_<L>_<T>``: tile words of tensor ``T`` held at bounded level ``L`` / the level's capacity (for the tensors
  the level keeps; a tile is every temporal and spatial factor at ``L`` and below, inputs with the sliding
  window, as Timeloop sizes it); ``util_<L>``: the sum over kept tensors / capacity (> 0: does not fit);
* ``spatial_<L>``: product of the spatial factors at ``L`` (levels with a fan-out); ``spatial_total``: over all
  levels (the MACs working in parallel);
* ``fanout_use_<L>``: instances of ``L`` used / available, the larger of the total, X and Y ratios with
  Timeloop's cumulative rule (levels with several instances, and the arithmetic level ``fanout_use_macs``;
  > 0: over-used);
* ``traffic_<L>``: words filled into every instance of ``L`` over the layer, from CoSA-style reuse: a tile is
  fetched once per iteration of the loops above ``L``, except irrelevant loops inside the innermost relevant one
  (stationary reuse) and irrelevant spatial loops (multicast); ``traffic_DRAM``: words read from or written to
  DRAM (the fills of each tensor's outermost on-chip holder);
* ``bwtime_<L>``: for levels with a bandwidth limit, (words filled into + served by ``L``) / (instances x words
  per cycle), a lower bound on the cycles the level needs.

None of these is the analytical model's cycles or energy; they are what CoSA's objective is built from.
"""

from __future__ import annotations

import numpy as np

from looplab.archspec import DIMS, TENSORS
from mappers.validity import tile_sizes
from surrogates.features.context import Design
from surrogates.features.raw import accelerator_block

R, S, P, Q, C, K, N = range(7)
#: dims indexing each tensor (Weights, Inputs, Outputs)
RELEVANT = np.array([[d in "RSCK" for d in DIMS], [d in "RSPQCN" for d in DIMS], [d in "PQKN" for d in DIMS]])
SHORT = {"Weights": "W", "Inputs": "I", "Outputs": "O"}


def _log2(x: np.ndarray) -> np.ndarray:
    return np.log2(np.maximum(x, 1e-30))


def tiles(d: Design) -> np.ndarray:
    """Tile words [B, L, 3] of each tensor at each level (all factors at the level and below)."""
    cum = np.cumprod(d.t * d.sx * d.sy, axis=1).astype(np.float64)
    conv = {k: d.conv[:, i][:, None].astype(np.float64) for i, k in
            enumerate(("Wstride", "Hstride", "Wdilation", "Hdilation"))}
    return tile_sizes(cum, conv)


def fetches(d: Design) -> np.ndarray:
    """Tile loads [B, L+1, 3]: how many times a tile of each tensor is brought into all instances of level
    ``l - 1`` (index 0: the arithmetic level, a one-word tile) under the reuse rule of the module docstring."""
    B, L, _ = d.t.shape
    rows = np.arange(B)
    out = np.ones((B, L + 1, 3))
    for lo in range(-1, L - 1):
        for ti in range(3):
            rel = RELEVANT[ti]
            count = np.ones(B)
            seen = np.zeros(B, bool)
            for j in range(lo + 1, L):
                spat = d.sx[:, j] * d.sy[:, j]
                count *= np.where(rel[None, :], spat, 1).prod(axis=1)
                for pos in range(7):
                    dim = d.perm[:, j, pos]
                    f = d.t[rows, j, dim]
                    seen |= rel[dim] & (f > 1)
                    count *= np.where(seen, f, 1)
            out[:, lo + 1, ti] = count
    return out


def cosa_features(d: Design) -> tuple[list[str], np.ndarray]:
    """``(column names, float32 [B, F])`` of the ``cosa`` set."""
    names, cols = accelerator_block(d)
    B, L, _ = d.t.shape
    names.append("layer_macs")
    cols.append(_log2(d.size.astype(np.float64).prod(axis=1)))
    tile = tiles(d)
    kept = tile * d.keep
    for i in d.bounded:
        lv = d.level_names[i]
        for ti, t in enumerate(TENSORS):
            if d.keep[:, i, ti].any():
                names.append(f"util_{lv}_{SHORT[t]}")
                cols.append(_log2(tile[:, i, ti] / d.cap[:, i]))
        names.append(f"util_{lv}")
        cols.append(_log2(kept[:, i].sum(axis=1) / d.cap[:, i]))
    for i in d.spatial_levels:
        names.append(f"spatial_{d.level_names[i]}")
        cols.append(_log2((d.sx[:, i] * d.sy[:, i]).prod(axis=1).astype(np.float64)))
    names.append("spatial_total")  # MACs working in parallel
    cols.append(_log2((d.sx * d.sy).prod(axis=(1, 2)).astype(np.float64)))
    # Timeloop's cumulative fan-out rule: instances of level i used = spatial factors of the levels above it.
    px = d.sx.prod(axis=2).astype(np.float64)
    py = d.sy.prod(axis=2).astype(np.float64)
    rx = np.cumprod(px[:, ::-1], axis=1)[:, ::-1]  # product over levels >= i
    ry = np.cumprod(py[:, ::-1], axis=1)[:, ::-1]
    above_x = np.concatenate([rx[:, 1:], np.ones((B, 1))], axis=1)  # levels > i
    above_y = np.concatenate([ry[:, 1:], np.ones((B, 1))], axis=1)
    top = max(d.spatial_levels, default=-1)
    for i in range(min(top, L)):
        use = np.maximum.reduce([above_x[:, i] * above_y[:, i] / d.inst[:, i], above_x[:, i] / d.mx[:, i],
                                 above_y[:, i] / d.my[:, i]])
        names.append(f"fanout_use_{d.level_names[i]}")
        cols.append(_log2(use))
    all_x, all_y = px.prod(axis=1), py.prod(axis=1)
    names.append("fanout_use_macs")
    cols.append(_log2(np.maximum.reduce([all_x * all_y / d.arith[:, 0], all_x / d.arith[:, 1],
                                         all_y / d.arith[:, 2]])))
    # Traffic: fills of level l = tile at l x tile loads into l (0 where l bypasses the tensor).
    loads = fetches(d)  # [B, L+1, 3]; index l+1 is level l
    fills = np.concatenate([np.ones((B, 1, 3)), tile], axis=1) * loads  # index 0: operands to the MACs
    keep_ext = np.concatenate([np.ones((B, 1, 3), bool), d.keep], axis=1)
    fills = fills * keep_ext
    for i in range(L - 1):
        names.append(f"traffic_{d.level_names[i]}")
        cols.append(_log2(1.0 + fills[:, i + 1].sum(axis=1)))
    # Served by level l: fills of the nearest inner holder of each tensor that level l keeps.
    served = np.zeros((B, L))
    holder = np.zeros((B, 3), np.int64)  # extended index of the nearest holder so far (0: the MACs)
    rows = np.arange(B)
    for i in range(L):
        for ti in range(3):
            k = d.keep[:, i, ti]
            served[:, i] += np.where(k, fills[rows, holder[:, ti], ti], 0.0)
            holder[:, ti] = np.where(k, i + 1, holder[:, ti])
    names.append(f"traffic_{d.level_names[-1]}")
    cols.append(_log2(1.0 + served[:, L - 1]))
    for i in range(L):
        if np.isfinite(d.bw[:, i]).all():
            names.append(f"bwtime_{d.level_names[i]}")
            words = served[:, i] + (fills[:, i + 1].sum(axis=1) if i < L - 1 else 0.0)
            cols.append(_log2(1.0 + words / (d.inst[:, i] * d.bw[:, i])))
    return names, np.stack(cols, axis=1).astype(np.float32)
