"""A torch MLP (64, 32, 16, 4 by default) behind scikit-learn's estimator contract, with early stopping.

:class:`MLPRegressor` fits a standardised target (fit the log of cycles/energy by wrapping it, see
:func:`surrogates.estimators.make_estimator`); :class:`MLPClassifier` a binary label with a logistic output.
After ``fit``, ``module_`` is a ``torch.nn.Sequential`` that maps *unscaled* features to the prediction
(regressor: the target's units; classifier: the logits), so a search can take gradients through it:
``torch_forward(x)`` is that module on a tensor (computed in float64).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


class _Affine(torch.nn.Module):
    """``(x - shift) / scale`` as a fixed (non-trained) layer."""

    def __init__(self, shift: np.ndarray, scale: np.ndarray, inverse: bool = False):
        super().__init__()
        self.register_buffer("shift", torch.as_tensor(np.asarray(shift, np.float32)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, np.float32)))
        self.inverse = inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift if self.inverse else (x - self.shift) / self.scale


class _TorchMLP(BaseEstimator):
    def __init__(self, hidden: tuple[int, ...] = (64, 32, 16, 4), lr: float = 1e-3, weight_decay: float = 0.0,
                 batch_size: int = 512, max_epochs: int = 200, patience: int = 10, validation_fraction: float = 0.1,
                 max_train_rows: int | None = None, random_state: int = 0, verbose: bool = False):
        self.hidden = hidden
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.max_train_rows = max_train_rows
        self.random_state = random_state
        self.verbose = verbose

    _classifier = False

    def _net(self, n_in: int, n_out: int, x_mean: np.ndarray, x_std: np.ndarray, y_mean: float,
             y_std: float) -> torch.nn.Module:
        layers: list[torch.nn.Module] = [_Affine(x_mean, x_std)]
        width = n_in
        for h in self.hidden:
            layers += [torch.nn.Linear(width, int(h)), torch.nn.ReLU()]
            width = int(h)
        layers.append(torch.nn.Linear(width, n_out))
        if not self._classifier:
            layers.append(_Affine(np.array([y_mean]), np.array([y_std]), inverse=True))
        return torch.nn.Sequential(*layers)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        # Small layers: one thread is many times faster than several (and does not fight other processes).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            self._fit_single_thread(X, y)
        finally:
            torch.set_num_threads(threads)

    def _fit_single_thread(self, X: np.ndarray, y: np.ndarray) -> None:
        rng = np.random.default_rng(self.random_state)
        torch.manual_seed(int(self.random_state))
        n = len(X)
        if self.max_train_rows is not None and n > self.max_train_rows:
            keep = rng.choice(n, int(self.max_train_rows), replace=False)
            X, y, n = X[keep], y[keep], int(self.max_train_rows)
        order = rng.permutation(n)
        n_val = max(1, int(round(n * self.validation_fraction))) if n > 10 else 0
        val, tr = order[:n_val], order[n_val:]
        x_mean, x_std = X[tr].mean(axis=0), X[tr].std(axis=0)
        x_std = np.where(x_std > 0, x_std, 1.0)
        if self._classifier:
            y_mean, y_std = 0.0, 1.0
        else:
            y_mean, y_std = float(y[tr].mean()), float(y[tr].std() or 1.0)
        n_out = len(self.classes_) if self._classifier else 1
        net = self._net(X.shape[1], n_out, x_mean, x_std, y_mean, y_std)
        Xt = torch.as_tensor(X, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.long if self._classifier else torch.float32)
        opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=self.lr,
                               weight_decay=self.weight_decay)

        def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            if self._classifier:
                return torch.nn.functional.cross_entropy(out, target)
            return torch.mean(((out.squeeze(1) - target) / y_std) ** 2)

        best, best_state, bad = np.inf, None, 0
        self.loss_curve_: list[float] = []
        for _epoch in range(int(self.max_epochs)):
            net.train()
            perm = torch.as_tensor(rng.permutation(tr))
            for i in range(0, len(perm), int(self.batch_size)):
                idx = perm[i:i + int(self.batch_size)]
                opt.zero_grad()
                loss = loss_fn(net(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                idx = torch.as_tensor(val if n_val else tr)
                score = float(loss_fn(net(Xt[idx]), yt[idx]))
            self.loss_curve_.append(score)
            if score < best - 1e-6:
                best, bad = score, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= self.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self.module_ = net.double()  # float64 for prediction: the same answer for a row alone or in a batch
        self.n_epochs_ = len(self.loss_curve_)
        self.best_validation_loss_ = best

    def torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The fitted network on a float tensor of unscaled features ``[B, F]``, differentiable in ``x``:
        regressor ``[B]`` in the fitted target's units; binary classifier ``[B]`` the logit of ``classes_[1]``;
        multi-class ``[B, K]`` logits."""
        check_is_fitted(self, "module_")
        out = self.module_(x.to(torch.float64))
        if not self._classifier:
            return out.squeeze(-1)
        return out[:, 1] - out[:, 0] if out.shape[1] == 2 else out

    def _raw(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        out = []
        with torch.no_grad():
            for i in range(0, len(X), 65536):
                out.append(self.torch_forward(torch.as_tensor(X[i:i + 65536])).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def _logits(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        with torch.no_grad():
            return self.module_(torch.as_tensor(X)).numpy()


class MLPRegressor(RegressorMixin, _TorchMLP):
    """Torch MLP regressor (mean squared error on the standardised target, Adam, early stopping on a held-out
    ``validation_fraction``; the best epoch's weights are kept)."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPRegressor:
        X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True)
        self._fit(X, np.asarray(y, np.float32))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._raw(X).astype(np.float64)


class MLPClassifier(ClassifierMixin, _TorchMLP):
    """Torch MLP classifier (softmax output, cross-entropy)."""

    _classifier = True

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPClassifier:
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, yi = np.unique(y, return_inverse=True)
        self._fit(X, yi.astype(np.int64))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = self._logits(X)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]
