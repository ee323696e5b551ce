"""Correlation plots readable in the degenerate case (every error zero) and the real one."""

from __future__ import annotations

import numpy as np
import pytest

from looplab import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _tick_labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()]


def test_all_exact_histogram_is_readable():
    truth = np.geomspace(1e3, 1e9, 300)
    fig = plots.error_histogram_figure(truth.copy(), truth, "cycles")
    ax, ax2 = fig.axes
    labels = _tick_labels(ax)
    assert 3 <= len(labels) <= 9, labels
    assert ax.xaxis.get_offset_text().get_text() == ""  # no "1e-6" offset on a percent axis
    lo, hi = ax.get_xlim()
    assert hi - lo >= 1.0  # a readable +-1% window, not +-1e-6
    assert any("all 300 rows exact" in t.get_text() for t in ax2.texts)


def test_real_histogram_has_no_offset_and_few_ticks():
    rng = np.random.default_rng(1)
    truth = rng.uniform(1e5, 1e6, 400)
    pred = truth * (1 + 1e-4 + rng.normal(0, 2e-5, 400))
    fig = plots.error_histogram_figure(pred, truth, "energy")
    ax = fig.axes[0]
    labels = _tick_labels(ax)
    assert 3 <= len(labels) <= 9 and ax.xaxis.get_offset_text().get_text() == "", labels


def test_confusion_counts_contrast_with_their_cells():
    fig = plots.confusion_figure({"valid_valid": 2592, "valid_invalid": 0, "invalid_valid": 3,
                                  "invalid_invalid": 2589})
    colours = {t.get_text(): t.get_color() for t in fig.axes[0].texts}
    assert colours["2,592"] == "white" and colours["2,589"] == "white"
    assert colours["0"] == "black" and colours["3"] == "black"


def test_scatter_colours_points_by_architecture_then_family():
    rng = np.random.default_rng(2)
    truth = rng.uniform(1e3, 1e6, 200)
    arch = np.array(["a0", "a1", "g0"])[rng.integers(0, 3, 200)]
    family = np.where(arch == "g0", "gemmini", "simba")
    ax = plots.scatter_figure(truth, truth, "cycles", arch=arch, family=family).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [x.split(" ")[0] for x in legend[:3]] == ["a0", "a1", "g0"]
    assert len({tuple(c.get_facecolor()[0]) for c in ax.collections}) == 3
    many = np.array([f"arch{i}" for i in range(40)])[rng.integers(0, 40, 200)]
    fam = np.where(np.char.endswith(many, "7"), "gemmini", "simba")
    ax = plots.scatter_figure(truth, truth, "cycles", arch=many, family=fam).axes[0]
    assert ax.get_legend().get_title().get_text() == "family"
