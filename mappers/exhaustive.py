"""Exhaustive enumeration of the tiling space of a (small) layer.

The tiling space is every way of splitting each dimension's size into ordered factors over its *slots*: a
temporal loop at every storage level, plus a spatial loop at each fan-out level the family allows for that
dimension. Loop orders are not enumerated (a fixed permutation per level is used; DIMS order by default) since
they multiply the space by ``7!`` per level. :func:`count_tilings` gives the size without building it;
:func:`iter_tilings` yields it in chunks of a :class:`MappingBatch`, optionally only the valid mappings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np

from looplab.archspec import DIMS, ArchSpec
from looplab.errors import LooplabError
from mappers.families import FamilyRules, rules_for
from mappers.mapping import DIM_INDEX, MappingBatch, prime_factors
from mappers.validity import check_batch


def _slots(rules: FamilyRules, dim: str) -> list[tuple[int, int]]:
    """(kind, level index) per slot of ``dim``: kind 0 temporal, 1 spatial X, 2 spatial Y."""
    out = [(0, i) for i in range(len(rules.level_names))]
    out += [(1 if s.axis == "X" else 2, s.index) for s in rules.spatial_slots_for(dim)]
    return out


def n_ordered_factorizations(n: int, k: int) -> int:
    """Ways to write ``n`` as an ordered product of ``k`` positive integers."""
    out = 1
    for p in set(prime_factors(n)):
        e = prime_factors(n).count(p)
        out *= math.comb(e + k - 1, k - 1)
    return out


@lru_cache(maxsize=256)
def ordered_factorizations(n: int, k: int) -> np.ndarray:
    """All ordered ``k``-factorizations of ``n`` as ``int64 [count, k]`` (lexicographic)."""
    if k == 1:
        return np.array([[n]], np.int64)
    rows = []
    for d in range(1, n + 1):
        if n % d == 0:
            rest = ordered_factorizations(n // d, k - 1)
            rows.append(np.concatenate([np.full((len(rest), 1), d, np.int64), rest], axis=1))
    return np.concatenate(rows)


def count_tilings(arch: ArchSpec, dims: dict, family: str | None = None) -> int:
    rules = rules_for(arch, family)
    return math.prod(n_ordered_factorizations(int(dims[d]), len(_slots(rules, d))) for d in DIMS)


def iter_tilings(arch: ArchSpec, dims: dict, family: str | None = None, *, limit: int = 1_000_000,
                 chunk: int = 65536, permutation: Sequence[str] | None = None,
                 valid_only: bool = False) -> Iterator[MappingBatch]:
    """Every tiling of the layer on ``arch`` in chunks (see the module docstring).

    ``permutation``: one loop order per storage level (innermost first strings; default DIMS order). Raises a
    :class:`LooplabError` when the space holds more than ``limit`` tilings.
    """
    rules = rules_for(arch, family)
    L = len(rules.level_names)
    total = count_tilings(arch, dims, family)
    if total > limit:
        raise LooplabError(f"the tiling space has {total:,} points, more than limit={limit:,}; use the random "
                           "sampler or raise the limit", "enumerate")
    slots = {d: _slots(rules, d) for d in DIMS}
    tables = [ordered_factorizations(int(dims[d]), len(slots[d])) for d in DIMS]
    sizes = [len(t) for t in tables]
    perm_row = np.tile(np.arange(7, dtype=np.int8), (L, 1))
    if permutation is not None:
        if len(permutation) != L:
            raise LooplabError(f"need {L} permutations (one per level), got {len(permutation)}", "enumerate")
        for i, p in enumerate(permutation):
            if sorted(p) != sorted(DIMS):
                raise LooplabError(f"permutation {p!r} must list each of {''.join(DIMS)} once", "enumerate")
            perm_row[i] = [DIM_INDEX[c] for c in p]
    keep_row = np.array(rules.keep_mask(), bool)
    for start in range(0, total, chunk):
        idx = np.arange(start, min(total, start + chunk))
        n = len(idx)
        multi = np.unravel_index(idx, sizes)
        fac = np.ones((n, 3, L, 7), np.int64)
        for di, d in enumerate(DIMS):
            rows = tables[di][multi[di]]  # [n, slots]
            for s, (kind, lev) in enumerate(slots[d]):
                fac[:, kind, lev, di] *= rows[:, s]
        batch = MappingBatch(rules.level_names, fac[:, 0], fac[:, 1], fac[:, 2],
                             np.broadcast_to(perm_row, (n, L, 7)).copy(),
                             np.broadcast_to(keep_row, (n, L, 3)).copy(),
                             np.broadcast_to(np.arange(7, dtype=np.int8), (n, L, 7)).copy())
        if valid_only:
            ok = check_batch(arch, dims, batch).valid
            if not ok.any():
                continue
            batch = batch[np.flatnonzero(ok)]
        yield batch


def enumerate_tilings(arch: ArchSpec, dims: dict, family: str | None = None, **kwargs) -> MappingBatch:
    """All tilings (or only the valid ones, ``valid_only=True``) as one :class:`MappingBatch`."""
    parts = list(iter_tilings(arch, dims, family, **kwargs))
    if not parts:
        rules = rules_for(arch, family)
        L = len(rules.level_names)
        z = np.ones((0, L, 7), np.int64)
        return MappingBatch(rules.level_names, z, z.copy(), z.copy(), np.zeros((0, L, 7), np.int8),
                            np.zeros((0, L, 3), bool), np.zeros((0, L, 7), np.int8))
    return MappingBatch.concat(parts)
