"""Mappings of one layer as prime-factor assignments: decode, encode, mutate, round continuous factors.

Every prime factor of every layer dimension (with multiplicity) is one *slot*; its *choice* is a temporal loop at
one storage level (choice ``c < L``) or one of the spatial loops the family allows for that dimension (choice
``L + j``: the ``j``-th spatial option of :func:`mappers.families.rules_for`). The tables are the random sampler's
(:class:`mappers.sampler.FactorGenerator`), so a decoded assignment is what the sampler would have drawn. A choice is
*allowed* unless it can never be valid: a temporal loop of a dimension that indexes a tensor kept at a level of
capacity 1 (Gemmini's weight register).

Permutations are carried beside the assignment (``perm [B, L, 7]``, innermost loop first). Six *group orders* per
level name the loop orders that matter: the dimensions split into three groups by the tensors they index
({R, S, C}: W and I; {K}: W and O; {P, Q, N}: I and O), and the order of the groups decides which tensor stays
put (e.g. {P, Q, N} innermost is weight-stationary).
"""

from __future__ import annotations

import itertools

import numpy as np

from looplab.archspec import DIMS, ArchSpec
from mappers.families import rules_for
from mappers.mapping import DIM_INDEX, MappingBatch, prime_factors
from mappers.sampler import RELEVANT, FactorGenerator
from mappers.validity import capacity

GROUPS = ("RSC", "K", "PQN")
#: The six loop orders of the three dimension groups (innermost group first), as dim-index permutations.
GROUP_ORDERS = np.array([[DIM_INDEX[d] for d in "".join(GROUPS[g] for g in order)]
                         for order in itertools.permutations(range(3))], np.int8)


