"""RTL-latency predictors behind scikit-learn's estimator contract.

Every predictor takes a feature frame (:func:`surrogates.rtl.features.design_matrix`: a feature set plus the
analytical model's ``log_ana`` = log2 cycles) and RTL cycles, and learns in log space:

* ``mode="analytical"``: ``log y = a + b * log_ana`` (least squares; the analytical model with a log-affine
  calibration);
* ``mode="learned"``: ``log y = f(features)`` without anything from the analytical model;
* ``mode="residual"``: ``log y = log_ana + f(features)``: the learned part is the log-ratio RTL / analytical.

``f`` is a torch MLP (:class:`TorchMLPRegressor`, 64-32-16-4 with early stopping), LightGBM gradient-boosted trees,
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

MODES = ("analytical", "learned", "residual")
ESTIMATORS = ("mlp", "gbm", "ridge", "mlp+gbm")
ANA = "log_ana"
CALIBRATIONS = ("mape", "none")
#: columns that come from the analytical model (left out in ``mode="learned"``)
ANALYTICAL_PREFIXES = ("log_ana", "log_compute", "log_bw_")


class TorchMLPRegressor(RegressorMixin, BaseEstimator):
    """A fully connected ReLU network in torch (inputs and target standardised), Adam with weight decay, early
    stopping on a seeded validation share. The weights are kept as numpy arrays (``coefs_``, ``intercepts_``) so the
    fitted estimator pickles without torch objects; :meth:`torch_forward` rebuilds the differentiable function."""

    def __init__(self, hidden: tuple[int, ...] = (64, 32, 16, 4), lr: float = 3e-3, weight_decay: float = 1e-4,
                 batch_size: int = 128, max_epochs: int = 300, patience: int = 20, val_fraction: float = 0.15,
                 random_state: int = 0):
        self.hidden = hidden
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.random_state = random_state

    def _net(self, n_in: int):
        import torch

        layers: list = []
        for h in self.hidden:
            layers += [torch.nn.Linear(n_in, h), torch.nn.ReLU()]
            n_in = h
        layers.append(torch.nn.Linear(n_in, 1))
        return torch.nn.Sequential(*layers).double()

    def fit(self, X, y) -> TorchMLPRegressor:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a net this small trains fastest on one thread (and leaves the others alone)
        try:
            return self._fit(X, y)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, X, y) -> TorchMLPRegressor:
        import torch

        X = np.asarray(X, float)
        y = np.asarray(y, float).ravel()
        self.n_features_in_ = X.shape[1]
        self.x_mean_ = X.mean(axis=0)
        self.x_scale_ = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std() or 1.0)
        Xs = (X - self.x_mean_) / self.x_scale_
        ys = (y - self.y_mean_) / self.y_scale_
        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(len(y))
        n_val = max(1, int(round(self.val_fraction * len(y)))) if len(y) >= 10 else 0
        val, tr = order[:n_val], order[n_val:]
        torch.manual_seed(self.random_state)
        net = self._net(X.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        Xt, yt = torch.from_numpy(Xs), torch.from_numpy(ys)
        best, best_state, waited = np.inf, None, 0
        gen = torch.Generator().manual_seed(self.random_state)
        epochs = 0
        for _ in range(self.max_epochs):
            epochs += 1
            net.train()
            perm = torch.from_numpy(tr)[torch.randperm(len(tr), generator=gen)]
            for s in range(0, len(perm), self.batch_size):
                b = perm[s:s + self.batch_size]
                opt.zero_grad()
                loss = torch.mean((net(Xt[b]).squeeze(1) - yt[b]) ** 2)
                loss.backward()
                opt.step()
            if n_val:
                with torch.no_grad():
                    v = float(torch.mean((net(Xt[val]).squeeze(1) - yt[val]) ** 2))
                if v < best - 1e-6:
                    best, waited = v, 0
                    best_state = [p.detach().clone() for p in net.parameters()]
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
        if best_state is not None:
            with torch.no_grad():
                for p, b in zip(net.parameters(), best_state, strict=True):
                    p.copy_(b)
        lin = [m for m in net if isinstance(m, torch.nn.Linear)]
        self.coefs_ = [m.weight.detach().numpy().copy() for m in lin]
        self.intercepts_ = [m.bias.detach().numpy().copy() for m in lin]
        self.n_epochs_ = epochs
        return self

    def torch_forward(self, X):
        """Differentiable prediction (torch tensor [B, n_features] -> [B]) with the fitted weights."""
        import torch

        check_is_fitted(self, "coefs_")
        h = (X - torch.as_tensor(self.x_mean_, dtype=X.dtype)) / torch.as_tensor(self.x_scale_, dtype=X.dtype)
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            h = h @ torch.as_tensor(w, dtype=X.dtype).T + torch.as_tensor(b, dtype=X.dtype)
            if i < len(self.coefs_) - 1:
                h = torch.relu(h)
        return h.squeeze(-1) * self.y_scale_ + self.y_mean_

    def predict(self, X) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.torch_forward(torch.from_numpy(np.array(X, float))).numpy()


def make_estimator(name: str, random_state: int = 0) -> BaseEstimator:
    """The learned part ``f`` by name (see the module docstring)."""
    if name == "mlp":
        return TorchMLPRegressor(random_state=random_state)
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
                 random_state: int = 0):
        self.mode = mode
        self.estimator = estimator
        self.calibrate = calibrate
        self.inner_folds = inner_folds
        self.random_state = random_state

    def _columns(self, X: pd.DataFrame) -> list[str]:
        if self.mode == "analytical":
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
        if self.mode == "analytical":
            a = X[ANA].to_numpy(float)
            self.slope_, self.intercept_ = (np.polyfit(a, ly, 1) if np.ptp(a) > 0 else (1.0, float(np.mean(ly - a))))
            self.estimators_ = []
            return
        target = ly - X[ANA].to_numpy(float) if self.mode == "residual" else ly
        F = X[self.columns_].to_numpy(float)
        self.estimators_ = [clone(make_estimator(n, self.random_state)).fit(F, target)
                            for n in self.estimator.split("+")]

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
        F = X[self.columns_].to_numpy(float)
        f = np.mean([e.predict(F) for e in self.estimators_], axis=0) + self.offset_
        return X[ANA].to_numpy(float) + f if self.mode == "residual" else f

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp2(self.predict_log2(X))

    def importances(self) -> pd.Series:
        """Share of the trees' split gain per feature (tree-based predictors; empty otherwise), largest first."""
        check_is_fitted(self, "columns_")
        gains = [e.booster_.feature_importance("gain") for e in self.estimators_ if hasattr(e, "booster_")]
        if not gains:
            return pd.Series(dtype=float)
        g = np.sum(gains, axis=0)
        return pd.Series(g / g.sum(), index=self.columns_).sort_values(ascending=False)

    def torch_log2(self, X):
        """Differentiable log2 RTL cycles from a torch tensor laid out like the design matrix (columns
        ``feature_names_in_``); for MLP-only predictors (and ``mode="analytical"``), else a LooplabError."""
        import torch

        check_is_fitted(self, "columns_")
        names = list(self.feature_names_in_)
        ana = X[:, names.index(ANA)]
        if self.mode == "analytical":
            return self.intercept_ + self.slope_ * ana + self.offset_
        if not all(isinstance(e, TorchMLPRegressor) for e in self.estimators_):
            raise LooplabError(f"estimator {self.estimator!r} has no differentiable path (use mlp)", "torch_log2")
        F = X[:, torch.as_tensor([names.index(c) for c in self.columns_])]
        f = torch.stack([e.torch_forward(F) for e in self.estimators_]).mean(dim=0) + self.offset_
        return ana + f if self.mode == "residual" else f
