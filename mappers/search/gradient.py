"""Mapping-first gradient co-search (DOSA style) through the differentiable analytical model.

For every start and layer, each dimension's factorisation is a softmax over the loops it may go to (temporal at a
level, or the family's spatial loops): ``log2 f = log2(size) * softmax(theta)``, so the factors always multiply
to the layer's size. The hardware is inferred from the mappings at every step (:meth:`GemminiSpace.infer`: PE
array, scratchpad and accumulator sized to the largest tiles over all layers, rounded up to legal values). The loss
is log network EDP (``looplab.analytical.torch_model.evaluate_torch`` at the inferred design, layers with equal
strides in one batched call) plus:

* the first-order effect of buffer sizes on access energy: ``sum_l share_l * slope_l * log2 size_l`` where
  ``share_l`` is level ``l``'s part of the network energy and ``slope_l`` the log-log slope of its access energy
  in its size (from the ERT at the design and at double the size), ``size_l`` a smooth maximum over layers;
* penalties for factors the family cannot hold (spatial beyond the largest array, tiles beyond the largest buffers).

Every ``round_every`` steps each start is rounded to the nearest valid integer mapping (least squares in log2 over
divisors, :meth:`Encoding.round_log2`), its design inferred, and the point re-evaluated with the exact model; each
level's loop order is then chosen per layer among the six group orders (:data:`GROUP_ORDERS`) by the exact model
(one evaluation per candidate order and level, all layers at once), and the start continues from the rounded point.
Evaluations: one per start per gradient step, one per exact re-evaluation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from looplab.analytical import evaluate_batch
from looplab.analytical.model import LevelCosts
from looplab.analytical.torch_model import evaluate_torch
from looplab.archspec import DIMS
from mappers.mapping import MappingBatch
from mappers.sampler import sample_mappings
from mappers.search.budget import Tracker
from mappers.search.encoding import GROUP_ORDERS, Encoding
from mappers.search.network import Design, Network, network_cost
from mappers.validity import tile_sizes

SETTINGS = {"starts": 8, "steps_per_round": 20, "max_steps": 100, "lr": 0.15, "init_samples": 64, "share_floor": 0.05}
_D = {d: i for i, d in enumerate(DIMS)}


def _tiles_log2(lcum: torch.Tensor, conv: dict) -> torch.Tensor:
    """log2 tile words ``[..., 3]`` (Weights, Inputs, Outputs) from log2 cumulative factors ``[..., 7]`` (the
    continuous form of :func:`mappers.validity.tile_sizes`)."""
    c = torch.exp2(lcum)
    w = (c[..., _D["P"]] - 1) * conv["Wstride"] + (c[..., _D["R"]] - 1) * conv["Wdilation"] + 1
    h = (c[..., _D["Q"]] - 1) * conv["Hstride"] + (c[..., _D["S"]] - 1) * conv["Hdilation"] + 1
    lw = lcum[..., _D["R"]] + lcum[..., _D["S"]] + lcum[..., _D["C"]] + lcum[..., _D["K"]]
    li = lcum[..., _D["C"]] + lcum[..., _D["N"]] + torch.log2(w) + torch.log2(h)
    lo = lcum[..., _D["P"]] + lcum[..., _D["Q"]] + lcum[..., _D["K"]] + lcum[..., _D["N"]]
    return torch.stack([lw, li, lo], dim=-1)


def _smooth_max(x: torch.Tensor, dim: int, tau: float = 0.25) -> torch.Tensor:
    return tau * torch.logsumexp(x / tau, dim=dim)


class _Problem:
    """Tables shared by the steps: cells per dimension, layer sizes, the family's sized levels."""

    def __init__(self, net: Network, space: Any, archs: Any, cfg0: Any):
        self.net, self.space, self.archs = net, space, archs
        arch, _, _ = archs.get(cfg0)
        self.arch0 = arch
        self.names = arch.storage_names
        self.L = len(self.names)
        self.encs = [Encoding(arch, lay.dims) for lay in net.layers]
        probe = Encoding(arch, {**{d: 2 for d in DIMS}, "Wstride": 1, "Hstride": 1, "Wdilation": 1,
                                "Hdilation": 1})
        self.cells = [[(k, lv) for _, k, lv in probe.cells(di)] for di in range(7)]
        self.J = max(len(c) for c in self.cells)
        N = len(net.layers)
        self.logn = torch.tensor([[math.log2(lay.dims[d]) for d in DIMS] for lay in net.layers], dtype=torch.float64)
        M = torch.zeros(7, self.J, 3, self.L, dtype=torch.float64)
        mask = torch.zeros(7, self.J, dtype=torch.bool)
        for di, cells in enumerate(self.cells):
            for j, (k, lv) in enumerate(cells):
                M[di, j, k, lv] = 1.0
                mask[di, j] = True
        self.M, self.mask = M, mask
        self.keep = torch.tensor(probe.keep)  # [L, 3]
        self.acc = self.names.index("Accumulator")
        self.sp = self.names.index("Scratchpad")
        self.conv = [lay.dims for lay in net.layers]
        self.groups = net.groups()
        lim = space.limits()
        self.lim = {k: math.log2(v) for k, v in lim.items()}
        self.N = N

    # continuous mapping --------------------------------------------------------------------------------------
    def log_factors(self, theta: torch.Tensor) -> torch.Tensor:
        """``theta [S, N, 7, J]`` -> log2 factors ``[S, N, 3, L, 7]``."""
        th = theta.masked_fill(~self.mask, -1e9)
        share = torch.softmax(th, dim=-1)
        return torch.einsum("sidj,djkl,id->sikld", share, self.M, self.logn)

    def requirements(self, lf: torch.Tensor) -> dict[str, torch.Tensor]:
        """log2 spatial factor, scratchpad words, accumulator words per start and layer ``[S, N]``."""
        lcum = torch.cumsum(lf.sum(dim=2), dim=2)  # [S, N, L, 7]
        sp_x = lf[:, :, 1].sum(dim=-1).amax(dim=2)
        sp_y = lf[:, :, 2].sum(dim=-1).amax(dim=2)
        spatial = torch.maximum(sp_x, sp_y)
        sp_words, acc_words = [], []
        for i in range(self.N):
            t = _tiles_log2(lcum[:, i], self.conv[i])  # [S, L, 3]
            k_sp = self.keep[self.sp]
            sp_words.append(torch.logsumexp(t[:, self.sp][:, k_sp] * math.log(2), dim=-1) / math.log(2))
            acc_words.append(t[:, self.acc, 2])
        return {"spatial": spatial, "sp_words": torch.stack(sp_words, 1), "acc_words": torch.stack(acc_words, 1)}

    def infer(self, req: dict[str, np.ndarray]) -> list[Any]:
        """Designs (one per start) holding every layer's requirement (log2 values ``[S, N]``)."""
        out = []
        for s in range(req["spatial"].shape[0]):
            out.append(self.space.infer(2 ** float(req["spatial"][s].max()), 2 ** float(req["sp_words"][s].max()),
                                        2 ** float(req["acc_words"][s].max())))
        return out

    # exact ----------------------------------------------------------------------------------------------------
    def exact_requirements(self, batches: list[MappingBatch]) -> dict[str, np.ndarray]:
        """log2 requirements ``[S, N]`` of integer mappings (one batch of S rows per layer)."""
        sp, spw, acw = [], [], []
        for i, b in enumerate(batches):
            cum = np.cumprod(b.temporal * b.spatial_x * b.spatial_y, axis=1)
            t = tile_sizes(cum, self.conv[i]).astype(np.float64)  # [S, L, 3]
            sp.append(np.log2(np.maximum(b.spatial_x.prod(axis=2).max(axis=1), b.spatial_y.prod(axis=2).max(axis=1))))
            spw.append(np.log2((t[:, self.sp] * self.keep[self.sp].numpy()).sum(axis=1)))
            acw.append(np.log2(t[:, self.acc, 2]))
        return {"spatial": np.stack(sp, 1), "sp_words": np.stack(spw, 1), "acc_words": np.stack(acw, 1)}

    def exact(self, cfg: Any, batches: list[MappingBatch]) -> tuple[np.ndarray, np.ndarray]:
        """Exact cycles and energy ``[R, N]`` of R mappings per layer on ``cfg`` (NaN where invalid)."""
        arch, ert, _ = self.archs.get(cfg)
        cyc, en = [], []
        for lay, b in zip(self.net.layers, batches, strict=True):
            r = evaluate_batch(arch, ert, lay.dims, b)
            cyc.append(np.where(r.valid, r.cycles, np.nan))
            en.append(np.where(r.valid, r.energy_pJ, np.nan))
        return np.stack(cyc, 1).astype(np.float64), np.stack(en, 1)