class Encoding:
    """Prime-slot tables of one (architecture, layer); see the module docstring."""

    def __init__(self, arch: ArchSpec, dims: dict, family: str | None = None):
        rules = rules_for(arch, family)
        self.arch, self.rules = arch, rules
        self.gen = FactorGenerator(arch, dims, rules)
        g = self.gen
        self.L = g.L
        self.F = len(g.slots)
        self.size = np.array(g.size, np.int64)
        self.slot_dim = g.slot_dim
        self.slot_prime = np.array([p for _, p, _ in g.slots], np.int64)
        self.slot_log2 = g.slot_log2
        n_choice = self.L + g.n_opt
        C = int(n_choice.max()) if self.F else self.L
        # choice -> (kind 0 temporal / 1 spatial X / 2 spatial Y, level)
        self.kind = np.zeros((self.F, C), np.int64)
        self.level = np.zeros((self.F, C), np.int64)
        allowed = np.zeros((self.F, C), bool)
        tiny = [i for i, lv in enumerate(arch.storage) if (capacity(lv)[0] or 2) < 2]
        for f in range(self.F):
            d = DIMS[int(self.slot_dim[f])]
            for c in range(self.L):
                self.level[f, c] = c
                kept = rules.keep[c]
                allowed[f, c] = not (c in tiny and any(d in RELEVANT[t] for t in kept))
            for j in range(int(g.n_opt[f])):
                self.kind[f, self.L + j] = 1 + g.opt_axis[f, j]
                self.level[f, self.L + j] = g.opt_level[f, j]
                allowed[f, self.L + j] = True
        self.allowed = allowed
        self.n_allowed = allowed.sum(axis=1)
        # allowed choices packed to the left, for uniform draws
        self.choices = np.zeros((self.F, C), np.int64)
        for f in range(self.F):
            idx = np.flatnonzero(allowed[f])
            self.choices[f, :len(idx)] = idx
        self.keep = np.array(rules.keep_mask(), bool)
        self.spatial_choices = [(f, c) for f in range(self.F) for c in range(self.L, C) if allowed[f, c]]

    # ---- assignment <-> batch -----------------------------------------------------------------------------
    def decode(self, choice: np.ndarray, perm: np.ndarray) -> MappingBatch:
        """``choice [B, F]`` and ``perm [B, L, 7]`` -> :class:`MappingBatch` (keep/bypass: the family's)."""
        B, L = choice.shape[0], self.L
        f = np.arange(self.F)[None, :]
        kind = self.kind[f, choice]
        level = self.level[f, choice]
        cell = ((np.arange(B)[:, None] * 3 + kind) * L + level) * 7 + self.slot_dim[None, :]
        logs = np.bincount(cell.ravel(), weights=np.broadcast_to(self.slot_log2, (B, self.F)).ravel(),
                           minlength=B * 3 * L * 7)
        fac = np.rint(np.exp2(logs)).astype(np.int64).reshape(B, 3, L, 7)
        keep = np.broadcast_to(self.keep, (B, L, 3)).copy()
        sperm = np.broadcast_to(np.arange(7, dtype=np.int8), (B, L, 7)).copy()
        return MappingBatch(self.rules.level_names, fac[:, 0], fac[:, 1], fac[:, 2], perm.astype(np.int8), keep,
                            sperm)

    def encode(self, batch: MappingBatch) -> np.ndarray:
        """The assignment ``[B, F]`` of a batch (inverse of :meth:`decode` up to the order of equal primes)."""
        B = len(batch)
        out = np.zeros((B, self.F), np.int64)
        cells = np.stack([batch.temporal, batch.spatial_x, batch.spatial_y], axis=1)  # [B, 3, L, 7]
        for di in range(7):
            slots = [f for f in range(self.F) if self.slot_dim[f] == di]
            if not slots:
                continue
            f0 = slots[0]
            where = {(int(self.kind[f0, c]), int(self.level[f0, c])): c
                     for c in range(self.kind.shape[1]) if c < self.L or self.kind[f0, c] > 0}
            for b in range(B):
                pool: dict[int, list[int]] = {}
                for f in slots:
                    pool.setdefault(int(self.slot_prime[f]), []).append(f)
                for (k, lv), c in where.items():
                    for p in prime_factors(int(cells[b, k, lv, di])):
                        out[b, pool[p].pop()] = c
        return out

    # ---- moves --------------------------------------------------------------------------------------------
    def random(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform random assignments over the allowed choices."""
        u = rng.integers(0, 1 << 30, size=(n, self.F)) % np.maximum(self.n_allowed, 1)[None, :]
        return self.choices[np.arange(self.F)[None, :], u]

    def mutate(self, rng: np.random.Generator, choice: np.ndarray, perm: np.ndarray, n_moves: np.ndarray,
               p_perm: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
        """Copies with ``n_moves[b]`` random prime moves each (0..3) and, with probability ``p_perm``, one level's
        loop order changed (to a random group order, or two loops swapped)."""
        choice, perm = choice.copy(), perm.copy()
        B = choice.shape[0]
        rows = np.arange(B)
        if self.F:
            for k in range(int(n_moves.max(initial=0))):
                act = n_moves > k
                f = rng.integers(0, self.F, size=B)
                u = rng.integers(0, 1 << 30, size=B) % self.n_allowed[f]
                new = self.choices[f, u]
                choice[rows[act], f[act]] = new[act]
        pm = rng.random(B) < p_perm
        lv = rng.integers(0, self.L, size=B)
        grp = rng.random(B) < 0.5
        g = GROUP_ORDERS[rng.integers(0, len(GROUP_ORDERS), size=B)]
        sel = pm & grp
        perm[rows[sel], lv[sel]] = g[sel]
        sel = pm & ~grp
        i, j = rng.integers(0, 7, size=B), rng.integers(0, 7, size=B)
        a, b = perm[rows, lv, i].copy(), perm[rows, lv, j].copy()
        perm[rows[sel], lv[sel], i[sel]] = b[sel]
        perm[rows[sel], lv[sel], j[sel]] = a[sel]
        return choice, perm

    def cells(self, di: int) -> list[tuple[int, int, int]]:
        """The (choice, kind, level) cells a prime of dimension ``di`` may go to."""
        slots = np.flatnonzero(self.slot_dim == di)
        if not len(slots):
            return []
        f0 = int(slots[0])
        return [(int(c), int(self.kind[f0, c]), int(self.level[f0, c])) for c in np.flatnonzero(self.allowed[f0])]

    def round_log2(self, target: np.ndarray, cap: np.ndarray | None = None) -> MappingBatch:
        """Integer factors closest (least squares in log2) to continuous ``log2`` factors ``target [B, 3, L, 7]``
        (kind temporal / spatial X / spatial Y), each dimension's factors multiplying to its size; ``cap [3, L]``
        bounds a cell's log2 factor. An exact dynamic programme over the divisors, per dimension. Returns the
        factors as a batch with identity loop orders (set ``perm`` afterwards)."""
        B, L = target.shape[0], self.L
        fac = np.ones((B, 3, L, 7), np.int64)
        for di in range(7):
            n = int(self.size[di])
            cells = self.cells(di)
            if n == 1 or not cells:
                continue
            divs = np.array([d for d in range(1, n + 1) if n % d == 0], np.int64)
            D = len(divs)
            lg = np.log2(divs.astype(np.float64))
            step = lg[None, :] - lg[:, None]  # [s, s'] log2(s'/s)
            ok = (divs[None, :] % divs[:, None]) == 0
            cost = np.full((B, D), np.inf)
            cost[:, 0] = 0.0
            back = []
            for _, k, lv in cells:
                t = target[:, k, lv, di]
                c = cost[:, :, None] + (step[None] - t[:, None, None]) ** 2
                bad = ~ok if cap is None else ~ok | (step > cap[k, lv] + 1e-9)
                c = np.where(bad[None], np.inf, c)
                back.append(np.argmin(c, axis=1))  # [B, s']
                cost = np.min(c, axis=1)
            s = np.full(B, D - 1)
            for j in range(len(cells) - 1, -1, -1):
                prev = back[j][np.arange(B), s]
                _, k, lv = cells[j]
                fac[:, k, lv, di] = divs[s] // divs[prev]
                s = prev
        perm = np.broadcast_to(np.arange(7, dtype=np.int8), (B, L, 7)).copy()
        keep = np.broadcast_to(self.keep, (B, L, 3)).copy()
        return MappingBatch(self.rules.level_names, fac[:, 0], fac[:, 1], fac[:, 2], perm, keep, perm.copy())
