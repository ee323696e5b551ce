"""Batched greedy local search over the mappings of one layer on fixed hardware, with the exact analytical model.

A population of mappings (the best of a random valid sample) is improved in rounds: every member spawns
``children`` copies with 1-3 prime factors moved to another loop and, sometimes, one level's loop order changed
(:meth:`Encoding.mutate`); all children of a round are evaluated in one :func:`evaluate_batch` call (the compiled
kernel, validity included) and a member is replaced by its best child when that is better. A member that has not
improved for ``patience`` rounds restarts from a heavy mutation of the best mapping found. Every evaluated child
counts as one evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from looplab.analytical import evaluate_batch
from looplab.archspec import ArchSpec
from looplab.errors import LooplabError
from mappers.mapping import MappingBatch
from mappers.sampler import sample_mappings
from mappers.search.encoding import Encoding

METRICS = ("edp", "energy", "delay")


def objective(cycles: np.ndarray, energy: np.ndarray, valid: np.ndarray, metric: str) -> np.ndarray:
    """log of the metric (lower is better); +inf for invalid mappings."""
    if metric not in METRICS:
        raise LooplabError(f"unknown metric {metric!r} (expected {', '.join(METRICS)})", "metric")
    with np.errstate(divide="ignore", invalid="ignore"):
        c, e = np.log(cycles.astype(np.float64)), np.log(energy)
        val = {"edp": c + e, "energy": e + 1e-9 * c, "delay": c + 1e-9 * e}[metric]
    return np.where(valid & np.isfinite(val), val, np.inf)


@dataclass
class LayerProblem:
    """One layer on one architecture: the exact model behind a counter of evaluations."""

    arch: ArchSpec
    ert: Any
    dims: dict
    metric: str = "edp"
    family: str | None = None
    evaluations: int = 0
    enc: Encoding = field(init=False)

    def __post_init__(self) -> None:
        self.enc = Encoding(self.arch, self.dims, self.family)

    def evaluate(self, batch: MappingBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(cycles, energy_pJ, valid, objective) of every mapping of ``batch``."""
        r = evaluate_batch(self.arch, self.ert, self.dims, batch)
        self.evaluations += len(batch)
        return r.cycles, r.energy_pJ, r.valid, objective(r.cycles, r.energy_pJ, r.valid, self.metric)

    def evaluate_choice(self, choice: np.ndarray, perm: np.ndarray) -> np.ndarray:
        return self.evaluate(self.enc.decode(choice, perm))[3]

    def sample(self, n: int, seed: int) -> MappingBatch:
        """``n`` random valid mappings (the project's sampler); fewer when the layer has fewer."""
        batch, _ = sample_mappings(self.arch, self.dims, n, 0, seed, self.family, strict=False)
        return batch


@dataclass
class SearchResult:
    batch: MappingBatch  # the best mapping (one row)
    score: float
    evaluations: int
    trace: list[tuple[int, float]]  # (evaluations so far, best objective) after every round
    wall_s: float


def local_search(prob: LayerProblem, seed: int = 0, *, init: MappingBatch | None = None, n_init: int = 1024,
                 pop: int = 16, children: int = 64, max_evals: int = 200_000, patience: int = 8,
                 stop_after: int = 40, deadline: float | None = None,
                 callback: Callable[[int, float], None] | None = None) -> SearchResult:
    """Best mapping found for ``prob`` (see the module docstring). ``init`` seeds the population (else ``n_init``
    random valid mappings); the search ends after ``max_evals`` evaluations, at ``deadline`` (time.monotonic), or
    when the best has not improved for ``stop_after`` rounds."""
    t0 = time.monotonic()
    rng = np.random.default_rng(seed)
    enc = prob.enc
    start = prob.evaluations
    if init is None:
        init = prob.sample(n_init, seed)
    if len(init) == 0:
        raise LooplabError("no valid mapping found to start from", prob.arch.source or "local search")
    choice, perm = enc.encode(init), init.perm.astype(np.int8)
    score = prob.evaluate(enc.decode(choice, perm))[3]
    order = np.argsort(score, kind="stable")[:pop]
    choice, perm, score = choice[order], perm[order], score[order]
    P = len(score)
    stale = np.zeros(P, np.int64)
    best_i = int(np.argmin(score))
    best = (choice[best_i].copy(), perm[best_i].copy(), float(score[best_i]))
    trace = [(prob.evaluations - start, best[2])]
    since = 0
    while prob.evaluations - start < max_evals and since < stop_after:
        if deadline is not None and time.monotonic() > deadline:
            break
        rep = np.repeat(np.arange(P), children)
        n_moves = rng.integers(1, 4, size=len(rep))
        c, p = enc.mutate(rng, choice[rep], perm[rep], n_moves)
        s = prob.evaluate_choice(c, p).reshape(P, children)
        j = np.argmin(s, axis=1)
        sj = s[np.arange(P), j]
        better = sj < score - 1e-12
        idx = np.arange(P)[better] * children + j[better]
        choice[better], perm[better], score[better] = c[idx], p[idx], sj[better]
        stale = np.where(better, 0, stale + 1)
        i = int(np.argmin(score))
        if score[i] < best[2] - 1e-12:
            best = (choice[i].copy(), perm[i].copy(), float(score[i]))
            since = 0
        else:
            since += 1
        restart = np.flatnonzero(stale >= patience)
        if len(restart):
            n = len(restart)
            c2, p2 = enc.mutate(rng, np.repeat(best[0][None], n, 0), np.repeat(best[1][None], n, 0),
                                rng.integers(3, 8, size=n), p_perm=0.7)
            choice[restart], perm[restart] = c2, p2
            score[restart] = prob.evaluate_choice(c2, p2)
            stale[restart] = 0
        trace.append((prob.evaluations - start, best[2]))
        if callback is not None:
            callback(prob.evaluations - start, best[2])
    batch = enc.decode(best[0][None], best[1][None])
    return SearchResult(batch, best[2], prob.evaluations - start, trace, time.monotonic() - t0)
