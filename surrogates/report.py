"""report.md and figures of ``experiment first-study`` (from its summary dict)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _bars(groups: list[str], series: dict[str, list[float]], path: Path, title: str, ylabel: str,
          ylim: tuple[float, float] | None = None) -> str:
    from looplab.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(groups) + 2), 3.6), dpi=110)
    w = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for i, (name, vals) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * w, vals, w, label=name)
    ax.set_xticks(x, groups, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8)
    ax.grid(axis="y", lw=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


def write_figures(res: dict[str, Any], folder: Path) -> dict[str, str]:
    models = list(res["unseen_layers"])
    fsets = list(next(iter(res["unseen_layers"].values())))
    out = {}
    out["unseen_layers"] = _bars(models, {fs: [res["unseen_layers"][m][fs]["accuracy"] for m in models]
                                          for fs in fsets}, folder / "accuracy_unseen_layers.png",
                                 "Schedule-comparison accuracy (cycles), 3 held-out ResNet-50 layers",
                                 "pairwise accuracy", (0.5, 1.0))
    presets = list(next(iter(res["leave_one_preset_out"].values()))[fsets[0]]["per_preset"])
    for fs in fsets:
        out[f"transfer_{fs}"] = _bars(presets, {m: [res["leave_one_preset_out"][m][fs]["per_preset"][p]
                                                    for p in presets] for m in models},
                                      folder / f"transfer_leave_one_preset_out_{fs}.png",
                                      f"Leave one preset out ({fs} features): accuracy on the left-out preset",
                                      "pairwise accuracy", (0.5, 1.0))
    out["validity"] = _bars(models, {fs: [res["validity_unseen_accelerators"][m][fs]["accuracy"] for m in models]
                                     for fs in fsets}, folder / "validity_unseen_accelerators.png",
                            "Validity accuracy on unseen grid accelerators", "accuracy", (0.8, 1.0))
    return out


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or x != x else f"{100 * x:.{digits}f}%"


def write_report(s: dict[str, Any], path: Path) -> None:
    res = s["results"]
    models = list(res["unseen_layers"])
    fsets = list(next(iter(res["unseen_layers"].values())))
    study = s["study"]["unseen_layers"]
    L: list[str] = []
    L += [f"# First study, reproduced (labels: {s['labels']}, scale: {s['scale']}, seed {s['seed']})", ""]
    d = s["data"]
    L += ["## Data", "",
          f"* presets: {d['presets']['rows']:,} rows ({d['presets']['path']}, plan {d['presets']['plan_hash']}, "
          f"backend {d['presets']['backend']}, sweep {d['presets']['wall_s']} s)",
          f"* grid, held-out accelerators: {d['grid_held_out']['rows']:,} rows ({d['grid_held_out']['path']}, plan "
          f"{d['grid_held_out']['plan_hash']}, sweep {d['grid_held_out']['wall_s']} s), "
          f"{len(s['held_out_accelerators'])} accelerators",
          f"* grid, training accelerators: {d['grid_train']['rows']:,} rows ({d['grid_train']['path']}, plan "
          f"{d['grid_train']['plan_hash']}, sweep {d['grid_train']['wall_s']} s); {s['grid_training_rows']:,} "
          f"training rows ({_pct(s['grid_training_share'])}) from {s['grid_training_accelerators']} accelerators",
          f"* held-out layers: {', '.join(s['held_out_layers'])}", ""]
    L += ["## Schedule-comparison accuracy (cycles), unseen layers", "",
          "| model | " + " | ".join(fsets) + " | study | median rel. error (" + fsets[-1] + ") |",
          "|---|" + "---|" * len(fsets) + "---|---|"]
    for m in models:
        st = ", ".join(f"{k} {_pct(v, 0)}" for k, v in study.get(m, {}).items()) or "–"
        L.append(f"| {m} | " + " | ".join(_pct(res["unseen_layers"][m][fs]["accuracy"], 2) for fs in fsets)
                 + f" | {st} | {_pct(res['unseen_layers'][m][fsets[-1]]['median_rel_err'])} |")
    L += ["", "Energy, same split:", "", "| model | " + " | ".join(fsets) + " |", "|---|" + "---|" * len(fsets)]
    for m in models:
        L.append(f"| {m} | " + " | ".join(_pct(res["unseen_layers_energy"][m][fs]["accuracy"], 2) for fs in fsets)
                 + " |")
    L += ["", f"![unseen layers](figures/{s['figures']['unseen_layers']})", ""]
    L += ["## Transfer: leave one preset out (cycles)", "", f"The study: {s['study']['transfer']}.", "",
          "| model | features | " + " | ".join(next(iter(res['leave_one_preset_out'].values()))[fsets[0]]
                                             ["per_preset"]) + " | worst | mean |",
          "|---|---|" + "---|" * (len(next(iter(res['leave_one_preset_out'].values()))[fsets[0]]['per_preset']) + 2)]
    for m in models:
        for fs in fsets:
            r = res["leave_one_preset_out"][m][fs]
            L.append(f"| {m} | {fs} | " + " | ".join(_pct(v, 2) for v in r["per_preset"].values())
                     + f" | {_pct(r['worst'], 2)} | {_pct(r['mean'], 2)} |")
    L += [""] + [f"![transfer {fs}](figures/{s['figures'][f'transfer_{fs}']})" for fs in fsets] + [""]
    L += ["## Validity on unseen grid accelerators", "",
          "| model | features | accuracy | balanced | valid share (test) | test rows |", "|---|---|---|---|---|---|"]
    for m in models:
        for fs in fsets:
            r = res["validity_unseen_accelerators"][m][fs]
            L.append(f"| {m} | {fs} | {_pct(r['accuracy'], 3)} | {_pct(r['balanced_accuracy'], 3)} | "
                     f"{_pct(r['valid_share'])} | {r['test_rows']:,} |")
    L += ["", f"![validity](figures/{s['figures']['validity']})", ""]
    if s.get("importance"):
        L += ["## Importance (random forest on cosa)", ""]
        for target, imp in s["importance"].items():
            top = sorted(imp["mdi"].items(), key=lambda kv: -kv[1])[:5]
            L.append(f"* {target}: top MDI " + ", ".join(f"{k} {v:.3f}" for k, v in top))
            L.append(f"  ![mdi {target}](figures/{s['figures'][f'mdi_{target}']}) "
                     f"![perm {target}](figures/{s['figures'][f'perm_{target}']})")
        L.append("")
    L += ["## Run", "", f"* wall time {s['wall_s']:.0f} s; peak memory {s['peak_rss_mib']:.0f} MiB (driver), "
          f"{s['peak_rss_sweep_workers_mib']:.0f} MiB (largest sweep worker)",
          f"* fit seconds per model/features (all splits): {s['results']['fit_seconds']}",
          f"* hyperparameters: {s['model_params']}",
          f"* saved models (cosa, trained on all the data): {', '.join(s['models']) or 'none'}",
          f"* looplab {s['looplab_version']}; every number here is in summary.json", ""]
    path.write_text("\n".join(L))
