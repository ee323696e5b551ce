"""Mind Mappings style baseline: gradient descent on a trained MLP surrogate instead of the analytical model.

1. Training set: ``train_designs`` random designs, on each ``k`` random valid mappings per layer evaluated with the
   exact model (``train_share`` of the budget; these count as evaluations and the best of each design is a
   candidate as in random search). Features per (design, layer, mapping): log2 hardware parameters, log2 layer
   dimensions, log2 temporal and spatial factors per level, loop ranks per level; targets log cycles and log energy.
2. :class:`MLPSurrogate` (torch, scikit-learn estimator contract) fitted to them.
3. The mapping-first search of :mod:`mappers.search.gradient` (same parameterisation, design inferred from the
   mappings) with the surrogate as the cost model; every ``round_every`` steps each start is rounded to a valid
   mapping and evaluated with the exact model (one evaluation each) until the budget is spent. Surrogate queries are
   not counted as evaluations (they are not the cost model).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin

from looplab.analytical import evaluate_batch
from mappers.sampler import sample_mappings
from mappers.search import gradient as grad
from mappers.search.budget import Tracker
from mappers.search.network import Design, Network, network_cost

SETTINGS = {"train_share": 0.5, "train_designs": 10, "max_train_points": 20_000, "hidden": (256, 256, 128),
            "epochs": 30, "starts": 8, "round_every": 10, "lr": 0.1, "max_steps": 200}


class MLPSurrogate(RegressorMixin, BaseEstimator):
    """A multi-layer perceptron regressor in torch (scikit-learn estimator contract), differentiable in its input
    through :meth:`forward_torch`."""

    def __init__(self, hidden: tuple[int, ...] = (256, 256, 128), epochs: int = 60, lr: float = 1e-3,
                 batch_size: int = 512, weight_decay: float = 1e-5, random_state: int = 0):
        self.hidden, self.epochs, self.lr = hidden, epochs, lr
        self.batch_size, self.weight_decay, self.random_state = batch_size, weight_decay, random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPSurrogate:
        torch.manual_seed(self.random_state)
        X = np.asarray(X, np.float64)
        y = np.asarray(y, np.float64).reshape(len(X), -1)
        self.x_mean_, self.x_std_ = X.mean(0), X.std(0) + 1e-6
        self.y_mean_, self.y_std_ = y.mean(0), y.std(0) + 1e-6
        layers: list[torch.nn.Module] = []
        width = X.shape[1]
        for h in self.hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        layers.append(torch.nn.Linear(width, y.shape[1]))
        self.net_ = torch.nn.Sequential(*layers).double()
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        tx = torch.as_tensor((X - self.x_mean_) / self.x_std_)
        ty = torch.as_tensor((y - self.y_mean_) / self.y_std_)
        gen = torch.Generator().manual_seed(self.random_state)
        for _ in range(self.epochs):
            for idx in torch.randperm(len(tx), generator=gen).split(self.batch_size):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(self.net_(tx[idx]), ty[idx])
                loss.backward()
                opt.step()
        self.train_loss_ = float(loss.detach())
        return self

    def forward_torch(self, X: torch.Tensor) -> torch.Tensor:
        xm, xs = torch.as_tensor(self.x_mean_), torch.as_tensor(self.x_std_)
        return self.net_((X - xm) / xs) * torch.as_tensor(self.y_std_) + torch.as_tensor(self.y_mean_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.forward_torch(torch.as_tensor(np.asarray(X, np.float64))).numpy()


def features(hw: torch.Tensor, logdims: torch.Tensor, lf: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
    """``hw [..., 3]`` log2 parameters, ``logdims [..., 7]``, ``lf [..., 3, L, 7]`` log2 factors, ``rank [..., L, 7]``
    loop positions (innermost 0) -> ``[..., F]``."""
    return torch.cat([hw, logdims, lf.flatten(-3), rank.flatten(-2) / 6.0], dim=-1)


def _rank(perm: np.ndarray) -> np.ndarray:
    """Position of every dim in its level's loop order ``[..., L, 7]``."""
    return np.argsort(perm, axis=-1).astype(np.float64)


