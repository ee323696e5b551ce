"""DOSA CSV rows with looplab's analytical model evaluated on each (the input of every RTL-latency predictor).

:func:`load_rtl_csv` reads any CSV in DOSA's format (``mapping.mapping``, ``arch.*``, ``prob.*``; ``target.*``
optional), builds each row's Gemmini architecture as ``looplab correlate`` does (:func:`looplab.correlate.dosa_arch`:
the row's sizes and bandwidth columns), and runs the analytical model reproducing DOSA's Timeloop build
(``build="dosa"``) on every row, keeping the per-level statistics the RTL features need. Rows stay in file order.
The analytical numbers are computed for every row, also where the mapping would overflow looplab's architecture:
the model's counts are defined regardless, and the RTL predictors only need them as inputs.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from looplab.errors import LooplabError

#: DOSA's FireSim-measured RTL cycle count (``target.cycle`` equals it in ``firesim_training.csv``).
RTL_TARGET = "gemmini_cycle"
LAYER_KEYS = ("R", "S", "P", "Q", "C", "K", "N", "Wstride", "Hstride", "Wdilation", "Hdilation")


@dataclass
class RtlData:
    """Row-aligned arrays of one DOSA CSV (levels innermost first: Registers, Accumulator, Scratchpad, DRAM)."""

    source: str
    lines: np.ndarray  # [B] CSV line numbers (header is line 1)
    dims: np.ndarray  # [B, 11] LAYER_KEYS
    pe_dim: np.ndarray  # [B]
    temporal: np.ndarray  # [B, L, 7] (R S P Q C K N)
    spatial: np.ndarray  # [B, L, 7] spatial_x * spatial_y
    perm: np.ndarray  # [B, L, 7] dim indices innermost first
    ana_cycles: np.ndarray  # [B] analytical model (DOSA's Timeloop build)
    compute_cycles: np.ndarray  # [B] temporal iterations of the MAC array
    level_cycles: np.ndarray  # [B, L] bandwidth-bound cycles per storage level
    reads: np.ndarray  # [B, L, 3] per instance (Weights, Inputs, Outputs); 0 where bypassed
    fills: np.ndarray
    updates: np.ndarray
    tile: np.ndarray  # [B, L, 3] utilized capacity (words) per instance; 0 where bypassed
    instances: np.ndarray  # [B, L] utilized instances
    rtl_cycles: np.ndarray | None  # [B] target.gemmini_cycle (None when the file has no such column)
    design: Any = None  # the rows as a surrogates.features.Design (the surrogates' raw / cosa feature sets)

    def __len__(self) -> int:
        return int(self.lines.shape[0])

    @property
    def layer_ids(self) -> np.ndarray:
        """One string per row naming its layer shape (the group of the group k-fold)."""
        return np.array(["_".join(f"{k}{v}" for k, v in zip(LAYER_KEYS, d, strict=True)) for d in self.dims])



def load_rtl_csv(path: str | Path, require_target: bool = False, progress: bool = False) -> RtlData:
    """Every row of a DOSA-format CSV with the analytical model's statistics (see the module docstring)."""
    from looplab.analytical.builds import extra_write_words
    from looplab.analytical.model import analyse, costs, level_costs
    from looplab.correlate import dosa_arch
    from looplab.energy.estimator import estimate_ert
    from mappers.dosa import GEMMINI_LEVELS, iter_dosa_csv
    from mappers.mapping import MappingBatch
    from surrogates.features import arch_arrays, design_rows

    path = Path(path)
    rows = list(iter_dosa_csv(path))
    if not rows:
        raise LooplabError("no rows", str(path))
    B, L = len(rows), len(GEMMINI_LEVELS)
    rtl = None
    if any(RTL_TARGET in r.targets for r in rows) or require_target:
        missing = [r.line for r in rows if RTL_TARGET not in r.targets]
        if missing:
            raise LooplabError(f"no target.{RTL_TARGET} (the FireSim RTL cycle count) on line {missing[0]}"
                               f" ({len(missing)} rows lack it)", str(path))
        rtl = np.array([r.targets[RTL_TARGET] for r in rows], float)
        bad = np.flatnonzero(~(rtl > 0))
        if len(bad):
            raise LooplabError(f"target.{RTL_TARGET} must be > 0 (line {rows[bad[0]].line}: {rtl[bad[0]]!r})",
                               str(path))
    out = {k: np.zeros((B, L, 3)) for k in ("reads", "fills", "updates", "tile")}
    ana = np.zeros(B)
    comp = np.zeros(B)
    lvl = np.zeros((B, L))
    inst = np.zeros((B, L))
    archs: dict[tuple, tuple] = {}
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        akey = (tuple(sorted(r.arch_params.items())),
                tuple(sorted((lv, tuple(sorted(b.items()))) for lv, b in r.bandwidths.items())))
        if akey not in archs:
            _, arch = dosa_arch(dict(r.arch_params), r.bandwidths, f"{path}: line {r.line}")
            archs[akey] = (arch, level_costs(arch, estimate_ert(arch)))
        groups[(akey, tuple(r.dims[k] for k in LAYER_KEYS))].append(i)
    batch_all = MappingBatch.from_mappings([r.mapping for r in rows], GEMMINI_LEVELS)
    arch_index = np.zeros(B, np.int64)
    done = 0
    for (akey, dims_t), idx in groups.items():
        arch_index[idx] = list(archs).index(akey)
        arch, lc = archs[akey]
        dims = dict(zip(LAYER_KEYS, dims_t, strict=True))
        ix = np.array(idx)
        st = analyse(arch, dims, batch_all[ix])
        co = costs(st, lc, extra_write_words("dosa", st))
        kept = st.utilized_capacity > 0
        for k, v in (("reads", st.reads), ("fills", st.fills), ("updates", st.updates),
                     ("tile", st.utilized_capacity)):
            out[k][ix] = np.where(kept, v, 0.0)
        ana[ix] = co.cycles
        comp[ix] = st.compute_cycles
        lvl[ix] = co.level_cycles
        inst[ix] = st.utilized_instances
        done += len(idx)
        if progress:
            print(f"analytical model: {done}/{B} rows", file=sys.stderr)
    dims_all = np.array([[r.dims[k] for k in LAYER_KEYS] for r in rows], np.int64)
    arrays = [arch_arrays(a) for a, _ in archs.values()]
    design = design_rows(arrays[0], dims_all[:, :7], dims_all[:, 7:], batch_all, arch_index, arrays)
    return RtlData(source=str(path), lines=np.array([r.line for r in rows]), dims=dims_all, design=design,
                   pe_dim=np.array([r.arch_params["pe_dim"] for r in rows], np.int64),
                   temporal=batch_all.temporal.copy(), spatial=batch_all.spatial_x * batch_all.spatial_y,
                   perm=batch_all.perm.astype(np.int64), ana_cycles=ana, compute_cycles=comp, level_cycles=lvl,
                   instances=inst, rtl_cycles=rtl, **out)
