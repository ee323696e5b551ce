"""A strong modern Bayesian optimisation beside DOSA's: BoTorch over the hardware parameters.

A ``SingleTaskGP`` (inputs: log2 parameters scaled to the unit cube; outcome standardised) on ``-log network EDP``,
``initial`` random designs, then rounds of ``q`` designs chosen by qLogNoisyExpectedImprovement over the unevaluated
designs of the grid (``optimize_acqf_discrete``). Each design is evaluated with ``k`` random valid mappings per layer
(best per layer, as random search): ``budget // k`` designs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mappers.search.bo_dosa import evaluate_designs, grid
from mappers.search.budget import Tracker
from mappers.search.network import Network

SETTINGS = {"mappings_per_layer": 250, "initial": 10, "q": 5}


def run(net: Network, space: Any, archs: Any, tracker: Tracker, seed: int,
        mappings_per_layer: int = SETTINGS["mappings_per_layer"], initial: int = SETTINGS["initial"],
        q: int = SETTINGS["q"]) -> dict[str, Any]:
    import torch
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf_discrete
    from gpytorch.mlls import ExactMarginalLogLikelihood

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    k = max(1, min(mappings_per_layer, tracker.budget))
    n_designs = max(1, tracker.budget // k)
    G = grid(space)
    lo, hi = space.lo, space.hi
    unit = lambda x: (x - lo) / (hi - lo)  # noqa: E731
    X = G[rng.choice(len(G), size=min(initial, n_designs, len(G)), replace=False)]
    y = evaluate_designs(net, space, archs, tracker, X, k, rng)
    rounds = 0
    while len(X) < n_designs and tracker.remaining >= k:
        seen = {tuple(x) for x in X}
        cand = np.array([x for x in G if tuple(x) not in seen])
        ok = np.isfinite(y)
        yt = np.where(ok, -y, (-y[ok]).min() - 1.0 if ok.any() else 0.0)
        tx = torch.as_tensor(unit(X), dtype=torch.float64)
        ty = torch.as_tensor(yt, dtype=torch.float64)[:, None]
        model = SingleTaskGP(tx, ty, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        acq = qLogNoisyExpectedImprovement(model, X_baseline=tx)
        n = min(q, n_designs - len(X), len(cand), tracker.remaining // k)
        chosen, _ = optimize_acqf_discrete(acq, q=n, choices=torch.as_tensor(unit(cand), dtype=torch.float64))
        Xn = np.rint(chosen.numpy() * (hi - lo) + lo)
        yn = evaluate_designs(net, space, archs, tracker, Xn, k, rng)
        X, y = np.concatenate([X, Xn]), np.concatenate([y, yn])
        rounds += 1
    return {"designs": len(X), "initial_designs": min(initial, n_designs), "q": q, "rounds": rounds,
            "mappings_per_layer": k, "acquisition": "qLogNoisyExpectedImprovement (BoTorch SingleTaskGP)"}