def _training_set(net: Network, space: Any, archs: Any, tracker: Tracker, n_designs: int, k: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X, Y = [], []
    logdims = np.log2([[lay.dims[d] for d in "RSPQCKN"] for lay in net.layers])
    for cfg in space.random(rng, n_designs):
        arch, ert, _ = archs.get(cfg)
        hw = space.to_log2(cfg)
        best_c, best_e, rows = [], [], []
        for i, lay in enumerate(net.layers):
            b, _ = sample_mappings(arch, lay.dims, k, 0, int(rng.integers(2**31)), strict=False)
            r = evaluate_batch(arch, ert, lay.dims, b)
            ok = r.valid
            lf = np.log2(np.stack([b.temporal, b.spatial_x, b.spatial_y], 1).astype(np.float64))[ok]
            B = int(ok.sum())
            X.append(features(torch.as_tensor(np.broadcast_to(hw, (B, 3)).copy()),
                              torch.as_tensor(np.broadcast_to(logdims[i], (B, 7)).copy()), torch.as_tensor(lf),
                              torch.as_tensor(_rank(b.perm[ok]))).numpy())
            Y.append(np.stack([np.log(r.cycles[ok].astype(np.float64)), np.log(r.energy_pJ[ok])], 1))
            if B:
                j = int(np.argmin(Y[-1].sum(1)))
                best_c.append(r.cycles[ok][j])
                best_e.append(r.energy_pJ[ok][j])
                rows.append(b[np.flatnonzero(ok)[j]])
        design = Design(cfg, rows, np.array(best_c, float), np.array(best_e), net.counts) \
            if len(rows) == len(net.layers) else None
        tracker.spend(k, design)
    return np.concatenate(X), np.concatenate(Y)


def run(net: Network, space: Any, archs: Any, tracker: Tracker, seed: int, **opts: Any) -> dict[str, Any]:
    cfg = {**SETTINGS, **opts}
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_designs = cfg["train_designs"]
    k = max(1, int(tracker.budget * cfg["train_share"]) // n_designs)
    X, Y = _training_set(net, space, archs, tracker, n_designs, k, rng)
    if len(X) > cfg["max_train_points"]:  # a random subset keeps the fit's time bounded
        keep = rng.choice(len(X), size=cfg["max_train_points"], replace=False)
        X, Y = X[keep], Y[keep]
    model = MLPSurrogate(hidden=tuple(cfg["hidden"]), epochs=cfg["epochs"], random_state=seed).fit(X, Y)
    # surrogate-driven mapping-first search
    big = space.infer(max(space.choices["pe_dim"]), 2 ** 30, 2 ** 30)
    pb = grad._Problem(net, space, archs, big)
    S = cfg["starts"]
    arch0, ert0, _ = archs.get(big)
    init = []
    for lay in net.layers:
        b, _ = sample_mappings(arch0, lay.dims, S, 0, int(rng.integers(2**31)), strict=False)
        init.append(b[np.resize(np.arange(len(b)), S)])
    perms = np.stack([b.perm for b in init], 1).astype(np.int8)
    rank = torch.as_tensor(_rank(perms))  # [S, N, L, 7]
    logdims = torch.as_tensor(np.log2([[lay.dims[d] for d in "RSPQCKN"] for lay in net.layers]))
    theta = grad._theta_from(pb, init, grad.SETTINGS["share_floor"]).requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=cfg["lr"])
    counts = torch.as_tensor(net.counts)
    steps = 0
    while tracker.remaining >= S and steps < cfg["max_steps"]:
        opt.zero_grad()
        lf = pb.log_factors(theta)
        req = pb.requirements(lf)
        hw = torch.stack([torch.clamp(grad._smooth_max(req["spatial"], 1), 1, math.log2(max(space.choices["pe_dim"]))),
                          grad._smooth_max(req["sp_words"], 1) - 10, grad._smooth_max(req["acc_words"], 1) - 8
                          + grad._smooth_max(req["spatial"], 1)], 1)  # [S, 3] log2 pe, sp KiB, acc KiB
        f = features(hw[:, None].expand(S, pb.N, 3), logdims[None].expand(S, pb.N, 7), lf, rank)
        pred = model.forward_torch(f)  # [S, N, 2]
        lat, en, _ = network_cost(torch.exp(pred[..., 0]), torch.exp(pred[..., 1]), counts)
        pen = torch.relu(req["spatial"] - pb.lim["spatial"]) ** 2 \
            + torch.relu(req["sp_words"] - pb.lim["sp_words"]) ** 2
        (torch.log(lat) + torch.log(en) + 10.0 * pen.sum(1)).sum().backward()
        opt.step()
        steps += 1
        if steps % cfg["round_every"] == 0:
            batches = grad._round(pb, theta, perms)
            cfgs = pb.infer(pb.exact_requirements(batches))
            for s in range(S):
                cyc, en_ = pb.exact(cfgs[s], [b[s] for b in batches])
                design = None if np.isnan(cyc).any() else Design(cfgs[s], [b[s] for b in batches], cyc[0], en_[0],
                                                                 net.counts)
                tracker.spend(1, design)
    return {"training_points": len(X), "training_designs": n_designs, "mappings_per_layer": k,
            "surrogate": f"MLP {tuple(cfg['hidden'])}, {cfg['epochs']} epochs, train MSE {model.train_loss_:.3g}",
            "starts": S, "steps": steps, "round_every": cfg["round_every"]}
