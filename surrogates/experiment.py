"""``looplab experiment first-study``: the first study end to end -- data, features, models, splits, report.

1. Data (looplab sweeps, labels from ``--labels``): the five Simba presets x the 24 ResNet-50 layers x valid
   schedules (``paper``: 3,000 per layer and preset, 360,000 rows), and the Simba grid x ResNet-50 x (10 valid
   + 100 invalid) schedules (``paper``: 2,304 accelerators, ~6.1M rows).
2. Splits: unseen layers (three held-out ResNet-50 layers: two convolutions drawn by the seed and the FC),
   leave one preset out, validity on unseen grid accelerators (a held-out share of the grid, drawn by the seed).
3. Every model (lr, rf, mlp, gbm) on both feature sets (raw, cosa): schedule-comparison accuracy of cycles (and
   energy on unseen layers), validity accuracy; MDI and permutation importance of the random forest on cosa.
4. ``report.md``, PNG figures and ``summary.json`` (every figure with its data source and seed), and the
   random forest / gradient-boosting models on cosa trained on all the data, ready for ``looplab predict``.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import looplab
from looplab.errors import LooplabError
from surrogates.data import FeatureTable, load_dataset, progress
from surrogates.estimators import MODELS
from surrogates.importance import mdi, permutation, plot_importance
from surrogates.metrics import pairwise_accuracy
from surrogates.model import SurrogateModel, label_values, labelled

PRESETS = ("simba_final", "simba_final_8x8", "simba_large", "arch0", "arch1")
FEATURE_SETS = ("raw", "cosa")

#: Sizes per scale. The grid is swept twice, both with the study's quotas (10 valid + 100 invalid per layer): the
#: held-out accelerators (every ``hold_stride``-th of the 2,304) and the training accelerators (every
#: ``train_stride``-th, minus the held-out ones). Strides coprime to the grid's axis lengths (3 and 4) make
#: systematic samples that take every value of every axis. The study swept all 2,304 (6.1M rows) and trained on
#: 90% of them; our validity models train on at most ``grid_train_rows`` anyway, and the sweep's cost is per
#: (accelerator, layer), so sweeping only what is used keeps the paper scale inside its time budget.
#: ``grid_layers``: ResNet-50 layer indices (None: all 24).
SCALES: dict[str, dict[str, Any]] = {
    "paper": {"preset_valid": 3000, "grid_layers": None, "hold_stride": 11, "hold_valid": 10, "hold_invalid": 100,
              "train_stride": 29, "train_valid": 10, "train_invalid": 100, "grid_train_rows": 300_000},
    "small": {"preset_valid": 100, "grid_layers": list(range(0, 24, 3)), "hold_stride": 229, "hold_valid": 10,
              "hold_invalid": 100, "train_stride": 23, "train_valid": 10, "train_invalid": 100,
              "grid_train_rows": 40_000},
    # small with a real simulator: every point is one timeloop-model run
    "small-sim": {"preset_valid": 20, "grid_layers": [0, 8, 16, 23], "hold_stride": 577, "hold_valid": 5,
                  "hold_invalid": 20, "train_stride": 97, "train_valid": 5, "train_invalid": 20,
                  "grid_train_rows": 40_000},
}

#: What the first study reported (DEVELOPERS.md / DESIGN.md), for the report's comparison column.
STUDY = {"unseen_layers": {"lr": {"raw": 0.67}, "rf": {"raw": 0.89, "cosa": 1.0}, "mlp": {"raw": 0.86}},
         "transfer": "85-99% leave-one-preset-out"}


#: Model sizes per scale: the forests and the MLP are bounded (rows per tree / per fit) so that the paper scale
#: fits the time budget; ``paper`` is the bigger setting, ``small`` the quick one.
BOUNDS: dict[str, dict[str, Any]] = {
    "paper": {"rf_trees": 100, "rf_rows": 40_000, "mlp_rows": 30_000, "mlp_epochs": 20, "gbm_rounds": 300},
    "small": {"rf_trees": 32, "rf_rows": 10_000, "mlp_rows": 20_000, "mlp_epochs": 30, "gbm_rounds": 150},
}


def model_params(model: str, n_train: int, scale: str = "paper") -> dict[str, Any]:
    """Hyperparameters the experiment uses for ``model`` on ``n_train`` rows."""
    b = BOUNDS["paper" if scale == "paper" else "small"]
    if model == "rf":
        return {"n_estimators": b["rf_trees"], "min_samples_leaf": 2, "max_features": 0.5,
                "max_samples": min(1.0, b["rf_rows"] / max(1, n_train)), "n_jobs": 2}
    if model == "mlp":
        return {"max_train_rows": b["mlp_rows"], "max_epochs": b["mlp_epochs"], "patience": 5,
                "batch_size": 1024 if n_train > 20_000 else 256, "lr": 2e-3}
    if model == "gbm":
        # one thread: LightGBM's OpenMP threads spin and crawl on an oversubscribed machine
        return {"n_estimators": b["gbm_rounds"], "learning_rate": 0.1, "num_leaves": 63, "n_jobs": 1,
                "verbose": -1}
    return {}


def _sweep(name: str, out: Path, labels: str, seed: int, accelerators: dict, layers: list | None, valid: int,
           invalid: int, energy: str, show_progress: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    from looplab.sweep import parse_spec, run_sweep

    wl: Any = "resnet50" if layers is None else {"workload": "resnet50", "layers": layers}
    spec = parse_spec({"name": name, "seed": seed, "out": str(out), "backend": labels, "accelerators": accelerators,
                       "workloads": [wl], "mappings": {"valid": valid, "invalid": invalid},
                       "execution": {"energy": energy}}, source=f"first-study {name}")
    t0 = time.perf_counter()
    summary = run_sweep(spec, resume=True, progress=show_progress, echo=echo)
    import pyarrow.parquet as pq

    from surrogates.data import part_files

    rows = sum(pq.ParquetFile(f).metadata.num_rows for fs in part_files(out).values() for f in fs)
    manifest = json.loads((out / "manifest.json").read_text())
    return {"path": str(out), "plan_hash": spec.plan_hash, "backend": labels, "energy": manifest.get("energy", energy),
            "rows": rows, "seed": seed, "wall_s": round(time.perf_counter() - t0, 1),
            "failed_tasks": int(summary.get("tasks_failed") or 0)}


def held_out_layers(layer_names: list[str], dims: dict[str, dict], seed: int) -> list[str]:
    """Two convolutions drawn by ``seed`` and the fully-connected layer (P = Q = R = S = 1), in network order
    (``dims``' order, the catalog's).

    The draw is from ``layer_names`` as given (the study passes them sorted as text, which fixes which layers a
    seed holds out); only the order of the answer follows the network."""
    fc = [n for n in layer_names if all(dims[n][k] == 1 for k in ("P", "Q", "R", "S"))]
    convs = [n for n in layer_names if n not in fc]
    if not fc or len(convs) < 2:
        raise LooplabError("the presets data needs the FC layer and at least two convolutions", "first-study")
    rng = np.random.default_rng(seed)
    position = {n: i for i, n in enumerate(dims)}
    return sorted(rng.choice(convs, 2, replace=False).tolist(), key=position.__getitem__) + [fc[-1]]


def _fit(model: str, features: str, target: str, train: FeatureTable, seed: int, source: str,
         scale: str, scaling: str = "none") -> SurrogateModel:
    n = len(labelled(train, target))
    return SurrogateModel(model, features, target, seed, model_params(model, n, scale),
                          scaling).fit({train.family: train}, source)


def _rank_metrics(m: SurrogateModel, test: FeatureTable, target: str) -> dict[str, Any]:
    idx = labelled(test, target)
    sub = test.take(idx)
    y = label_values(test, target, idx)
    pred = m.predict(sub)
    groups = sub.meta["arch"].astype(str) + "|" + sub.meta["layer"].astype(str)
    out = pairwise_accuracy(y, pred, groups.to_numpy())
    out["median_rel_err"] = float(np.median(np.abs(pred / y - 1)))
    out["test_rows"] = int(len(idx))
    return out


def _valid_metrics(m: SurrogateModel, test: FeatureTable) -> dict[str, Any]:
    idx = labelled(test, "valid")
    sub = test.take(idx)
    y = label_values(test, "valid", idx).astype(bool)
    p = m.predict(sub) > 0.5
    tpr = float((p & y).sum() / max(1, y.sum()))
    tnr = float((~p & ~y).sum() / max(1, (~y).sum()))
    return {"accuracy": float((p == y).mean()), "balanced_accuracy": (tpr + tnr) / 2, "true_valid_rate": tpr,
            "true_invalid_rate": tnr, "valid_share": float(y.mean()), "test_rows": int(len(y)),
            "test_accelerators": int(sub.meta["arch"].nunique())}


def run_first_study(out: str | Path, labels: str = "analytical", scale: str = "small", seed: int = 0,
                    show_progress: bool = True, echo: Callable[[str], None] = print,
                    models: tuple[str, ...] = MODELS, feature_sets: tuple[str, ...] = FEATURE_SETS) -> dict[str, Any]:
    """Run the study; returns the summary (also ``out/summary.json``)."""
    t_start = time.perf_counter()
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    if scale not in ("small", "paper"):
        raise LooplabError(f"unknown scale {scale!r} (small, paper)", "--scale")
    cfg = SCALES["small-sim" if scale == "small" and labels != "analytical" else scale]
    echo(f"first-study: labels {labels}, scale {scale}, seed {seed}, out {out}")

    # ---- data -------------------------------------------------------------------------------------------
    energy = cfg.get("preset_energy", "auto")
    grid_energy = "estimator" if labels == "analytical" else "auto"  # energy is not used on the grid
    tag = f"{labels}-{scale}-s{seed}"  # one folder per plan: a changed spec never meets an older sweep
    data_src = {
        "presets": _sweep("presets", out / "data" / f"presets-{tag}", labels, seed,
                          {"presets": list(PRESETS)}, None, cfg["preset_valid"], 0, energy, show_progress, echo),
        "grid_held_out": _sweep("grid-held-out", out / "data" / f"grid-held-out-{tag}", labels, seed + 1,
                                {"grid": {"family": "simba", "stride": cfg["hold_stride"]}}, cfg["grid_layers"],
                                cfg["hold_valid"], cfg["hold_invalid"], grid_energy, show_progress, echo),
        "grid_train": _sweep("grid-train", out / "data" / f"grid-train-{tag}", labels, seed + 2,
                             {"grid": {"family": "simba", "stride": cfg["train_stride"]}}, cfg["grid_layers"],
                             cfg["train_valid"], cfg["train_invalid"], grid_energy, show_progress, echo)}
    pres = load_dataset(data_src["presets"]["path"], feature_sets, show_progress=show_progress)["simba"]
    layer_names = sorted(pres.meta["layer"].astype(str).unique())
    from looplab.workloads.catalog import load_workload

    dims = {ly.name: dict(ly.dims) for ly in load_workload("resnet50")}
    held = held_out_layers([n for n in layer_names if n in dims], dims, seed)
    grid_test = load_dataset(data_src["grid_held_out"]["path"], feature_sets, show_progress=show_progress)["simba"]
    hold_archs = set(grid_test.meta["arch"].astype(str).unique())
    n_pool = data_src["grid_train"]["rows"]
    rate = min(1.0, cfg["grid_train_rows"] / max(1, n_pool))
    sel_rng = np.random.default_rng(seed + 7)

    def select(meta: Any) -> np.ndarray:
        return ~meta["arch"].astype(str).isin(hold_archs).to_numpy() & (sel_rng.random(len(meta)) < rate)

    grid_train = load_dataset(data_src["grid_train"]["path"], feature_sets, select=select,
                              show_progress=show_progress)["simba"]
    n_train_archs = grid_train.meta["arch"].nunique()
    echo(f"presets: {len(pres):,} rows; held-out layers {held}; grid: {len(hold_archs)} held-out accelerators "
         f"({len(grid_test):,} rows), {len(grid_train):,} training rows from {n_train_archs} other accelerators "
         f"({rate:.1%} of {n_pool:,})")

    # ---- fits -----------------------------------------------------------------------------------------------
    is_held = pres.meta["layer"].astype(str).isin(held).to_numpy()
    train_l, test_l = pres.take(np.flatnonzero(~is_held)), pres.take(np.flatnonzero(is_held))
    # cosa first, the forest first: a run cut short still has the headline figures (summary.json after each job)
    order = ("rf", "lr", "gbm", "mlp")
    jobs = [(fs, m) for fs in sorted(feature_sets, key=lambda f: f != "cosa")
            for m in sorted(models, key=lambda x: order.index(x) if x in order else len(order))]
    n_fits = len(jobs) * (2 + len(PRESETS) + 1)
    bar = progress(n_fits, "first-study fits", show_progress, unit="fit")
    res: dict[str, Any] = {"unseen_layers": {}, "unseen_layers_energy": {}, "leave_one_preset_out": {},
                           "validity_unseen_accelerators": {}, "fit_seconds": {}}
    kept: dict[tuple, SurrogateModel] = {}
    src_p, src_g = data_src["presets"]["path"], data_src["grid_train"]["path"]
    for fs, m in jobs:
        t0 = time.perf_counter()
        key = f"{m}/{fs}"
        model = _fit(m, fs, "cycles", train_l, seed, src_p, scale)
        r = _rank_metrics(model, test_l, "cycles")
        r["per_layer"] = {ly: _rank_metrics(model, test_l.take(np.flatnonzero(
            test_l.meta["layer"].astype(str).to_numpy() == ly)), "cycles")["accuracy"] for ly in held}
        r["train_rows"] = model.meta_["training_rows"]["simba"]
        res["unseen_layers"].setdefault(m, {})[fs] = r
        kept[("cycles", m, fs)] = model
        bar.update(1)
        model_e = _fit(m, fs, "energy", train_l, seed, src_p, scale)
        res["unseen_layers_energy"].setdefault(m, {})[fs] = _rank_metrics(model_e, test_l, "energy")
        bar.update(1)
        per = {}
        for p in PRESETS:
            is_p = pres.meta["arch"].astype(str).to_numpy() == p
            mp = _fit(m, fs, "cycles", pres.take(np.flatnonzero(~is_p)), seed, src_p, scale)
            per[p] = _rank_metrics(mp, pres.take(np.flatnonzero(is_p)), "cycles")["accuracy"]
            bar.update(1)
        res["leave_one_preset_out"].setdefault(m, {})[fs] = {"per_preset": per, "worst": min(per.values()),
                                                             "mean": float(np.mean(list(per.values())))}
        mv = _fit(m, fs, "valid", grid_train, seed, src_g, scale)
        res["validity_unseen_accelerators"].setdefault(m, {})[fs] = _valid_metrics(mv, grid_test)
        kept[("valid", m, fs)] = mv
        bar.update(1)
        res["fit_seconds"][key] = round(time.perf_counter() - t0, 1)
        u = res["unseen_layers"][m][fs]["accuracy"]
        w = res["leave_one_preset_out"][m][fs]["worst"]
        v = res["validity_unseen_accelerators"][m][fs]["accuracy"]
        echo(f"{key}: unseen layers {u:.2%}, worst leave-one-preset-out {w:.2%}, validity {v:.3%} "
             f"({res['fit_seconds'][key]:.0f} s)")
        partial = {"experiment": "first-study", "complete": False, "labels": labels, "scale": scale, "seed": seed,
                   "data": data_src, "held_out_layers": held, "results": res,
                   "elapsed_s": round(time.perf_counter() - t_start, 1)}
        (out / "summary.json").write_text(json.dumps(partial, indent=2, default=str) + "\n")
    bar.close()

    # ---- importance -------------------------------------------------------------------------------------
    figures: dict[str, str] = {}
    imp: dict[str, Any] = {}
    for target, tab in (("cycles", test_l), ("valid", grid_test)):
        mod = kept.get((target, "rf", "cosa"))
        if mod is None:
            continue
        est = mod.estimators_["simba"]
        names = mod.columns_["simba"]
        idx = labelled(tab, target)
        X, y = tab.X["cosa"][idx], label_values(tab, target, idx)
        md = mdi(est, names) or {}
        if target == "cycles":
            pm = permutation(est.regressor_, X, np.log(y), names, seed)
        else:
            pm = permutation(est, X, y, names, seed, scoring="accuracy")
        imp[target] = {"mdi": md, "permutation": pm}
        figures[f"mdi_{target}"] = plot_importance(md, out / "figures" / f"mdi_rf_cosa_{target}.png",
                                                   f"RF on cosa, {target}: MDI")
        figures[f"perm_{target}"] = plot_importance(pm, out / "figures" / f"permutation_rf_cosa_{target}.png",
                                                    f"RF on cosa, {target}: permutation importance")

    # ---- models on all the data, for looplab predict --------------------------------------------------------
    saved = {}
    for m in ("rf", "gbm", "lr"):
        if m in models and "cosa" in feature_sets:
            both = FeatureTable.concat([pres, grid_train.take(labelled(grid_train, "cycles"))])
            sm = _fit(m, "cosa", "cycles", both, seed, f"{src_p} + {src_g}", scale, "roofline")
            saved[f"{m}_cosa_cycles"] = str(sm.save(out / "models" / f"{m}_cosa_cycles"))
            saved[f"{m}_cosa_valid"] = str(kept[("valid", m, "cosa")].save(out / "models" / f"{m}_cosa_valid"))

    from surrogates.report import write_figures, write_report

    figures.update(write_figures(res, out / "figures"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = {"experiment": "first-study", "complete": True, "labels": labels, "scale": scale, "seed": seed,
               "looplab_version": looplab.__version__, "sizes": cfg, "data": data_src,
               "held_out_layers": held, "held_out_accelerators": sorted(hold_archs),
               "grid_training_rows": len(grid_train), "grid_training_share": rate,
               "grid_training_accelerators": int(n_train_archs),
               "model_params": {m: model_params(m, 300_000, scale) for m in models},
               "results": res, "importance": imp, "figures": figures, "models": saved, "study": STUDY,
               "wall_s": round(time.perf_counter() - t_start, 1), "peak_rss_mib": round(peak, 1),
               "peak_rss_sweep_workers_mib": round(peak_children, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    write_report(summary, out / "report.md")
    return summary
