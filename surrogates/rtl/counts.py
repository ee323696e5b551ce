"""Gemmini's work counted per mapping, and a non-negative cycles-per-count model of the RTL over them.

Gemmini runs a convolution as one ``sp_tiled_conv`` call (one hardware loop of moves in, preloads, computes and
moves out) per iteration of the DRAM-level loops; each call works on the tile held below DRAM, padded to the
``array_dim`` x ``array_dim`` array in input channels (C) and output channels (K). Counted over the whole layer
(:func:`gemmini_counts`), in log2:

* ``log_n_calls``: calls (DRAM-level loop iterations);
* ``log_n_stream``: rows streamed through the array (one per output pixel, kernel position, C block and K block);
* ``log_n_in_rows``: input DMA rows (one per input pixel of a call's tile and C block; the halo counted);
* ``log_n_w_rows``: weight DMA rows (one per kernel position, input channel and K block);
* ``log_n_out_rows``: output DMA rows (one per output pixel and K block);
* ``matmul``: 1 for matrix multiplications (1x1 kernels over one row or column of pixels: R = S = 1 and P or Q 1),
  which Gemmini runs through its matmul loop, with a cost per call two orders of magnitude below a convolution's.

Two more counts of the ``rtl`` feature set join them (:data:`COUNT_COLUMNS`): weight preloads and compute
instructions, from the mapping's spatial factors (:func:`surrogates.rtl.features.rtl_features`).

:class:`CountModel` fits ``cycles = sum_j c_j n_j`` with every ``c_j >= 0`` (cycles per call, per streamed row,
per DMA row, per instruction, and per analytical cycle) on log2 cycles with a soft-L1 loss, convolutions and matrix
multiplications with their own coefficients (:func:`count_inputs`; the analytical cycles share one): a few
parameters with a physical reading, additive in work, so it extrapolates in magnitude to layers it has not seen
where trees cannot. The RTL predictors use it as the base that a learned residual corrects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from looplab.errors import LooplabError

COUNT_COLUMNS = ("log_n_calls", "log_n_stream", "log_n_in_rows", "log_n_w_rows", "log_n_out_rows", "log_preloads",
                 "log_compute_instr")
#: every column :func:`count_inputs` reads
BASE_COLUMNS = (*COUNT_COLUMNS, "matmul", "log_ana")
R, S, P, Q, C, K, N = range(7)
WSTRIDE, HSTRIDE, WDIL, HDIL = 7, 8, 9, 10  # columns of RtlData.dims after R..N
SP = 2  # Scratchpad: the level whose tile one call works on (everything below DRAM)


def _lg(x: np.ndarray) -> np.ndarray:
    return np.log2(np.maximum(np.asarray(x, float), 1.0))


def gemmini_counts(temporal: np.ndarray, spatial: np.ndarray, dims: np.ndarray, array_dim: int = 16) -> pd.DataFrame:
    """The counts of the module docstring (log2), one row per mapping. ``temporal``, ``spatial``: [B, L, 7]
    factors (R S P Q C K N, levels innermost first, DRAM last); ``dims``: [B, 11] (R..N, Wstride, Hstride,
    Wdilation, Hdilation: P and R go with W, Q and S with H, as in Timeloop's cnn-layer)."""
    t, sp, dims = (np.asarray(a, float) for a in (temporal, spatial, dims))
    if t.ndim != 3 or t.shape != sp.shape or t.shape[2] != 7 or dims.shape != (t.shape[0], 11):
        raise LooplabError(f"expected [B, L, 7] factors and [B, 11] dims, got {t.shape}, {sp.shape}, {dims.shape}",
                           "gemmini_counts")
    D = float(array_dim)
    box = np.cumprod(t * sp, axis=1)[:, SP]  # [B, 7] extent of one call's tile
    calls = t[:, -1].prod(axis=1)
    cblk, kblk = np.ceil(box[:, C] / D), np.ceil(box[:, K] / D)
    pix = box[:, N] * box[:, P] * box[:, Q]
    in_rows = (box[:, P] - 1) * dims[:, WSTRIDE] + (box[:, R] - 1) * dims[:, WDIL] + 1
    in_cols = (box[:, Q] - 1) * dims[:, HSTRIDE] + (box[:, S] - 1) * dims[:, HDIL] + 1
    n = {"log_n_calls": calls,
         "log_n_stream": calls * pix * box[:, R] * box[:, S] * cblk * kblk,
         "log_n_in_rows": calls * box[:, N] * in_rows * in_cols * cblk,
         "log_n_w_rows": calls * box[:, R] * box[:, S] * box[:, C] * kblk,
         "log_n_out_rows": calls * pix * kblk}
    out = pd.DataFrame({k: _lg(v) for k, v in n.items()})
    out["matmul"] = ((dims[:, R] == 1) & (dims[:, S] == 1) & ((dims[:, P] == 1) | (dims[:, Q] == 1))).astype(float)
    return out


def count_inputs(X: pd.DataFrame) -> np.ndarray:
    """The count model's input from a design matrix: the counts of convolutions, the counts of matrix
    multiplications (each -inf, a count of 0, on the other kind's rows) and the analytical cycles, log2."""
    missing = [c for c in BASE_COLUMNS if c not in X.columns]
    if missing:
        raise LooplabError(f"the count model needs the 'rtl' feature set (no column {missing[0]!r})", "X")
    n = X[list(COUNT_COLUMNS)].to_numpy(float)
    mm = X["matmul"].to_numpy(float)[:, None] > 0.5
    return np.c_[np.where(mm, -np.inf, n), np.where(mm, n, -np.inf), X["log_ana"].to_numpy(float)]


def count_inputs_torch(X, names: list[str]):
    """:func:`count_inputs` of a torch tensor laid out like a design matrix with columns ``names``."""
    import torch

    n = X[:, torch.as_tensor([names.index(c) for c in COUNT_COLUMNS])]
    mm = X[:, names.index("matmul")][:, None] > 0.5
    ninf = torch.full_like(n, -torch.inf)
    return torch.cat([torch.where(mm, ninf, n), torch.where(mm, n, ninf), X[:, [names.index("log_ana")]]], dim=1)


class CountModel(RegressorMixin, BaseEstimator):
    """``cycles = sum_j coef_j * 2**X[:, j]`` with ``coef_ >= 0``, fitted by least squares on log2 cycles with a
    soft-L1 loss (``f_scale`` in log2 units; the few extreme rows pull less). ``X``: log2 counts (any columns,
    e.g. :data:`COUNT_COLUMNS` and ``log_ana``); ``y``: cycles > 0."""

    def __init__(self, f_scale: float = 0.5):
        self.f_scale = f_scale

    def fit(self, X, y) -> CountModel:
        from scipy.optimize import least_squares

        n = np.exp2(np.asarray(X, float))  # -inf -> a count of 0
        ly = np.log2(np.asarray(y, float))
        if n.ndim != 2 or len(n) != len(ly) or not np.isfinite(ly).all():
            raise LooplabError("CountModel needs [B, J] log2 counts and B cycles > 0", "CountModel.fit")
        # start every term at the share that alone would explain the median cycles (over the rows it counts on)
        share = np.full(n.shape[1], 1e-17)
        for j in range(n.shape[1]):
            on = n[:, j] > 0
            if on.any():
                share[j] = np.median(np.exp2(ly[on]) / n[on, j]) / n.shape[1]
        p0 = np.clip(np.log(share), -39.0, 19.0)

        def residual(p: np.ndarray) -> np.ndarray:
            return np.log2(n @ np.exp(p) + 1e-12) - ly

        fit = least_squares(residual, p0, loss="soft_l1", f_scale=self.f_scale, bounds=(-40.0, 20.0))
        self.coef_ = np.exp(fit.x)
        self.n_features_in_ = n.shape[1]
        return self

    def predict_log2(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.log2(np.exp2(np.asarray(X, float)) @ self.coef_ + 1e-12)

    def predict(self, X) -> np.ndarray:
        return np.exp2(self.predict_log2(X))

    def torch_log2(self, X):
        """Differentiable :meth:`predict_log2` of a torch tensor of log2 counts."""
        import torch

        check_is_fitted(self, "coef_")
        log_c = torch.log(torch.as_tensor(np.maximum(self.coef_, 1e-300), dtype=X.dtype, device=X.device))
        return torch.logsumexp(X * np.log(2.0) + log_c, dim=1) / np.log(2.0)
