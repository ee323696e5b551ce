"""Schedule-comparison accuracy: of all pairs of schedules of one group (one layer on one accelerator) whose
labels differ, the share the model orders like the labels (a tie in the prediction counts one half), averaged
over the groups. Computed per group from Kendall's tau-b in O(n log n), never by visiting pairs:
``C - D = tau_b * sqrt((n0 - n1) (n0 - n2))`` and ``accuracy = 1/2 + (C - D) / (2 (n0 - n1))``, with ``n0`` all
pairs, ``n1`` pairs tied in the label, ``n2`` pairs tied in the prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau


def _tied_pairs(x: np.ndarray) -> float:
    _, counts = np.unique(x, return_counts=True)
    return float((counts * (counts - 1) / 2).sum())


def pair_counts(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """``(pairs ordered right (ties 1/2), pairs with distinct labels)`` of one group."""
    y = np.asarray(y, np.float64)
    pred = np.asarray(pred, np.float64)
    n = len(y)
    n0 = n * (n - 1) / 2
    n1, n2 = _tied_pairs(y), _tied_pairs(pred)
    distinct = n0 - n1
    if distinct <= 0:
        return 0.0, 0.0
    if n2 >= n0:  # every prediction equal: no pair ordered, every one a tie
        return distinct / 2, distinct
    tau = kendalltau(y, pred, variant="b").statistic
    c_minus_d = float(tau) * np.sqrt(distinct * (n0 - n2))
    return distinct / 2 + c_minus_d / 2, distinct


def pairwise_accuracy(y: np.ndarray, pred: np.ndarray, groups: np.ndarray | pd.Series | None = None) -> dict:
    """Mean over the groups of the per-group accuracy (groups with no untied pair are skipped); also the pooled
    share over all pairs, the worst group and the number of groups and pairs."""
    y = np.asarray(y)
    pred = np.asarray(pred)
    if groups is None:
        groups = np.zeros(len(y), np.int64)
    codes = pd.factorize(pd.Series(np.asarray(groups)))[0]
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    accs, right_all, pairs_all = [], 0.0, 0.0
    for idx in np.split(order, bounds):
        right, pairs = pair_counts(y[idx], pred[idx])
        if pairs > 0:
            accs.append(right / pairs)
            right_all += right
            pairs_all += pairs
    if not accs:
        return {"accuracy": float("nan"), "pooled": float("nan"), "worst_group": float("nan"), "groups": 0,
                "pairs": 0}
    return {"accuracy": float(np.mean(accs)), "pooled": right_all / pairs_all, "worst_group": float(np.min(accs)),
            "groups": len(accs), "pairs": int(pairs_all)}
