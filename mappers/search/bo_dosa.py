"""Bayesian optimisation as DOSA's baseline: a Gaussian process over the hardware parameters only.

``initial`` random designs (100), each with ``k`` random valid mappings per layer (best per layer, as random
search), then a GP (scikit-learn, Matern 5/2 + white noise, on log2 parameters, target log network EDP) fitted to
them, and the ``picked`` (10) designs of the whole grid with the best predicted mean evaluated the same way.
``k = budget // (initial + picked)`` (90 at 10,000 evaluations).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from mappers.search.budget import Tracker
from mappers.search.network import Network
from mappers.search.random_search import best_random_mappings

SETTINGS = {"initial": 100, "picked": 10}


def grid(space: Any) -> np.ndarray:
    """Every design of the space as log2 parameters ``[G, P]``."""
    axes = [np.arange(lo, hi + 1) for lo, hi in zip(space.lo, space.hi, strict=True)]
    return np.array(list(itertools.product(*axes)), np.float64)


def evaluate_designs(net: Network, space: Any, archs: Any, tracker: Tracker, X: np.ndarray, k: int,
                     rng: np.random.Generator) -> np.ndarray:
    """log network EDP of the designs ``X`` (log2 parameters), ``k`` random mappings per layer each (inf when a
    layer has no valid mapping)."""
    y = np.full(len(X), np.inf)
    for i, x in enumerate(X):
        design, curve = best_random_mappings(net, space.from_log2(x), archs, k, int(rng.integers(2**31)))
        tracker.spend(k, design, curve)
        if design is not None:
            y[i] = np.log(design.edp)
    return y


def fit_predict(X: np.ndarray, y: np.ndarray, Xc: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    ok = np.isfinite(y)
    yf = np.where(ok, y, (y[ok].max() + 1.0) if ok.any() else 0.0)
    kernel = ConstantKernel(1.0) * Matern(length_scale=np.ones(X.shape[1]) * 2.0, nu=2.5) + WhiteKernel(0.1)
    gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed, n_restarts_optimizer=2).fit(X, yf)
    mu, sd = gp.predict(Xc, return_std=True)
    return mu, sd


def run(net: Network, space: Any, archs: Any, tracker: Tracker, seed: int, initial: int = SETTINGS["initial"],
        picked: int = SETTINGS["picked"]) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    k = max(1, tracker.budget // (initial + picked))
    G = grid(space)
    first = G[rng.choice(len(G), size=min(initial, len(G)), replace=False)]
    y = evaluate_designs(net, space, archs, tracker, first, k, rng)
    seen = {tuple(x) for x in first}
    rest = np.array([x for x in G if tuple(x) not in seen])
    mu, _ = fit_predict(first, y, rest, seed)
    pick = rest[np.argsort(mu)[:picked]]
    evaluate_designs(net, space, archs, tracker, pick, k, rng)
    return {"initial_designs": len(first), "picked_designs": len(pick), "mappings_per_layer": k,
            "gp": "scikit-learn GaussianProcessRegressor, Matern 5/2 + white noise, log2 parameters -> log EDP"}
