"""Cross-validation of the RTL-latency predictors: group k-fold over layer shapes and DOSA's random 8% protocol.

Metrics (pure functions of predicted and measured cycles): Pearson and Spearman correlation, mean and median
absolute percentage error, share within 10%. Every table is given on all rows and without the *extreme* rows,
which are named, never silently dropped: rows whose measured/analytical ratio lies outside Tukey's fences
(1.5 IQR) of the log ratio over the evaluated file (:func:`extreme_rows`). A third view keeps the rows whose mapping
fills the real array (:func:`full_array_rows`): there the analytical model is right in magnitude up to a factor,
and what a learned correction adds or costs shows apart from the low-utilisation mappings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, ShuffleSplit

from looplab.errors import LooplabError

#: the predictors compared (name -> RtlLatencyRegressor parameters, feature set); the CLI's models are among them
PREDICTORS: dict[str, tuple[dict[str, Any], str]] = {
    "analytical": ({}, "rtl"),  # the analytical model as it is (no fit)
    "analytical-affine": ({"mode": "analytical"}, "rtl"),
    "mlp-raw": ({"mode": "learned", "estimator": "mlp"}, "raw"),
    "gbm-raw": ({"mode": "learned", "estimator": "gbm"}, "raw"),
    "mlp-cosa": ({"mode": "learned", "estimator": "mlp"}, "cosa"),
    "gbm-cosa": ({"mode": "learned", "estimator": "gbm"}, "cosa"),
    "mlp-rtl": ({"mode": "learned", "estimator": "mlp"}, "rtl"),
    "gbm-rtl": ({"mode": "learned", "estimator": "gbm"}, "rtl"),
    "residual-ridge-rtl": ({"mode": "residual", "estimator": "ridge"}, "rtl"),
    "residual-mlp-raw": ({"mode": "residual", "estimator": "mlp"}, "raw"),
    "residual-mlp-rtl": ({"mode": "residual", "estimator": "mlp"}, "rtl"),
    "residual-gbm-rtl": ({"mode": "residual", "estimator": "gbm"}, "rtl"),
    "residual-gbm-rtl-uncalibrated": ({"mode": "residual", "estimator": "gbm", "calibrate": "none"}, "rtl"),
    "residual-mlp+gbm-rtl": ({"mode": "residual", "estimator": "mlp+gbm"}, "rtl"),
    "counts": ({"mode": "counts"}, "rtl"),
    "residual-ridge-rtl-counts": ({"mode": "residual", "estimator": "ridge", "base": "counts"}, "rtl"),
    "residual-mlp-rtl-counts": ({"mode": "residual", "estimator": "mlp", "base": "counts"}, "rtl"),
    "residual-gbm-rtl-counts": ({"mode": "residual", "estimator": "gbm", "base": "counts"}, "rtl"),
    "residual-gbm-rtl-counts-uncalibrated": ({"mode": "residual", "estimator": "gbm", "base": "counts",
                                              "calibrate": "none"}, "rtl"),
    "residual-mlp+gbm-rtl-counts": ({"mode": "residual", "estimator": "mlp+gbm", "base": "counts"}, "rtl"),
}


def metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pearson, Spearman, MAPE, median APE and share within 10% of predicted vs measured cycles."""
    pred, truth = np.asarray(pred, float), np.asarray(truth, float)
    ape = np.abs(pred - truth) / truth
    ok = len(truth) > 1 and np.ptp(truth) > 0 and np.ptp(pred) > 0
    return {"n": int(len(truth)),
            "pearson": float(pearsonr(pred, truth)[0]) if ok else float("nan"),
            "spearman": float(spearmanr(pred, truth)[0]) if ok else float("nan"),
            "mape": float(ape.mean()), "median_ape": float(np.median(ape)), "within_10pct": float(np.mean(ape <= 0.1))}


def extreme_rows(ana_cycles: np.ndarray, rtl_cycles: np.ndarray, k: float = 1.5) -> tuple[np.ndarray, tuple]:
    """Mask of the rows whose log(measured / analytical) lies outside Tukey's fences ``[Q1 - k IQR, Q3 + k IQR]``,
    and the fences as ratios."""
    lr = np.log(np.asarray(rtl_cycles, float) / np.asarray(ana_cycles, float))
    q1, q3 = np.percentile(lr, [25, 75])
    lo, hi = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    return (lr < lo) | (lr > hi), (float(np.exp(lo)), float(np.exp(hi)))


def full_array_rows(spatial: np.ndarray, array_dim: int = 16) -> np.ndarray:
    """Mask of the rows whose mapping spreads both input channels (C) and output channels (K) over at least
    ``array_dim`` PEs (``spatial``: [B, levels, 7] spatial factors, dims R S P Q C K N), i.e. fills the real
    ``array_dim`` x ``array_dim`` Gemmini array."""
    sp = np.asarray(spatial)
    return (sp[:, :, 4].prod(axis=1) >= array_dim) & (sp[:, :, 5].prod(axis=1) >= array_dim)


@dataclass
class Protocol:
    name: str
    splits: list[tuple[np.ndarray, np.ndarray]]
    description: str

    @property
    def test_indices(self) -> np.ndarray:
        return np.concatenate([te for _, te in self.splits])


