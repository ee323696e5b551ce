"""The surrogates' estimators follow scikit-learn's contract and fit what they claim to fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from looplab.errors import LooplabError
from surrogates.estimators import MODELS, MLPClassifier, MLPRegressor, make_estimator


@pytest.mark.parametrize("cls", [MLPRegressor, MLPClassifier])
def test_mlp_follows_the_estimator_contract(cls):
    # The full sklearn check_estimator suite passes too (run by hand: ~4 min on a loaded 2-core machine).
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.estimator_checks import check_estimators_unfitted, check_get_params_invariance

    est = cls(max_epochs=5, hidden=(8, 4))
    assert est.get_params()["hidden"] == (8, 4) and clone(est).set_params(lr=0.01).lr == 0.01
    with pytest.raises(NotFittedError):
        est.predict(np.zeros((2, 3)))
    check_get_params_invariance(cls.__name__, est)
    check_estimators_unfitted(cls.__name__, est)
    X, y = _data(120)
    target = np.log(y) if cls is MLPRegressor else (X[:, 0] > 2).astype(int)
    assert est.fit(X, target) is est
    assert est.n_features_in_ == 5 and est.module_ is not None and not hasattr(cls(), "module_")
    with pytest.raises(ValueError):
        est.predict(X[:, :4])


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 4, (n, 5))
    y = np.exp(1.0 + X[:, 0] + 0.5 * X[:, 1] * (X[:, 2] > 2))  # positive, multiplicative, like cycles
    return X, y


@pytest.mark.parametrize("model", MODELS)
def test_every_model_fits_log_targets_and_validity(model):
    X, y = _data()
    params = {"n_estimators": 50} if model in ("rf", "gbm") else {}
    reg = make_estimator(model, "cycles", seed=0, **params)
    assert reg.fit(X[:500], y[:500]) is reg
    pred = reg.predict(X[500:])
    assert (pred > 0).all()
    rel = np.abs(np.log(pred) - np.log(y[500:]))
    bound = 0.6 if model == "lr" else 0.3  # the interaction term is beyond a linear model
    assert np.median(rel) < bound
    valid = (X[:, 0] + X[:, 3] < 4).astype(int)
    clf = make_estimator(model, "valid", seed=0, **params).fit(X[:500], valid[:500])
    proba = clf.predict_proba(X[500:])[:, 1]
    assert ((proba > 0.5) == valid[500:]).mean() > 0.85
    assert clone(clf).get_params()["random_state" if model in ("rf", "mlp", "gbm") else "steps"] is not None


def test_unknown_names_are_clear_errors():
    with pytest.raises(LooplabError, match="unknown model"):
        make_estimator("svm", "cycles")
    with pytest.raises(LooplabError, match="unknown target"):
        make_estimator("rf", "latency")


def test_mlp_in_model_selection_and_differentiable():
    X, y = _data(400, 1)
    search = GridSearchCV(MLPRegressor(max_epochs=20), {"lr": [1e-3, 3e-3]}, cv=2).fit(X, np.log(y))
    est = search.best_estimator_
    assert est.n_epochs_ <= 20 and hasattr(est, "module_")
    x = torch.tensor(X[:3], requires_grad=True)
    est.torch_forward(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    np.testing.assert_allclose(est.torch_forward(torch.tensor(X[:3])).detach().numpy(), est.predict(X[:3]))


def test_mlp_early_stopping_stops():
    X, y = _data(300, 2)
    est = MLPRegressor(max_epochs=500, patience=3).fit(X, np.log(y))
    assert est.n_epochs_ < 500 and len(est.loss_curve_) == est.n_epochs_
