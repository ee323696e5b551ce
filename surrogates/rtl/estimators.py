"""RTL-latency predictors behind scikit-learn's estimator contract.

Every predictor takes a feature frame (:func:`surrogates.rtl.features.design_matrix`: a feature set plus the
analytical model's ``log_ana`` = log2 cycles) and RTL cycles, and learns in log space:

* ``mode="analytical"``: ``log y = a + b * log_ana`` (least squares; the analytical model with a log-affine
  calibration);
* ``mode="learned"``: ``log y = f(features)`` without anything from the analytical model;
* ``mode="residual"``: ``log y = log base + f(features)``: the learned part is the log-ratio RTL / base, where the
  base is the analytical model (``base="analytical"``) or the count model over Gemmini's work and the analytical
  cycles (``base="counts"``, :class:`surrogates.rtl.counts.CountModel`, fitted first on the same rows; ``f`` also
  sees its log2 prediction as the column ``log_base``);
* ``mode="counts"``: the count model alone.

``f`` is the surrogates' torch MLP (:class:`surrogates.estimators.mlp.MLPRegressor`, 64-32-16-4 with early
stopping), LightGBM gradient-boosted trees,
ridge regression, or the mean of several (``"mlp+gbm"``). The trees fit the Huber loss (``alpha`` = 1 in log2
space), which the group k-fold preferred to squared error: the training file's extreme rows pull less.
Predictions are cycles (``predict``); ``predict_log2`` gives log2 cycles. MLP-based predictors also give a
differentiable torch path (:meth:`RtlLatencyRegressor.torch_log2`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from looplab.errors import LooplabError
from surrogates.rtl.counts import COUNT_COLUMNS, CountModel, count_inputs, count_inputs_torch

MODES = ("analytical", "learned", "residual", "counts")
BASES = ("analytical", "counts")
ESTIMATORS = ("mlp", "gbm", "ridge", "mlp+gbm")
ANA = "log_ana"
CALIBRATIONS = ("mape", "none")
#: columns that come from the analytical model (left out in ``mode="learned"``)
ANALYTICAL_PREFIXES = ("log_ana", "log_compute", "log_bw_")


def make_estimator(name: str, random_state: int = 0) -> BaseEstimator:
    """The learned part ``f`` by name (see the module docstring)."""
    if name == "mlp":
        from surrogates.estimators.mlp import MLPRegressor

        # the surrogates' torch MLP (64-32-16-4, early stopping), sized for ~1,500 rows: small batches, more epochs
        return MLPRegressor(hidden=(64, 32, 16, 4), lr=3e-3, weight_decay=1e-4, batch_size=128, max_epochs=300,
                            patience=20, validation_fraction=0.15, random_state=random_state)
    if name == "gbm":
        import lightgbm as lgb

        return lgb.LGBMRegressor(objective="huber", alpha=1.0, n_estimators=300, learning_rate=0.03, num_leaves=15,
                                 min_child_samples=20, subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                 reg_lambda=1.0, random_state=random_state, n_jobs=1, verbose=-1)
    if name == "ridge":
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 11)))
    raise LooplabError(f"unknown estimator {name!r} (choose from {', '.join(ESTIMATORS)})", "estimator")


def mape_offset(pred_log2: np.ndarray, truth_log2: np.ndarray) -> float:
    """The constant log2 offset ``c`` minimising ``mean |2**(pred + c - truth) - 1|`` (MAPE; a weighted median of
    ``truth - pred`` with weights ``2**(pred - truth)``, found on a 0.005 grid over [-2, 2])."""
    e = np.asarray(pred_log2, float) - np.asarray(truth_log2, float)
    grid = np.arange(-2.0, 2.0 + 1e-9, 0.005)
    cost = np.abs(np.exp2(e[None, :] + grid[:, None]) - 1.0).mean(axis=1)
    return float(grid[int(np.argmin(cost))])


class RtlLatencyRegressor(RegressorMixin, BaseEstimator):
    """RTL cycles from a design matrix (see the module docstring). ``X``: a DataFrame with a ``log_ana`` column
    (log2 of the analytical model's cycles) and the feature set's columns; ``y``: RTL cycles (> 0)."""

    def __init__(self, mode: str = "residual", estimator: str = "gbm", calibrate: str = "mape", inner_folds: int = 3,
                 random_state: int = 0, base: str = "analytical"):
        self.mode = mode
        self.base = base
        self.estimator = estimator
        self.calibrate = calibrate
        self.inner_folds = inner_folds
        self.random_state = random_state

    def _uses_counts(self) -> bool:
        return self.mode == "counts" or (self.mode == "residual" and self.base == "counts")

    def _columns(self, X: pd.DataFrame) -> list[str]:
        if self.mode in ("analytical", "counts"):
            return [ANA]
        if self.mode == "learned":
            return [c for c in X.columns if not c.startswith(ANALYTICAL_PREFIXES)]
        return list(X.columns)

    def fit(self, X: pd.DataFrame, y, groups=None) -> RtlLatencyRegressor:
        """Fit on ``X`` and RTL cycles ``y``. With ``calibrate="mape"`` a constant log2 offset (``offset_``) is then
        chosen to minimise the mean absolute percentage error of out-of-fold predictions over ``inner_folds``
        folds of the training rows (grouped by ``groups``, e.g. layer shapes, when given): log-space fits predict
        a median, and one too high costs more percentage error than one too low."""
        if self.mode not in MODES:
            raise LooplabError(f"unknown mode {self.mode!r} (choose from {', '.join(MODES)})", "mode")
        if self.calibrate not in CALIBRATIONS:
            raise LooplabError(f"unknown calibration {self.calibrate!r} (choose from {', '.join(CALIBRATIONS)})",
                               "calibrate")
        if self.base not in BASES:
            raise LooplabError(f"unknown base {self.base!r} (choose from {', '.join(BASES)})", "base")
        if ANA not in X.columns:
            raise LooplabError(f"the design matrix has no {ANA!r} column", "X")
        y = np.asarray(y, float)
        if not (y > 0).all():
            raise LooplabError("RTL cycles must be > 0", "y")
        self.columns_ = self._columns(X)
        self.feature_names_in_ = np.array(X.columns)
        self._fit_log2(X, np.log2(y))
        self.offset_ = 0.0
        if self.calibrate == "mape":
            self.offset_ = self._mape_offset(X, y, groups)
        return self

    def _fit_log2(self, X: pd.DataFrame, ly: np.ndarray) -> None:
        self.estimators_ = []
        self.base_ = None
        if self.mode == "analytical":
            a = X[ANA].to_numpy(float)
            self.slope_, self.intercept_ = (np.polyfit(a, ly, 1) if np.ptp(a) > 0 else (1.0, float(np.mean(ly - a))))
            return
        if self._uses_counts():
            self.base_ = CountModel().fit(count_inputs(X), np.exp2(ly))
            if self.mode == "counts":
                return
        base = self._base_log2(X)
        target = ly - base if self.mode == "residual" else ly
        F = self._inputs(X, base)
        self.estimators_ = [clone(make_estimator(n, self.random_state)).fit(F, target)
                            for n in self.estimator.split("+")]

    def _base_log2(self, X: pd.DataFrame) -> np.ndarray:
        """log2 cycles of the residual's base (the analytical model or the count model)."""
        if self.base_ is None:
            return X[ANA].to_numpy(float)
        return self.base_.predict_log2(count_inputs(X))

    def _inputs(self, X: pd.DataFrame, base: np.ndarray) -> np.ndarray:
        """The learned part's inputs: the feature columns (plus ``log_base``, the base's log2 cycles ``base``, over
        the count model), a writable array (torch refuses read-only ones)."""
        F = np.array(X[self.columns_], dtype=float)
        return np.c_[F, base] if self.base_ is not None else F

    def _mape_offset(self, X: pd.DataFrame, y: np.ndarray, groups) -> float:
        from sklearn.model_selection import GroupKFold, KFold

        if groups is not None and len(np.unique(groups)) >= self.inner_folds >= 2:
            splits = GroupKFold(self.inner_folds).split(X, y, groups)
        elif len(y) >= 2 * self.inner_folds >= 4:
            splits = KFold(self.inner_folds, shuffle=True, random_state=self.random_state).split(X)
        else:
            return 0.0
        oof = np.zeros(len(y))
        for tr, te in splits:
            inner = clone(self).set_params(calibrate="none").fit(X.iloc[tr], y[tr])
            oof[te] = inner.predict_log2(X.iloc[te])
        return mape_offset(oof, np.log2(y))

    def predict_log2(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "columns_")
        if self.mode == "analytical":
            return self.intercept_ + self.slope_ * X[ANA].to_numpy(float) + self.offset_
        base = self._base_log2(X)
        if self.mode == "counts":
            return base + self.offset_
        f = np.mean([e.predict(self._inputs(X, base)) for e in self.estimators_], axis=0) + self.offset_
        return base + f if self.mode == "residual" else f

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp2(self.predict_log2(X))

    def importances(self) -> pd.Series:
        """Share of the trees' split gain per feature (tree-based predictors; empty otherwise), largest first."""
        check_is_fitted(self, "columns_")
        gains = [e.booster_.feature_importance("gain") for e in self.estimators_ if hasattr(e, "booster_")]
        if not gains:
            return pd.Series(dtype=float)
        g = np.sum(gains, axis=0)
        names = self.columns_ + (["log_base"] if self.base_ is not None else [])
        return pd.Series(g / g.sum(), index=names).sort_values(ascending=False)

    def count_coefficients(self) -> pd.Series:
        """Cycles per unit of each count of the count model (empty without one)."""
        check_is_fitted(self, "columns_")
        if self.base_ is None:
            return pd.Series(dtype=float)
        n = [c.removeprefix("log_") for c in COUNT_COLUMNS]
        return pd.Series(self.base_.coef_, index=[f"conv {c}" for c in n] + [f"matmul {c}" for c in n] + ["ana"])

    def torch_log2(self, X):
        """Differentiable log2 RTL cycles from a torch tensor laid out like the design matrix (columns
        ``feature_names_in_``); for MLP-only predictors (and ``mode="analytical"`` or ``"counts"``), else a
        LooplabError. The count model's base is differentiable too (a log-sum-exp over the counts)."""
        import torch

        check_is_fitted(self, "columns_")
        names = list(self.feature_names_in_)
        ana = X[:, names.index(ANA)]
        if self.mode == "analytical":
            return self.intercept_ + self.slope_ * ana + self.offset_
        base = ana
        if self.base_ is not None:
            base = self.base_.torch_log2(count_inputs_torch(X, names))
        if self.mode == "counts":
            return base + self.offset_
        from surrogates.estimators.mlp import MLPRegressor

        if not all(isinstance(e, MLPRegressor) for e in self.estimators_):
            raise LooplabError(f"estimator {self.estimator!r} has no differentiable path (use mlp)", "torch_log2")
        F = X[:, torch.as_tensor([names.index(c) for c in self.columns_])]
        if self.base_ is not None:
            F = torch.cat([F, base[:, None]], dim=1)
        f = torch.stack([e.torch_forward(F) for e in self.estimators_]).mean(dim=0) + self.offset_
        return base + f if self.mode == "residual" else f
