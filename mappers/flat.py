"""Flat numeric vectors of a :class:`MappingBatch` (features, gradient search) and back.

Layout per level (levels innermost first), ``5*7 + 3`` columns:

* ``t.<level>.<dim>``   log2 of the temporal factor,
* ``sx.<level>.<dim>``  log2 of the spatial-X factor,
* ``sy.<level>.<dim>``  log2 of the spatial-Y factor,
* ``rank.<level>.<dim>``  position of the dim in the loop permutation (0 = innermost),
* ``srank.<level>.<dim>`` position in the spatial permutation,
* ``keep.<level>.<tensor>`` 1 when the level keeps the tensor.

:func:`from_vector` inverts it exactly for vectors made by :func:`to_vector`; for edited (continuous) vectors it
rounds ``2**x`` to the nearest integer >= 1, orders loops by their (real-valued) rank and keeps a tensor when
its value is > 0.5. It does not force the factors to multiply to a layer's dims; check with
``Mapping.check_layer`` or :func:`mappers.validity.check_batch` (kind ``"factors"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from looplab.archspec import DIMS, TENSORS
from looplab.errors import LooplabError
from mappers.mapping import MappingBatch

BLOCKS = ("t", "sx", "sy", "rank", "srank")


def column_names(level_names: Sequence[str]) -> list[str]:
    cols = []
    for lv in level_names:
        for blk in BLOCKS:
            cols += [f"{blk}.{lv}.{d}" for d in DIMS]
        cols += [f"keep.{lv}.{t}" for t in TENSORS]
    return cols


def width(n_levels: int) -> int:
    return n_levels * (len(BLOCKS) * 7 + 3)


def to_vector(batch: MappingBatch) -> np.ndarray:
    """``float64 [B, L*(5*7+3)]`` in the layout of :func:`column_names`."""
    B, L = len(batch), len(batch.level_names)
    sperm = batch.sperm if batch.sperm is not None else np.broadcast_to(np.arange(7, dtype=np.int8), (B, L, 7))
    rank = np.argsort(batch.perm, axis=2)  # position of dim d in the permutation
    srank = np.argsort(sperm, axis=2)
    parts = [np.log2(batch.temporal), np.log2(batch.spatial_x), np.log2(batch.spatial_y),
             rank.astype(np.float64), srank.astype(np.float64), batch.keep.astype(np.float64)]
    return np.concatenate(parts, axis=2).reshape(B, -1)


def from_vector(x: np.ndarray, level_names: Sequence[str]) -> MappingBatch:
    """Inverse of :func:`to_vector` (see the module docstring for non-exact vectors)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    L = len(level_names)
    if x.ndim != 2 or x.shape[1] != width(L):
        raise LooplabError(f"expected vectors of width {width(L)} for {L} levels, got shape {x.shape}",
                           "flat vector")
    if not np.isfinite(x).all():
        raise LooplabError("vector holds NaN or infinite values", "flat vector")
    B = x.shape[0]
    v = x.reshape(B, L, len(BLOCKS) * 7 + 3)

    def factors(block: int) -> np.ndarray:
        return np.maximum(1, np.rint(np.exp2(v[:, :, block * 7:(block + 1) * 7]))).astype(np.int64)

    perm = np.argsort(v[:, :, 21:28], axis=2, kind="stable").astype(np.int8)
    sperm = np.argsort(v[:, :, 28:35], axis=2, kind="stable").astype(np.int8)
    keep = v[:, :, 35:38] > 0.5
    return MappingBatch(tuple(level_names), factors(0), factors(1), factors(2), perm, keep, sperm)
