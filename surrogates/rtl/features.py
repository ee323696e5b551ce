"""Feature sets of the RTL-latency predictors (pure functions of :class:`surrogates.rtl.data.RtlData`).

``rtl``: what Timeloop's analytical model does not capture on Gemmini's RTL, in log2 counts (``log2(1 + x)`` for
counts that can be 0), plus the analytical model's own cycles and bottlenecks:

* analytical: cycles, compute-bound cycles, each level's bandwidth-bound cycles relative to compute;
* the real array (``array_dim`` x ``array_dim``; DOSA's FireSim Gemmini is 16x16 even where the CSV's Timeloop
  architecture is larger): C and K spatial factors, their padding to the array (used share of a block), the
  number of array blocks one spatial tile needs, the compute rows that gives;
* loop-iteration counts per level (tiles), and the DRAM- and Accumulator-level factors of the kernel (R*S), channel
  (C), output-channel (K) and pixel (P*Q*N) loops;
* instruction counts: weight preloads (one per Registers tile), rows streamed per preload, compute instructions
  (one per ``array_dim`` rows), DMA rows moved in and out (one per ``array_dim`` channels of a pixel or a weight row;
  channels padded to the row), accumulator read-back (output words written to and partial sums read from DRAM);
* DMA traffic per tensor and the tile sizes moved per transfer;
* Gemmini's work counted per call of its hardware loop (:mod:`surrogates.rtl.counts`: calls, streamed rows, input,
  weight and output DMA rows), the inputs of the count model the residual predictors build on;
* the layer: MACs, kernel size, stride.

``raw`` and ``cosa``: the surrogates' generic feature sets (:mod:`surrogates.features`, docs/surrogates.md) of the
same rows, the "learned alone" predictors' inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from looplab.errors import LooplabError
from surrogates.rtl.counts import gemmini_counts
from surrogates.rtl.data import RtlData

LEVELS = ("Registers", "Accumulator", "Scratchpad", "DRAM")
R, S, P, Q, C, K, N = range(7)
W, I, O = range(3)
REG, ACC, SP, DRAM = range(4)
FEATURE_SETS = ("rtl", "raw", "cosa")


def _lg(x: np.ndarray) -> np.ndarray:
    return np.log2(np.maximum(np.asarray(x, float), 1.0))


def _lg1(x: np.ndarray) -> np.ndarray:
    return np.log2(1.0 + np.maximum(np.asarray(x, float), 0.0))


def rtl_features(d: RtlData, array_dim: int = 16) -> pd.DataFrame:
    """The ``rtl`` feature set (see the module docstring), one row per row of ``d``."""
    D = float(array_dim)
    t, sp = d.temporal.astype(float), d.spatial.astype(float)
    dims = d.dims.astype(float)
    f: dict[str, np.ndarray] = {}
    f["log_ana"] = _lg(d.ana_cycles)
    f["log_compute"] = _lg(d.compute_cycles)
    for lv in (ACC, SP, DRAM):
        f[f"log_bw_{LEVELS[lv]}"] = _lg(d.level_cycles[:, lv] / np.maximum(d.compute_cycles, 1))
    macs = dims[:, :7].prod(axis=1)
    f["log_macs"] = _lg(macs)
    f["log_RS"] = _lg(dims[:, R] * dims[:, S])
    f["stride"] = dims[:, 7]
    # the real array: spatial factors, padding, blocks
    cx, kx = sp[:, :, C].prod(axis=1), sp[:, :, K].prod(axis=1)
    bc, bk = np.ceil(cx / D), np.ceil(kx / D)
    f["log_Cx"], f["log_Kx"] = _lg(cx), _lg(kx)
    f["used_C"], f["used_K"] = cx / (D * bc), kx / (D * bk)
    blocks = bc * bk
    f["log_blocks"] = _lg(blocks)
    f["log_rtl_compute"] = _lg(d.compute_cycles * blocks)
    # tiles per level and where the loops sit
    for lv in (ACC, SP, DRAM):
        f[f"log_iter_{LEVELS[lv]}"] = _lg(t[:, lv].prod(axis=1))
    for lv in (ACC, DRAM):
        name = LEVELS[lv]
        f[f"log_{name}_RS"] = _lg(t[:, lv, R] * t[:, lv, S])
        f[f"log_{name}_C"] = _lg(t[:, lv, C])
        f[f"log_{name}_K"] = _lg(t[:, lv, K])
        f[f"log_{name}_PQN"] = _lg(t[:, lv, P] * t[:, lv, Q] * t[:, lv, N])
    # instructions
    rows_pp = t[:, REG].prod(axis=1)  # rows streamed through one preloaded weight block
    preloads = d.compute_cycles / rows_pp * blocks
    f["log_rows_per_preload"] = _lg(rows_pp)
    f["log_preloads"] = _lg(preloads)
    f["log_compute_instr"] = _lg(preloads * np.ceil(rows_pp / D))
    # DMA: rows of up to array_dim bytes; a row holds channels of one pixel (inputs) or output channels (W, O)
    tile_box = np.cumprod(t * sp, axis=1)  # [B, L, 7] extent of each level's tile
    c_sp, k_sp = tile_box[:, SP, C], tile_box[:, SP, K]
    k_acc = tile_box[:, ACC, K]
    row_i = np.minimum(c_sp, D) / (D * np.ceil(np.minimum(c_sp, D) / D))
    rows_in = d.reads[:, DRAM, I] / np.minimum(c_sp, D) + d.reads[:, DRAM, W] / np.minimum(k_sp, D)
    rows_out = (d.updates[:, DRAM, O] + d.reads[:, DRAM, O]) / np.minimum(k_acc, D)
    f["log_dma_rows_in"] = _lg1(rows_in)
    f["log_dma_rows_out"] = _lg1(rows_out)
    f["used_dma_row_I"] = row_i
    f["log_dram_W"] = _lg1(d.reads[:, DRAM, W])
    f["log_dram_I"] = _lg1(d.reads[:, DRAM, I])
    f["log_dram_O_out"] = _lg1(d.updates[:, DRAM, O])
    f["log_dram_O_back"] = _lg1(d.reads[:, DRAM, O])
    f["log_sp_reads"] = _lg1(d.reads[:, SP, W] + d.reads[:, SP, I])
    f["log_acc_updates"] = _lg1(d.updates[:, ACC, O] * d.instances[:, ACC])
    f["log_tile_sp_W"] = _lg1(d.tile[:, SP, W])
    f["log_tile_sp_I"] = _lg1(d.tile[:, SP, I])
    f["log_tile_acc_O"] = _lg1(d.tile[:, ACC, O] * d.instances[:, ACC])
    f["log_dma_per_tile"] = _lg1((rows_in + rows_out) / np.maximum(t[:, DRAM].prod(axis=1), 1))
    out = pd.DataFrame(f)
    return pd.concat([out, gemmini_counts(d.temporal, d.spatial, d.dims, array_dim)], axis=1)


def design_matrix(d: RtlData, kind: str = "rtl", array_dim: int = 16) -> pd.DataFrame:
    """The feature set ``kind`` plus ``log_ana`` (log2 analytical cycles), the input of
    :class:`surrogates.rtl.estimators.RtlLatencyRegressor`."""
    if kind == "rtl":
        return rtl_features(d, array_dim)
    if kind in ("raw", "cosa"):
        from surrogates.features import features

        names, F = features(d.design, kind)
        out = pd.DataFrame(np.asarray(F, float), columns=names)
        out.insert(0, "log_ana", _lg(d.ana_cycles))
        return out
    raise LooplabError(f"unknown RTL feature set {kind!r} (choose from {', '.join(FEATURE_SETS)})", "--features")
