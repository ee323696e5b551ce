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


#: At most this many colours in a legend; with more architectures the points are coloured by family.
MAX_LEGEND = 10


def _colour_groups(n: int, arch: np.ndarray | None, family: np.ndarray | None) -> tuple[str, np.ndarray | None]:
    """("architecture" | "family" | "", per-point labels): architectures when few enough, else families."""
    for what, labels in (("architecture", arch), ("family", family)):
        if labels is not None and len(labels) == n and 1 < len(set(labels.tolist())) <= MAX_LEGEND:
            return what, np.asarray(labels)
    if family is not None and len(family) == n and len(set(family.tolist())) == 1 and arch is not None and \
            len(set(arch.tolist())) <= MAX_LEGEND:
        return "architecture", np.asarray(arch)
    return "", None


def _save(fig, path: str | Path) -> str:
    plt = _plt()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path).name


def scatter_loglog(pred: np.ndarray, truth: np.ndarray, path: str | Path, metric: str,
                   arch: np.ndarray | None = None, family: np.ndarray | None = None) -> str:
    """Model vs recorded on log-log axes with the y = x line, points coloured by architecture (or by family when
    there are more than MAX_LEGEND architectures); returns the file name."""
    return _save(scatter_figure(pred, truth, metric, arch, family), path)


def scatter_figure(pred: np.ndarray, truth: np.ndarray, metric: str, arch: np.ndarray | None = None,
                   family: np.ndarray | None = None):
    plt = _plt()
    pred, truth = np.asarray(pred, float), np.asarray(truth, float)
    fig, ax = plt.subplots(figsize=(5.6, 5), dpi=110)
    what, labels = _colour_groups(len(truth), arch, family)
    if labels is None:
        ax.scatter(truth, pred, s=8, alpha=0.5, lw=0, zorder=2)
    else:
        cmap = plt.get_cmap("tab10")
        for k, name in enumerate(sorted(set(labels.tolist()))):
            m = labels == name
            ax.scatter(truth[m], pred[m], s=8, alpha=0.6, lw=0, color=cmap(k % 10), label=f"{name} ({int(m.sum())})",
                       zorder=2)
    lo = float(np.nanmin([truth.min(), pred.min()]))
    hi = float(np.nanmax([truth.max(), pred.max()]))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x", zorder=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    label = LABELS.get(metric, metric)
    ax.set_xlabel(f"recorded {label}")
    ax.set_ylabel(f"analytical model {label}")
    ax.set_title(f"{metric}: model vs recorded (n={len(truth)})")
    ax.legend(loc="upper left", fontsize=7, markerscale=2, title=what or None, title_fontsize=7)
    return fig


def _plain_axis(axis) -> None:
    """No offset or scientific notation on a percent axis, and few enough ticks not to overlap."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    fmt = ScalarFormatter(useOffset=False)
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)
    axis.set_major_locator(MaxNLocator(nbins=7))


def error_histogram(pred: np.ndarray, truth: np.ndarray, path: str | Path, metric: str) -> str:
    """Signed relative error (%) histogram, and the distribution of log10 |relative error| of inexact rows. When
    every row is exact the panels say so instead of drawing empty or zero-width axes."""
    return _save(error_histogram_figure(pred, truth, metric), path)


def error_histogram_figure(pred: np.ndarray, truth: np.ndarray, metric: str):
    plt = _plt()
    pred, truth = np.asarray(pred, float), np.asarray(truth, float)
    rel = (pred - truth) / truth
    err = 100.0 * rel
    exact = np.abs(rel) <= 1e-9
    n = len(err)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    span = float(np.max(np.abs(err))) if n else 0.0
    all_exact = span <= 1e-7
    if all_exact:  # every row exact (to 1e-9): one bar at 0 on a readable +-1% axis
        span = 1.0
    ax.hist(err, bins=np.linspace(-span, span, 82), color="tab:blue")  # 81 bins, the middle one centred on 0
    ax.set_xlim(-span, span)
    _plain_axis(ax.xaxis)
    if not all_exact:
        ax.set_yscale("log")
    ax.set_xlabel(f"relative error of {metric} (%), model - recorded")
    ax.set_ylabel("mappings")
    ax.set_title(f"{metric}: n={n}, |err|<=1%: {int(np.sum(np.abs(err) <= 1))}")
    inexact = np.log10(np.abs(rel[~exact])) if np.any(~exact) else np.array([])
    if inexact.size:
        ax2.hist(inexact, bins=40, color="tab:orange")
        ax2.axvline(-2, color="k", ls="--", lw=0.8, label="1%")
        ax2.legend()
        ax2.set_ylabel("mappings")
    else:
        ax2.text(0.5, 0.5, f"all {n} rows exact\n(|relative error| <= 1e-9)", ha="center", va="center",
                 fontsize=12, transform=ax2.transAxes)
        ax2.set_xticks([])
        ax2.set_yticks([])
    ax2.set_xlabel("log10 |relative error| (rows not exact to 1e-9)")
    ax2.set_title(f"exact (<=1e-9): {int(exact.sum())} of {n}")
    return fig


def confusion(conf: dict[str, int], path: str | Path) -> str:
    """2x2 validity confusion (rows: model, columns: recorded); counts in white on dark cells."""
    return _save(confusion_figure(conf), path)


def confusion_figure(conf: dict[str, int]):
    plt = _plt()
    m = np.array([[conf["valid_valid"], conf["valid_invalid"]], [conf["invalid_valid"], conf["invalid_invalid"]]])
    fig, ax = plt.subplots(figsize=(4, 3.6), dpi=110)
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=max(1, int(m.max())))
    for i in range(2):
        for j in range(2):
            dark = im.norm(m[i, j]) > 0.5
            ax.text(j, i, f"{m[i, j]:,}", ha="center", va="center", color="white" if dark else "black",
                    fontsize=12, fontweight="bold")
    ax.set_xticks([0, 1], ["valid", "invalid"])
    ax.set_yticks([0, 1], ["valid", "invalid"])
    ax.set_xlabel("recorded (Timeloop)")
    ax.set_ylabel("analytical model")
    ax.set_title("validity")
    return fig
