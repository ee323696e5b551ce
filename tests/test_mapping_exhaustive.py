"""Exhaustive tiling enumeration on small layers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from looplab.archspec import DIMS, parse_arch
from looplab.errors import LooplabError
from mappers.exhaustive import (
    count_tilings,
    enumerate_tilings,
    iter_tilings,
    n_ordered_factorizations,
    ordered_factorizations,
)
from mappers.sampler import sample_mappings
from mappers.validity import check_batch


def test_ordered_factorizations_brute_force():
    for n in (1, 2, 6, 12, 16, 30):
        for k in (1, 2, 3, 4):
            brute = [c for c in itertools.product(range(1, n + 1), repeat=k) if math.prod(c) == n]
            table = ordered_factorizations(n, k)
            assert sorted(map(tuple, table.tolist())) == sorted(brute)
            assert n_ordered_factorizations(n, k) == len(brute)


@pytest.mark.parametrize("arch", ["gemmini_4x4", "simba_final"])
def test_small_layer_space(arch, ref_dir):
    spec = parse_arch(ref_dir / "archs" / arch / "arch.yaml")
    dims = dict(R=1, S=3, P=2, Q=1, C=2, K=4, N=1, Wstride=1, Hstride=1, Wdilation=1, Hdilation=1)
    total = count_tilings(spec, dims)
    everything = enumerate_tilings(spec, dims)
    assert len(everything) == total
    prod = (everything.temporal * everything.spatial_x * everything.spatial_y).prod(axis=1)
    assert (prod == np.array([dims[d] for d in DIMS])).all()
    keys = {np.concatenate([everything.temporal[i], everything.spatial_x[i], everything.spatial_y[i]]).tobytes()
            for i in range(len(everything))}
    assert len(keys) == total  # no tiling twice
    valid = enumerate_tilings(spec, dims, valid_only=True, chunk=500)
    assert len(valid) == int(check_batch(spec, dims, everything).valid.sum()) > 0
    # Every tiling the random sampler draws is a point of the space.
    sampled, _ = sample_mappings(spec, dims, 5, 5, seed=1)
    for i in range(len(sampled)):
        k = np.concatenate([sampled.temporal[i], sampled.spatial_x[i], sampled.spatial_y[i]]).tobytes()
        assert k in keys


def test_limit_and_permutation(ref_dir):
    spec = parse_arch(ref_dir / "archs" / "gemmini_default" / "arch.yaml")
    dims = dict(R=3, S=3, P=56, Q=56, C=64, K=64, N=1)
    with pytest.raises(LooplabError, match="more than limit"):
        next(iter_tilings(spec, dims))
    small = dict(R=1, S=1, P=2, Q=1, C=1, K=2, N=1)
    perms = ["KPRSQCN", "RSPQCKN", "RSPQCKN", "PKRSQCN"]
    b = enumerate_tilings(spec, small, permutation=perms)
    assert "".join(DIMS[i] for i in b.perm[0, 0]) == "KPRSQCN"
    with pytest.raises(LooplabError, match="need 4 permutations"):
        enumerate_tilings(spec, small, permutation=perms[:2])