def group_kfold(groups: np.ndarray, k: int = 5) -> Protocol:
    """k folds over layer shapes: no layer in both train and test."""
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise LooplabError(f"cross-validation over layer shapes needs rows of at least 2 layer shapes, got {n_groups}",
                           "training data")
    k = min(k, n_groups)
    splits = list(GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=groups))
    return Protocol(f"group-{k}-fold", splits, f"{k}-fold over {n_groups} layer shapes (no layer in train and test)")


def random_share(n: int, share: float = 0.08, repeats: int = 5, seed: int = 0) -> Protocol:
    """DOSA's protocol: a random ``share`` of the rows as test set (layers seen in training), ``repeats`` seeds."""
    ss = ShuffleSplit(n_splits=repeats, test_size=share, random_state=seed)
    return Protocol(f"random-{share:.0%}", list(ss.split(np.zeros(n))),
                    f"random {share:.0%} of rows held out, {repeats} seeds (DOSA's protocol; layers seen in training)")


def cross_validate(X_by_set: dict[str, pd.DataFrame], y: np.ndarray, ana: np.ndarray, protocol: Protocol,
                   predictors: Sequence[str], seed: int = 0, progress: bool = True,
                   predictors_spec: dict[str, tuple[dict[str, Any], str]] | None = None,
                   groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per predictor, the out-of-fold predictions (group k-fold: each row predicted once; repeated random
    splits: the rows of all test sets, concatenated, with their indices under ``"_index"``). ``groups`` (layer
    shapes) go to each fit, for its inner calibration folds."""
    from looplab.progress import Progress
    from surrogates.rtl.estimators import RtlLatencyRegressor

    test_idx = np.concatenate([te for _, te in protocol.splits])
    out: dict[str, np.ndarray] = {"_index": test_idx}
    spec = predictors_spec or PREDICTORS
    n_fits = sum(len(protocol.splits) for name in predictors if spec[name][0])  # the analytical model is not fitted
    with Progress(total=n_fits, unit="fit", desc=f"cross-validation ({protocol.name})", enabled=progress) as prog:
        for name in predictors:
            params, fset = spec[name]
            preds = []
            for tr, te in protocol.splits:
                if not params:
                    preds.append(ana[te])
                    continue
                model = clone(RtlLatencyRegressor(random_state=seed, **params))
                X = X_by_set[fset]
                model.fit(X.iloc[tr], y[tr], groups=None if groups is None else groups[tr])
                preds.append(model.predict(X.iloc[te]))
                prog.postfix(predictor=name)
                prog.update(1)
            out[name] = np.concatenate(preds)
    return out


def table(oof: dict[str, np.ndarray], y: np.ndarray, mask: np.ndarray | None = None) -> pd.DataFrame:
    """One row of :func:`metrics` per predictor over the out-of-fold predictions (optionally a row subset)."""
    idx = oof["_index"]
    keep = np.ones(len(idx), bool) if mask is None else mask[idx]
    rows = {name: metrics(p[keep], y[idx][keep]) for name, p in oof.items() if name != "_index"}
    return pd.DataFrame(rows).T


def format_table(df: pd.DataFrame) -> str:
    lines = [f"{'predictor':30s} {'n':>5s} {'Pearson':>8s} {'Spearman':>8s} {'MAPE':>8s} {'median':>7s} {'<=10%':>6s}"]
    for name, r in df.iterrows():
        lines.append(f"{name:30s} {int(r['n']):5d} {r['pearson']:8.3f} {r['spearman']:8.3f} {r['mape']:8.1%} "
                     f"{r['median_ape']:7.1%} {r['within_10pct']:6.1%}")
    return "\n".join(lines)


def file_tag(name: str) -> str:
    """``name`` as a file-name part (``random-8%`` -> ``random-8pct``, ``mlp+gbm`` -> ``mlp_gbm``)."""
    return name.replace("%", "pct").replace("+", "_")


def scatter_plots(oof: dict[str, np.ndarray], y: np.ndarray, out_dir: Path, tag: str,
                  extreme: np.ndarray | None = None) -> list[str]:
    """Predicted vs measured (log-log, y = x) per predictor: one PNG per predictor, extreme rows marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = oof["_index"]
    truth = y[idx]
    written = []
    for name, p in oof.items():
        if name == "_index":
            continue
        fig, ax = plt.subplots(figsize=(4.2, 4.2))
        ext = np.zeros(len(idx), bool) if extreme is None else extreme[idx]
        ax.scatter(truth[~ext], p[~ext], s=5, alpha=0.5, label="rows")
        if ext.any():
            ax.scatter(truth[ext], p[ext], s=9, marker="x", color="tab:red", label="extreme rows")
        lo, hi = min(truth.min(), p.min()), max(truth.max(), p.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("measured RTL cycles (FireSim)")
        ax.set_ylabel("predicted cycles")
        m = metrics(p, truth)
        ax.set_title(f"{name} ({tag})\nPearson {m['pearson']:.3f} Spearman {m['spearman']:.3f}", fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
        fig.tight_layout()
        path = out_dir / f"scatter_{file_tag(tag)}_{file_tag(name)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path.name)
    return written