def _stack_costs(lcs: list[LevelCosts], rows_per: int) -> LevelCosts:
    rep = lambda f: np.repeat(np.stack([getattr(c, f) for c in lcs]), rows_per, axis=0)  # noqa: E731
    return LevelCosts(rep("block"), rep("e_read"), rep("e_write"), rep("e_update"), rep("read_bw"), rep("write_bw"),
                      rep("shared_bw"), np.repeat(np.array([c.e_mac for c in lcs]), rows_per), lcs[0].mac_instances)


def _energy_slopes(pb: _Problem, cfg: Any) -> np.ndarray:
    """d log(access energy) / d log2(size) of the accumulator and scratchpad at ``cfg`` ([L]; 0 elsewhere)."""
    _, _, lc = pb.archs.get(cfg)
    out = np.zeros(pb.L)
    for lv, key in ((pb.acc, "acc_kib"), (pb.sp, "sp_kib")):
        hi = min(getattr(cfg, key) * 2, max(pb.space.choices[key]))
        if hi == getattr(cfg, key):
            continue
        _, _, lc2 = pb.archs.get(cfg.replace(**{key: hi}))
        e1 = lc.e_read[lv] + lc.e_write[lv]
        e2 = lc2.e_read[lv] + lc2.e_write[lv]
        out[lv] = math.log(e2 / e1)
    return out


