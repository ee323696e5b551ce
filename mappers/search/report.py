"""``looplab search`` outputs: summary.json, convergence.png (best EDP vs evaluations), report.md."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mappers.search.budget import __doc__ as EVALUATION_DOC


def write_summary(out: Path, summary: dict[str, Any], meta: dict[str, Any]) -> Path:
    """``out/summary.json`` (``{method: {...}}``) and ``out/run.json`` (workload, budget, seed, energy tables)."""
    (out / "run.json").write_text(json.dumps(meta, indent=1))
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=1, default=str))
    return path


def plot_convergence(out: Path, traces: dict[str, list[tuple[int, float]]], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, trace in traces.items():
        pts = [(e, v) for e, v in trace if math.isfinite(v)]
        if pts:
            ax.step([e for e, _ in pts], [v for _, v in pts], where="post", label=method)
    ax.set_xscale("symlog", linthresh=100)
    ax.set_yscale("log")
    ax.set_xlabel("evaluations (network points)")
    ax.set_ylabel("best network EDP so far (cycles x pJ)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = out / "convergence.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, int | float) and x is not None else str(x)


def write_report(out: Path, summary: dict[str, Any], meta: dict[str, Any]) -> Path:
    methods = summary
    lines = [f"# Co-search: {meta['workload']} on {meta['family']}", "",
             f"Budget {meta['budget']} evaluations, seed {meta['seed']}; energy tables during the search: "
             f"{meta['search_energy']}, for the reported designs: {meta['final_energy']}.", "",
             "| method | best EDP (cycles x pJ) | cycles | energy (pJ) | hardware | evaluations | wall (s) | "
             "EDP / gradient's |", "|---|---|---|---|---|---|---|---|"]
    ref = methods.get("gradient", {}).get("best_edp")
    for m, r in methods.items():
        if r.get("best_edp") is None:
            lines.append(f"| {m} | no valid design | | | | {r.get('evaluations')} | {_fmt(r.get('wall_s'))} | |")
            continue
        ratio = f"{r['best_edp'] / ref:.2f}x" if ref else ""
        lines.append(f"| {m} | {r['best_edp']:.4g} | {r['cycles']:.4g} | {r['energy_pJ']:.4g} | "
                     f"{', '.join(f'{k}={v}' for k, v in r['hardware'].items())} | {r['evaluations']} | "
                     f"{r['wall_s']:.1f} | {ratio} |")
    lines += ["", "## What an evaluation is", "", EVALUATION_DOC.strip().split("\n\n", 1)[-1], "",
              "## Settings of each method", ""]
    for m, r in methods.items():
        lines.append(f"* **{m}**: " + "; ".join(f"{k} {v}" for k, v in r.get("settings", {}).items()))
    lines += ["", "Every reported design is re-evaluated with the exact analytical model (Timeloop's numbers) with "
              "the energy tables written beside it; `<method>/arch.yaml`, `<method>/ERT.yaml`, and per layer "
              "`<method>/<folder>/problem.yaml` + `mapping.yaml` run unchanged in `timeloop-model`.",
              "", "![convergence](convergence.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
