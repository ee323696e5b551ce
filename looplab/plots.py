"""PNG plots for correlation reports (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = {"cycles": "cycles", "energy": "energy (pJ)", "edp": "EDP (cycles x pJ)"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scatter_loglog(pred: np.ndarray, truth: np.ndarray, path: str | Path, metric: str) -> str:
    """Model vs recorded on log-log axes with the y = x line; returns the file name."""
    plt = _plt()
    pred, truth = np.asarray(pred, float), np.asarray(truth, float)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.scatter(truth, pred, s=6, alpha=0.5, lw=0)
    lo = float(np.nanmin([truth.min(), pred.min()]))
    hi = float(np.nanmax([truth.max(), pred.max()]))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    label = LABELS.get(metric, metric)
    ax.set_xlabel(f"recorded {label}")
    ax.set_ylabel(f"analytical model {label}")
    ax.set_title(f"{metric}: model vs recorded (n={len(truth)})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path).name


def error_histogram(pred: np.ndarray, truth: np.ndarray, path: str | Path, metric: str) -> str:
    """Signed relative error (%) histogram, and the distribution of log10 |relative error| of inexact rows."""
    plt = _plt()
    pred, truth = np.asarray(pred, float), np.asarray(truth, float)
    rel = (pred - truth) / truth
    err = 100.0 * rel
    exact = np.abs(rel) <= 1e-9
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    span = max(float(np.max(np.abs(err))), 1e-6)
    ax.hist(err, bins=np.linspace(-span, span, 81), color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel(f"relative error of {metric} (%), model - recorded")
    ax.set_ylabel("mappings")
    ax.set_title(f"{metric}: n={len(err)}, |err|<=1%: {int(np.sum(np.abs(err) <= 1))}")
    inexact = np.log10(np.abs(rel[~exact])) if np.any(~exact) else np.array([])
    if inexact.size:
        ax2.hist(inexact, bins=40, color="tab:orange")
    ax2.axvline(-2, color="k", ls="--", lw=0.8, label="1%")
    ax2.set_xlabel("log10 |relative error| (rows not exact to 1e-9)")
    ax2.set_ylabel("mappings")
    ax2.set_title(f"exact (<=1e-9): {int(exact.sum())} of {len(err)}")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path).name


def confusion(conf: dict[str, int], path: str | Path) -> str:
    """2x2 validity confusion (rows: model, columns: recorded)."""
    plt = _plt()
    m = np.array([[conf["valid_valid"], conf["valid_invalid"]], [conf["invalid_valid"], conf["invalid_invalid"]]])
    fig, ax = plt.subplots(figsize=(4, 3.6), dpi=110)
    ax.imshow(m, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="black", fontsize=12)
    ax.set_xticks([0, 1], ["valid", "invalid"])
    ax.set_yticks([0, 1], ["valid", "invalid"])
    ax.set_xlabel("recorded (Timeloop)")
    ax.set_ylabel("analytical model")
    ax.set_title("validity")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path).name