def _forward(pb: _Problem, theta: torch.Tensor, perms: np.ndarray, cfgs: list[Any]) -> dict[str, torch.Tensor]:
    """Differentiable network cost of every start at its (fixed) design ``cfgs``."""
    S = theta.shape[0]
    lf = pb.log_factors(theta)
    f = torch.exp2(lf)  # [S, N, 3, L, 7]
    lcs = [pb.archs.get(c)[2] for c in cfgs]
    cyc = torch.zeros(S, pb.N, dtype=torch.float64)
    en = torch.zeros(S, pb.N, dtype=torch.float64)
    e_lvl = torch.zeros(S, pb.N, pb.L, dtype=torch.float64)
    for g in pb.groups:
        fg = f[:, g].reshape(S * len(g), 3, pb.L, 7)
        B = fg.shape[0]
        pg = perms[:, g].reshape(B, pb.L, 7)
        keep = np.broadcast_to(pb.keep.numpy(), (B, pb.L, 3)).copy()
        rint = np.rint(fg.detach().numpy()).astype(np.int64)
        batch = MappingBatch(pb.names, rint[:, 0], rint[:, 1], rint[:, 2], pg, keep,
                             np.broadcast_to(np.arange(7, dtype=np.int8), (B, pb.L, 7)).copy())
        lc = _stack_costs(lcs, len(g))
        out = evaluate_torch(pb.arch0, lc, pb.conv[g[0]], batch, fg[:, 0], fg[:, 1], fg[:, 2])
        cyc[:, g] = out["cycles"].reshape(S, len(g))
        en[:, g] = out["energy_pJ"].reshape(S, len(g))
        e_lvl[:, g] = out["energy_by_level"].reshape(S, len(g), pb.L)
    return {"lf": lf, "cycles": cyc, "energy": en, "e_level": e_lvl}


