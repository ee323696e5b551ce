"""The surrogates' estimators, all behind scikit-learn's contract (usable in pipelines and model selection).

:func:`make_estimator` ``(model, target, seed, **params)`` gives an unfitted estimator:

* ``lr``  linear regression on standardised features (classifier: logistic regression);
* ``rf``  random forest (``n_estimators`` up to 1,000; ``max_samples`` / ``min_samples_leaf`` bound big fits);
* ``mlp`` the torch MLP (64, 32, 16, 4) of :mod:`surrogates.estimators.mlp` with early stopping;
* ``gbm`` LightGBM gradient-boosted trees.

Regression targets (cycles, energy) are fitted on their log (``TransformedTargetRegressor``), so ``predict``
returns cycles / pJ; ``valid`` gets a classifier with ``predict_proba``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from looplab.errors import LooplabError
from surrogates.estimators.mlp import MLPClassifier, MLPRegressor

MODELS = ("lr", "rf", "mlp", "gbm")
TARGETS = ("cycles", "energy", "valid")

#: Defaults per model (overridable through ``params``).
DEFAULTS: dict[str, dict[str, Any]] = {
    "lr": {},
    "rf": {"n_estimators": 100, "min_samples_leaf": 1, "max_samples": None, "n_jobs": -1},
    "mlp": {},
    "gbm": {"n_estimators": 400, "learning_rate": 0.05, "num_leaves": 63, "verbose": -1},
}


def is_classifier_target(target: str) -> bool:
    if target not in TARGETS:
        raise LooplabError(f"unknown target {target!r} (expected {', '.join(TARGETS)})", "target")
    return target == "valid"


def _base(model: str, classify: bool, seed: int, params: dict[str, Any]) -> BaseEstimator:
    kw = {**DEFAULTS[model], **params}
    if model == "lr":
        est = LogisticRegression(max_iter=2000, random_state=seed, **kw) if classify else LinearRegression(**kw)
        return make_pipeline(StandardScaler(), est)
    if model == "rf":
        cls = RandomForestClassifier if classify else RandomForestRegressor
        return cls(random_state=seed, **kw)
    if model == "mlp":
        return (MLPClassifier if classify else MLPRegressor)(random_state=seed, **kw)
    import lightgbm

    return (lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor)(random_state=seed, **kw)


def make_estimator(model: str, target: str, seed: int = 0, **params: Any) -> BaseEstimator:
    """An unfitted estimator for ``model`` (lr|rf|mlp|gbm) and ``target`` (cycles|energy|valid)."""
    if model not in MODELS:
        raise LooplabError(f"unknown model {model!r} (expected {', '.join(MODELS)})", "model")
    classify = is_classifier_target(target)
    base = _base(model, classify, seed, params)
    if classify:
        return base
    return TransformedTargetRegressor(regressor=base, func=np.log, inverse_func=np.exp, check_inverse=False)


__all__ = ["DEFAULTS", "MODELS", "MLPClassifier", "MLPRegressor", "TARGETS", "is_classifier_target",
           "make_estimator"]
