"""Seeded, vectorised random mappings with valid/invalid quotas (checked with :func:`mappers.validity.check_batch`).

Every prime factor of every layer dimension is assigned, independently, to a temporal loop at one storage level
or to a spatial loop at a fan-out level that the family allows for that dimension; each level gets a random loop
permutation (and a random spatial permutation); keep/bypass is the family's. To produce both feasible and
infeasible mappings without wasting draws, each candidate draws its own *outward bias* ``a``: a factor of dim
``d`` goes to level ``l`` of ``L`` with weight ``b[l, d] * exp(a * (2 l / (L - 1) - 1) + 0.7 z_l)`` (``z`` a
per-candidate normal jitter), so large ``a`` pushes factors towards DRAM (mostly valid), small ``a`` towards the
innermost buffers (mostly capacity failures); ``b[l, d] = (log2 capacity_l + 1)^2`` when ``d`` indexes a tensor
level ``l`` keeps (the geometric mean over levels otherwise), so a one-word register rarely takes a weight
factor. Each candidate also draws its probability ``s`` of sending a prime factor to a spatial loop (large
``s``: mostly fan-out failures). The ranges of ``a`` and ``s`` change while only one of the two quotas is open.
Duplicates (same factors, same order of the non-trivial loops) are dropped, so the quotas count distinct
mappings.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from looplab.archspec import DIMS, ArchSpec
from looplab.errors import LooplabError
from mappers.families import FamilyRules, rules_for
from mappers.mapping import MappingBatch, prime_factors
from mappers.validity import Validity, capacity, check_batch, plan

RELEVANT = {"Weights": "RSCK", "Inputs": "RSPQCN", "Outputs": "PQKN"}  # dims indexing each tensor

_PERMS = np.array(list(itertools.permutations(range(7))), np.int8)  # [5040, 7]


@dataclass
class SampleStats:
    """What one :func:`sample_mappings` call did."""

    drawn: int = 0  # candidates generated
    valid_seen: int = 0  # distinct valid candidates seen (before quota trimming)
    invalid_seen: int = 0
    duplicates: int = 0
    rounds: int = 0


class FactorGenerator:
    """Vectorised candidate generator for one (architecture, layer): draws factor assignments (the sampler's core,
    also the co-search's encoding, :mod:`mappers.search.encoding`)."""

    def __init__(self, arch: ArchSpec, dims: dict, rules: FamilyRules):
        self.arch = arch
        self.rules = rules
        self.L = len(rules.level_names)
        try:
            self.size = [int(dims[d]) for d in DIMS]
        except KeyError as exc:
            raise LooplabError(f"layer dims lack {exc.args[0]!r}", "dims") from None
        if any(s < 1 for s in self.size):
            raise LooplabError(f"layer dims must be >= 1, got {dict(zip(DIMS, self.size, strict=True))}", "dims")
        # One slot per prime factor: (dim index, prime, spatial options for that dim).
        self.slots: list[tuple[int, int, list[tuple[int, int]]]] = []
        for di, d in enumerate(DIMS):
            opts = [(s.index, 0 if s.axis == "X" else 1) for s in rules.spatial_slots_for(d)]
            for p in prime_factors(self.size[di]):
                self.slots.append((di, p, opts))
        F = len(self.slots)
        max_opt = max([len(o) for _, _, o in self.slots] + [1])
        self.n_opt = np.array([len(o) for _, _, o in self.slots], np.int64)
        self.opt_level = np.zeros((F, max_opt), np.int64)
        self.opt_axis = np.zeros((F, max_opt), np.int64)
        for f, (_, _, opts) in enumerate(self.slots):
            for j, (lev, ax) in enumerate(opts):
                self.opt_level[f, j], self.opt_axis[f, j] = lev, ax
        self.slot_dim = np.array([di for di, _, _ in self.slots], np.int64)
        self.slot_log2 = np.log2(np.array([p for _, p, _ in self.slots], np.float64))
        self.keep = np.array(rules.keep_mask(), bool)  # [L, 3]
        self.noise = 0.7
        self.pos = np.linspace(-1.0, 1.0, self.L) if self.L > 1 else np.zeros(1)
        # Base weight of (level, dim): log2 of the level's capacity (unbounded levels: 4 more than the largest) when
        # the dim indexes a tensor the level keeps, so tiny levels (a 1-word register) draw few of those factors;
        # the mean level weight for dims that do not grow the level's tiles (e.g. P, Q, N at a weight register).
        caps = [capacity(lv)[0] for lv in arch.storage]
        big = max([c for c in caps if c] or [1])
        lvl = 2.0 * np.log(np.array([np.log2(max(c, 1)) + 1.0 if c else np.log2(big) + 5.0 for c in caps]))
        self.base = np.empty((7, self.L))  # [dim, level]
        for li, kept in enumerate(rules.keep):
            relevant = set().union(*(RELEVANT[t] for t in kept)) if kept else set()
            for di, d in enumerate(DIMS):
                self.base[di, li] = lvl[li] if d in relevant else lvl.mean()

    def draw(self, rng: np.random.Generator, n: int, a_range: tuple[float, float],
             s_range: tuple[float, float]) -> MappingBatch:
        L, F = self.L, len(self.slots)
        a = rng.uniform(*a_range, size=n)
        s = rng.uniform(*s_range, size=n)
        logw = a[:, None] * self.pos[None, :] + self.noise * rng.standard_normal((n, L))  # [n, L]
        w = np.exp(logw[:, None, :] + self.base[None, :, :])  # [n, dim, L]
        cw = np.cumsum(w, axis=2)
        cw /= cw[:, :, -1:]
        u = rng.random((n, F))
        lev = (u[:, :, None] > cw[:, self.slot_dim, :]).sum(axis=2)  # [n, F] temporal level per slot
        lev = np.minimum(lev, L - 1)
        go_spatial = rng.random((n, F)) < s[:, None]
        pick = rng.random((n, F))
        # Target cell of every prime factor in a [n, 3, L, 7] array (kind 0 temporal, 1 spatial X, 2 spatial Y);
        # a factor is the product of its primes: exp2 of the summed log2 (exact after rounding).
        if F:
            n_opt = self.n_opt[None, :]
            o = np.minimum((pick * np.maximum(n_opt, 1)).astype(np.int64), np.maximum(n_opt - 1, 0))
            sp = go_spatial & (n_opt > 0)
            level = np.where(sp, self.opt_level[np.arange(F)[None, :], o], lev)
            kind = np.where(sp, 1 + self.opt_axis[np.arange(F)[None, :], o], 0)
            cell = ((np.arange(n)[:, None] * 3 + kind) * L + level) * 7 + self.slot_dim[None, :]
            logs = np.bincount(cell.ravel(), weights=np.broadcast_to(self.slot_log2, (n, F)).ravel(),
                               minlength=n * 3 * L * 7)
            fac = np.rint(np.exp2(logs)).astype(np.int64).reshape(n, 3, L, 7)
        else:
            fac = np.ones((n, 3, L, 7), np.int64)
        perm = _PERMS[rng.integers(0, len(_PERMS), size=(n, L))]  # uniform over the 5040 loop orders
        sperm = _PERMS[rng.integers(0, len(_PERMS), size=(n, L))]
        keep = np.broadcast_to(self.keep, (n, L, 3)).copy()
        return MappingBatch(self.rules.level_names, fac[:, 0], fac[:, 1], fac[:, 2], perm, keep, sperm)


def _order_code(perm: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Per level, one integer naming the order of its loops with factor > 1 (base-8 digits dim+1, innermost
    first); bound-1 loops do not count."""
    p = perm.astype(np.intp)
    nontrivial = np.take_along_axis(factors, p, axis=2) > 1  # in loop order
    code = np.zeros(perm.shape[:2], np.int64)
    for j in range(7):
        code = np.where(nontrivial[..., j], code * 8 + p[..., j] + 1, code)
    return code


def canonical_keys(batch: MappingBatch) -> list[bytes]:
    """One key per mapping: equal keys mean the same loop nest (factors; the order of loops whose factor > 1,
    temporal and spatial; keep/bypass)."""
    B = len(batch)
    if B == 0:
        return []
    order_t = _order_code(batch.perm, batch.temporal)
    spat = batch.spatial_x * batch.spatial_y
    sperm = batch.sperm if batch.sperm is not None else np.broadcast_to(np.arange(7, dtype=np.int8), spat.shape)
    order_s = _order_code(sperm, spat)
    packed = np.concatenate([
        batch.temporal.reshape(B, -1), batch.spatial_x.reshape(B, -1), batch.spatial_y.reshape(B, -1),
        order_t.reshape(B, -1), order_s.reshape(B, -1), batch.keep.reshape(B, -1)], axis=1, dtype=np.int32)
    packed = np.ascontiguousarray(packed)
    return [row.tobytes() for row in packed]


def sample_mappings(arch: ArchSpec, dims: dict, n_valid: int, n_invalid: int, seed: int,
                    family: str | None = None, *, chunk: int = 4096, max_draws: int | None = None,
                    strict: bool = True, return_stats: bool = False,
                    ) -> tuple[MappingBatch, np.ndarray] | tuple[MappingBatch, np.ndarray, Validity, SampleStats]:
    """Exactly ``n_valid`` valid then ``n_invalid`` invalid distinct random mappings of one layer on ``arch``.

    Returns ``(batch, valid)`` with the valid mappings first. ``max_draws`` (default ``max(200_000,
    200 * (n_valid + n_invalid))``) bounds the candidates drawn; when a quota cannot be met within it, a
    :class:`LooplabError` is raised (``strict``) or the mappings found so far are returned. With
    ``return_stats`` the result also carries the :class:`Validity` of the returned mappings and a
    :class:`SampleStats`.
    """
    if n_valid < 0 or n_invalid < 0:
        raise LooplabError(f"quotas must be >= 0 (valid {n_valid}, invalid {n_invalid})", "sample")
    rules = rules_for(arch, family)
    gen = FactorGenerator(arch, dims, rules)
    rng = np.random.default_rng(seed)
    max_draws = max_draws if max_draws is not None else max(200_000, 200 * (n_valid + n_invalid))
    stats = SampleStats()
    seen: set[bytes] = set()
    got: dict[bool, list[MappingBatch]] = {True: [], False: []}
    vals: dict[bool, list[Validity]] = {True: [], False: []}
    need = {True: n_valid, False: n_invalid}
    checks = plan(arch, dims)
    while (need[True] > 0 or need[False] > 0) and stats.drawn < max_draws:
        stats.rounds += 1
        if need[True] > 0 and need[False] > 0:
            a_range, s_range = (-3.0, 4.0), (0.0, 0.5)
        elif need[True] > 0:
            a_range, s_range = (0.0, 4.0), (0.0, 0.3)
        else:
            a_range, s_range = (-3.0, 1.5), (0.0, 0.45)
        open_need = max(need[True], 0) + max(need[False], 0)
        n = int(min(chunk, max(256, 8 * open_need), max_draws - stats.drawn))
        cand = gen.draw(rng, n, a_range, s_range)
        stats.drawn += n
        v = check_batch(arch, dims, cand, checks=checks)
        keys = canonical_keys(cand)
        fresh = np.zeros(n, bool)
        for i, k in enumerate(keys):
            if k not in seen:
                seen.add(k)
                fresh[i] = True
        stats.duplicates += int(n - fresh.sum())
        for ok in (True, False):
            idx = np.flatnonzero(fresh & (v.valid == ok))
            if ok:
                stats.valid_seen += len(idx)
            else:
                stats.invalid_seen += len(idx)
            idx = idx[: max(0, need[ok])]
            if len(idx):
                got[ok].append(cand[idx])
                vals[ok].append(v.take(idx))
                need[ok] -= len(idx)
    if strict and (need[True] > 0 or need[False] > 0):
        raise LooplabError(
            f"could not draw {n_valid} valid + {n_invalid} invalid distinct mappings in {stats.drawn} candidates "
            f"(got {n_valid - need[True]} valid, {n_invalid - need[False]} invalid)", arch.source or "sample")
    parts = got[True] + got[False]
    vparts = vals[True] + vals[False]
    if parts:
        batch = MappingBatch.concat(parts)
        validity = Validity.concat(vparts)
    else:
        batch = gen.draw(rng, 0, (0.0, 1.0), (0.0, 0.0))
        validity = check_batch(arch, dims, batch)
    if return_stats:
        return batch, validity.valid.copy(), validity, stats
    return batch, validity.valid.copy()