def _loss(pb: _Problem, out: dict[str, torch.Tensor], slopes: torch.Tensor) -> torch.Tensor:
    counts = torch.as_tensor(pb.net.counts)
    lat, en, _ = network_cost(out["cycles"], out["energy"], counts)
    loss = torch.log(lat) + torch.log(en)  # [S]
    req = pb.requirements(out["lf"])
    share = ((out["e_level"] * counts[None, :, None]).sum(1) / en[:, None]).detach()  # [S, L]
    size = torch.stack([_smooth_max(req["acc_words"], 1), _smooth_max(req["sp_words"], 1)], 1)  # [S, 2] log2
    lv = [pb.acc, pb.sp]
    loss = loss + (share[:, lv] * slopes[:, lv] * size).sum(1)
    pen = torch.relu(req["spatial"] - pb.lim["spatial"]) ** 2 + torch.relu(req["sp_words"] - pb.lim["sp_words"]) ** 2 \
        + torch.relu(req["acc_words"] - pb.lim["acc_words"]) ** 2
    total = loss + 10.0 * pen.sum(1)
    return torch.where(torch.isfinite(total), total, torch.zeros_like(total)).sum()


def _round(pb: _Problem, theta: torch.Tensor, perms: np.ndarray) -> list[MappingBatch]:
    """Nearest valid integer mappings (one batch of S rows per layer) of the continuous ``theta``."""
    lf = pb.log_factors(theta).detach().numpy()  # [S, N, 3, L, 7]
    cap = np.full((3, pb.L), np.inf)
    cap[1:] = pb.lim["spatial"]
    out = []
    for i, enc in enumerate(pb.encs):
        b = enc.round_log2(lf[:, i], cap)
        b.perm = perms[:, i].astype(np.int8).copy()
        out.append(b)
    return out


def _theta_from(pb: _Problem, batches: list[MappingBatch], floor: float) -> torch.Tensor:
    """Logits whose softmax shares reproduce integer mappings (mixed with ``floor`` of uniform, so no loop is shut)."""
    S = len(batches[0])
    theta = torch.zeros(S, pb.N, 7, pb.J, dtype=torch.float64)
    for i, b in enumerate(batches):
        lf = np.log2(np.stack([b.temporal, b.spatial_x, b.spatial_y], 1).astype(np.float64))  # [S, 3, L, 7]
        for di, cells in enumerate(pb.cells):
            n = float(pb.logn[i, di])
            if n == 0 or not cells:
                continue
            share = np.stack([lf[:, k, lv, di] for k, lv in cells], 1) / n
            share = (1 - floor) * share + floor / len(cells)
            theta[:, i, di, :len(cells)] = torch.as_tensor(np.log(share))
    return theta


def _choose_orders(pb: _Problem, cfg: Any, batches: list[MappingBatch], s: int, tracker: Tracker) -> Design | None:
    """Per level, the best of the six group orders for every layer of start ``s`` (exact model); updates the
    batches' ``perm`` row ``s`` and returns the resulting design."""
    rows = [b[s] for b in batches]
    cyc, en = pb.exact(cfg, rows)
    if np.isnan(cyc).any():
        tracker.spend(1)
        return None
    tracker.spend(1)
    counts = pb.net.counts
    for lv in range(pb.L - 1, -1, -1):
        cands = []
        for g in GROUP_ORDERS:
            trial = []
            for r in rows:
                t = r[0]
                t = MappingBatch(t.level_names, t.temporal, t.spatial_x, t.spatial_y, t.perm.copy(), t.keep, t.sperm)
                t.perm[0, lv] = g
                trial.append(t)
            cands.append(trial)
        stacked = [MappingBatch.concat([c[i] for c in cands]) for i in range(pb.N)]
        c2, e2 = pb.exact(cfg, stacked)  # [6, N]
        tracker.spend(len(GROUP_ORDERS))
        lat, tot = float((cyc[0] * counts).sum()), float((en[0] * counts).sum())
        # per layer: the order with the lowest first-order change of log network EDP
        gain = counts[None] * (np.nan_to_num(c2, nan=np.inf) / lat + np.nan_to_num(e2, nan=np.inf) / tot)
        cur = counts * (cyc[0] / lat + en[0] / tot)
        for i in range(pb.N):
            j = int(np.argmin(gain[:, i]))
            if gain[j, i] < cur[i] - 1e-12:
                rows[i] = cands[j][i]
                cyc[0, i], en[0, i] = c2[j, i], e2[j, i]
    for i, b in enumerate(batches):
        b.perm[s] = rows[i].perm[0]
    return Design(cfg, rows, cyc[0].copy(), en[0].copy(), counts)


