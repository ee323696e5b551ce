"""Schedule-comparison accuracy against the plain O(n^2) definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from surrogates.metrics import pair_counts, pairwise_accuracy


def _brute(y, p):
    right = pairs = 0.0
    for i, j in itertools.combinations(range(len(y)), 2):
        if y[i] == y[j]:
            continue
        pairs += 1
        s = np.sign(y[i] - y[j]) * np.sign(p[i] - p[j])
        right += 1.0 if s > 0 else 0.5 if s == 0 else 0.0
    return right, pairs


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_pair_by_pair_definition_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    y = rng.integers(0, 8, n).astype(float)  # many label ties
    p = y + rng.normal(0, 2, n).round()  # and prediction ties
    right, pairs = pair_counts(y, p)
    b_right, b_pairs = _brute(y, p)
    assert pairs == b_pairs and right == pytest.approx(b_right, abs=1e-6)


def test_group_mean_and_edge_cases():
    y = np.array([1, 2, 3, 1, 2, 3, 5, 5])
    p = np.array([1, 2, 3, 3, 2, 1, 0, 9])
    g = np.array(["a", "a", "a", "b", "b", "b", "c", "c"])  # group c: labels tied, skipped
    r = pairwise_accuracy(y, p, g)
    assert r["groups"] == 2 and r["accuracy"] == pytest.approx(0.5) and r["worst_group"] == 0.0
    assert pairwise_accuracy(y[:3], np.zeros(3))["accuracy"] == pytest.approx(0.5)
    assert np.isnan(pairwise_accuracy(np.ones(4), np.arange(4))["accuracy"])
    big = np.random.default_rng(0).normal(size=20000)
    assert pairwise_accuracy(big, big)["accuracy"] == pytest.approx(1.0)
    assert pairwise_accuracy(big, -big)["accuracy"] == pytest.approx(0.0, abs=1e-12)
