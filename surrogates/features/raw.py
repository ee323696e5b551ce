"""``raw`` features: the accelerator's parameters and the mapping as it is written (the first study's ~132 columns).

Columns (``<L>`` a storage level, innermost first; ``<D>`` one of R S P Q C K N):

* accelerator (:func:`accelerator_block`): ``cap_<L>`` log2 capacity in words of every bounded level,
  ``fanout_<L>`` log2 fan-out (X*Y instances below) of every level the family maps spatial loops to,
  ``macs`` log2 arithmetic instances;
* per level and dim: ``t_<L>_<D>`` log2 temporal factor, ``s_<L>_<D>`` log2 spatial factor (X*Y), ``rank_<L>_<D>``
  position of the dim in the level's loop permutation (0 = innermost).

Simba: 5 + 3 + 1 + 6*7*3 = 135 columns; Gemmini: 3 + 2 + 1 + 4*7*3 = 90.
"""

from __future__ import annotations

import numpy as np

from looplab.archspec import DIMS
from surrogates.features.context import Design


def accelerator_block(d: Design) -> tuple[list[str], list[np.ndarray]]:
    names: list[str] = []
    cols: list[np.ndarray] = []
    for i in d.bounded:
        names.append(f"cap_{d.level_names[i]}")
        cols.append(np.log2(d.cap[:, i]))
    for i in d.spatial_levels:
        names.append(f"fanout_{d.level_names[i]}")
        cols.append(np.log2(d.fan[:, i]))
    names.append("macs")
    cols.append(np.log2(d.arith[:, 0]))
    return names, cols


def raw_features(d: Design) -> tuple[list[str], np.ndarray]:
    """``(column names, float32 [B, F])`` of the ``raw`` set."""
    names, cols = accelerator_block(d)
    rank = np.argsort(d.perm, axis=2)  # position of dim d in the permutation
    for li, lv in enumerate(d.level_names):
        for di, dim in enumerate(DIMS):
            names += [f"t_{lv}_{dim}", f"s_{lv}_{dim}", f"rank_{lv}_{dim}"]
            cols += [np.log2(d.t[:, li, di]), np.log2(d.sx[:, li, di] * d.sy[:, li, di]),
                     rank[:, li, di].astype(np.float64)]
    return names, np.stack(cols, axis=1).astype(np.float32)