def run(net: Network, space: Any, archs: Any, tracker: Tracker, seed: int, starts: int = SETTINGS["starts"],
        steps_per_round: int = SETTINGS["steps_per_round"], lr: float = SETTINGS["lr"],
        init_samples: int = SETTINGS["init_samples"], max_steps: int | None = SETTINGS["max_steps"]) -> dict[str, Any]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg0 = space.infer(max(space.choices["pe_dim"]), 2 ** 30, 2 ** 30)  # the largest design: every mapping fits
    pb = _Problem(net, space, archs, cfg0)
    S = starts
    # starts: the best of a few random valid mappings per layer on the largest design, random loop orders
    arch0, ert0, _ = archs.get(cfg0)
    init = []
    for lay in net.layers:
        b, _ = sample_mappings(arch0, lay.dims, init_samples, 0, int(rng.integers(2**31)), strict=False)
        r = evaluate_batch(arch0, ert0, lay.dims, b)
        score = np.where(r.valid, np.log(r.cycles.astype(np.float64)) + np.log(r.energy_pJ), np.inf)
        idx = np.argsort(score)[:S]
        idx = np.resize(idx, S)
        init.append(b[idx])
    tracker.spend(init_samples)
    perms = np.stack([b.perm for b in init], 1).astype(np.int8)  # [S, N, L, 7]
    theta = _theta_from(pb, init, SETTINGS["share_floor"]).requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    batches = init
    cfgs = pb.infer(pb.exact_requirements(batches))
    rounds = 0
    step = 0
    per_round = steps_per_round * S + S * (1 + len(GROUP_ORDERS) * pb.L)
    while tracker.remaining >= per_round and (max_steps is None or step < max_steps):
        slopes = torch.as_tensor(np.stack([_energy_slopes(pb, c) for c in cfgs]))
        for _ in range(steps_per_round):
            opt.zero_grad()
            out = _forward(pb, theta, perms, cfgs)
            _loss(pb, out, slopes).backward()
            with torch.no_grad():  # a start whose model value is not finite (rare corner of the STEs) stays put
                theta.grad = torch.nan_to_num(theta.grad, nan=0.0, posinf=0.0, neginf=0.0)
            opt.step()
            step += 1
            tracker.spend(S)
            with torch.no_grad():
                req = pb.requirements(pb.log_factors(theta))
            cfgs = pb.infer({k: v.numpy() for k, v in req.items()})
        # round every start, infer its design, pick loop orders with the exact model
        batches = _round(pb, theta, perms)
        cfgs = pb.infer(pb.exact_requirements(batches))
        for s in range(S):
            design = _choose_orders(pb, cfgs[s], batches, s, tracker)
            if design is not None:
                tracker.spend(0, design)
        perms = np.stack([b.perm for b in batches], 1).astype(np.int8)
        with torch.no_grad():  # continue from the rounded point
            theta.copy_(_theta_from(pb, batches, SETTINGS["share_floor"]))
        rounds += 1
    return {"starts": S, "steps": step, "rounds": rounds, "steps_per_round": steps_per_round, "lr": lr}
