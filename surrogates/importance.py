"""Feature importance of a fitted surrogate: MDI (trees' impurity decrease) and permutation importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.inspection import permutation_importance


def _inner(est: Any) -> Any:
    """The fitted model inside a TransformedTargetRegressor / Pipeline."""
    est = getattr(est, "regressor_", est)
    if hasattr(est, "steps"):
        est = est.steps[-1][1]
    return est


def mdi(est: Any, names: list[str]) -> dict[str, float] | None:
    """Mean decrease in impurity per column (None for models without it)."""
    inner = _inner(est)
    if not hasattr(inner, "feature_importances_"):
        return None
    imp = np.asarray(inner.feature_importances_, np.float64)
    imp = imp / imp.sum() if imp.sum() > 0 else imp
    return dict(zip(names, imp.tolist(), strict=True))


def permutation(est: Any, X: np.ndarray, y: np.ndarray, names: list[str], seed: int = 0, n_repeats: int = 3,
                max_rows: int = 20_000, scoring: str | None = None) -> dict[str, float]:
    """Mean drop of the estimator's score when a column is shuffled (on at most ``max_rows`` rows)."""
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        idx = rng.choice(len(X), max_rows, replace=False)
        X, y = X[idx], y[idx]
    r = permutation_importance(est, X, y, n_repeats=n_repeats, random_state=seed, scoring=scoring, n_jobs=1)
    return dict(zip(names, r.importances_mean.tolist(), strict=True))


def plot_importance(imp: dict[str, float], path: str | Path, title: str, top: int = 20) -> str:
    from looplab.plots import _plt

    plt = _plt()
    items = sorted(imp.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(items) + 1.2), dpi=110)
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path).name
