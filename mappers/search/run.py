"""``looplab search``: run co-search methods on one network and write their designs and a report."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError
from mappers.search.budget import Tracker
from mappers.search.hardware import ArchCache, space_for
from mappers.search.network import Network, evaluate_design, write_design

METHODS = {"gradient": "mappers.search.gradient", "random": "mappers.search.random_search",
           "bo": "mappers.search.bo_dosa", "botorch": "mappers.search.bo_botorch",
           "mindmappings": "mappers.search.mindmappings"}


def parse_methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if "all" in names:
        return list(METHODS)
    bad = [m for m in names if m not in METHODS]
    if bad or not names:
        raise LooplabError(f"unknown method(s) {bad or text!r} (expected {', '.join(METHODS)} or all)", "--method")
    return names


def final_energy(choice: str) -> str:
    """``auto``: Accelergy when it is on PATH (the tables timeloop-model itself would use), else the estimator."""
    if choice == "auto":
        return "accelergy" if shutil.which("accelergy") else "estimator"
    if choice not in ("accelergy", "estimator"):
        raise LooplabError(f"unknown energy source {choice!r} (auto, accelergy, estimator)", "--energy")
    return choice


def run_search(workload: str | Path, out: Path, methods: list[str], family: str = "gemmini", budget: int = 10_000,
               seed: int = 0, energy: str = "auto", progress: bool = True,
               options: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run ``methods`` at ``budget`` evaluations each; returns the summary written to ``out/summary.json``
    (``{method: {...}}``; the run's own settings go to ``out/run.json``)."""
    import torch

    from mappers.search.report import plot_convergence, write_report, write_summary

    if budget < 1:
        raise LooplabError(f"budget must be >= 1, got {budget}", "--budget")
    torch.set_num_threads(1)
    net = Network.from_workload(workload)
    space = space_for(family)
    archs = ArchCache("estimator")
    fe = final_energy(energy)
    final = archs if fe == "estimator" else ArchCache("accelergy")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"workload": net.name, "family": family, "budget": budget, "seed": seed, "layers": len(net.layers),
            "methods": methods, "search_energy": "estimator", "final_energy": fe}
    summary: dict[str, Any] = {}
    traces = {}
    for m in methods:
        mod = importlib.import_module(METHODS[m])
        tracker = Tracker(m, budget, progress)
        info = mod.run(net, space, archs, tracker, seed, **(options or {}).get(m, {}))
        stats = tracker.close()
        traces[m] = tracker.trace
        rec: dict[str, Any] = {"best_edp": None, "evaluations": stats["evaluations"], "wall_s": stats["wall_s"],
                               "settings": info, "trace": tracker.trace}
        if tracker.best is not None:
            d = evaluate_design(net, tracker.best.hardware, tracker.best.mappings, final)
            write_design(net, d, out / m, final, extra={"method": m, "search_edp": tracker.best.edp})
            rec.update(best_edp=d.edp, cycles=d.latency, energy_pJ=d.energy, hardware=d.hardware.to_params(),
                       search_edp=tracker.best.edp)
        summary[m] = rec
        write_summary(out, summary, meta)
    plot_convergence(out, traces, f"{net.name} on {family}, seed {seed}")
    write_report(out, summary, meta)
    return summary
