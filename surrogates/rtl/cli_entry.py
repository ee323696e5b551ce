"""``looplab train --model rtl-* FIRESIM.csv`` / ``looplab predict MODEL_DIR DOSA.csv`` and the cross-validation
command ``python -m surrogates.rtl cv FIRESIM.csv --out DIR``.

A model folder holds ``meta.json`` (``"kind": "rtl"``, the model name, feature set, array size, training file and
its cross-validated metrics) and ``model.joblib`` (the fitted :class:`surrogates.rtl.estimators.RtlLatencyRegressor`;
joblib is pickle: load only model folders you trust).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from looplab.errors import LooplabError
from surrogates.rtl.evaluate import PREDICTORS

#: CLI model name -> (RtlLatencyRegressor parameters, default feature set)
CLI_MODELS: dict[str, tuple[dict[str, Any], str]] = {
    "rtl-analytical": ({"mode": "analytical"}, "rtl"),
    "rtl-mlp": ({"mode": "learned", "estimator": "mlp"}, "raw"),
    "rtl-gbm": ({"mode": "learned", "estimator": "gbm"}, "raw"),
    "rtl-counts": ({"mode": "counts"}, "rtl"),
    "rtl-residual": ({"mode": "residual", "estimator": "gbm", "base": "counts"}, "rtl"),
    # the differentiable one (torch_log2), DOSA's learned part: an MLP over the count model
    "rtl-residual-mlp": ({"mode": "residual", "estimator": "mlp", "base": "counts"}, "rtl"),
}
ARRAY_DIM = 16  # DOSA's FireSim Gemmini: a 16x16 array
MODEL_FILE = "model.joblib"


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _feature_set(args: argparse.Namespace, default: str) -> str:
    from surrogates.rtl.features import FEATURE_SETS

    fs = getattr(args, "features", None) or default
    if fs not in FEATURE_SETS:
        raise LooplabError(f"feature set {fs!r} is not available for RTL models (choose from "
                           f"{', '.join(FEATURE_SETS)})", "--features")
    return fs


def train(args: argparse.Namespace) -> int:
    import joblib

    from surrogates.rtl.data import load_rtl_csv
    from surrogates.rtl.estimators import RtlLatencyRegressor
    from surrogates.rtl.evaluate import (
        cross_validate,
        extreme_rows,
        format_table,
        full_array_rows,
        group_kfold,
        table,
    )
    from surrogates.rtl.features import design_matrix

    if args.model not in CLI_MODELS:
        raise LooplabError(f"unknown RTL model {args.model!r} (choose from {', '.join(CLI_MODELS)})", "--model")
    if args.target not in (None, "rtl_cycles"):
        raise LooplabError(f"RTL models predict rtl_cycles, not {args.target!r}", "--target")
    params, default_fs = CLI_MODELS[args.model]
    fs = _feature_set(args, default_fs)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise LooplabError("output folder exists and is not empty; choose a new folder", str(out))
    t0 = time.monotonic()
    data = load_rtl_csv(args.data, require_target=True)
    X = design_matrix(data, fs, ARRAY_DIM)
    y = data.rtl_cycles
    _say(f"{args.data}: {len(data)} rows, {len(set(data.layer_ids))} layer shapes; "
         f"features {fs} ({X.shape[1]} columns)")
    # the honest proxy: group k-fold over layer shapes, the analytical model beside it
    name = f"{args.model} ({fs})"
    predictors_cli = {"analytical": ({}, fs), name: (params, fs)}
    prot = group_kfold(data.layer_ids)
    oof = cross_validate({fs: X}, y, data.ana_cycles, prot, list(predictors_cli), seed=args.seed,
                         progress=not args.no_progress, predictors_spec=predictors_cli,
                         groups=data.layer_ids)
    ext, fences = extreme_rows(data.ana_cycles, y)
    t_all, t_noext = table(oof, y), table(oof, y, ~ext)
    print(f"cross-validated, {prot.description}:")
    print(format_table(t_all))
    print(f"without the {int(ext.sum())} extreme rows "
          f"(measured/analytical outside [{fences[0]:.3g}, {fences[1]:.3g}]):")
    print(format_table(t_noext))
    full = full_array_rows(data.spatial, ARRAY_DIM)
    t_full = table(oof, y, full)
    print(f"the {int(full.sum())} rows whose mapping fills the {ARRAY_DIM}x{ARRAY_DIM} array (spatial C and K >= "
          f"{ARRAY_DIM}):")
    print(format_table(t_full))
    model = RtlLatencyRegressor(random_state=args.seed, **params).fit(X, y, groups=data.layer_ids)
    imp = model.importances()
    if len(imp):
        print("what the trees use (share of split gain): "
              + ", ".join(f"{k} {v:.1%}" for k, v in imp.head(10).items()))
    coef = model.count_coefficients()
    if len(coef):
        print("count model, cycles per count: " + ", ".join(f"{k} {v:.3g}" for k, v in coef.items() if v >= 1e-3))
    if params.get("mode") != "analytical" or model.offset_:
        print(f"MAPE calibration: log2 offset {model.offset_:+.3f} (x{2 ** model.offset_:.3f})")
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / MODEL_FILE)
    meta = {"kind": "rtl", "model": args.model, "params": model.get_params(), "features": fs,
            "array_dim": ARRAY_DIM, "columns": list(X.columns), "target": "rtl_cycles (target.gemmini_cycle)",
            "train_data": str(args.data), "n_train": len(data), "seed": args.seed, "offset_log2": model.offset_,
            "importances": imp.head(20).to_dict(), "count_coefficients": coef.to_dict(),
            "cv": {"protocol": prot.description, "all": t_all.to_dict(orient="index"),
                   "without_extreme": t_noext.to_dict(orient="index"), "extreme_rows": int(ext.sum()),
                   "extreme_fences": fences, "full_array": t_full.to_dict(orient="index"),
                   "full_array_rows": int(full.sum())},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "meta.json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
    print(f"model written to {out} ({time.monotonic() - t0:.0f} s)")
    return 0


def load_model(model_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    import joblib

    model_dir = Path(model_dir)
    meta = json.loads((model_dir / "meta.json").read_text())
    if meta.get("kind") != "rtl":
        raise LooplabError("not an RTL model folder (meta.json kind is not 'rtl')", str(model_dir))
    path = model_dir / MODEL_FILE
    if not path.is_file():
        raise LooplabError(f"no {MODEL_FILE}", str(model_dir))
    return joblib.load(path), meta


def predict(args: argparse.Namespace) -> int:
    from surrogates.rtl.data import load_rtl_csv
    from surrogates.rtl.evaluate import metrics
    from surrogates.rtl.features import design_matrix

    model, meta = load_model(args.model_dir)
    data = load_rtl_csv(args.input)
    X = design_matrix(data, meta["features"], int(meta.get("array_dim", ARRAY_DIM)))
    if list(X.columns) != list(meta["columns"]):
        raise LooplabError("the model was trained on other feature columns than this looplab computes; retrain it",
                           str(args.model_dir))
    pred = model.predict(X)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as fh:
        for i, p in enumerate(pred):
            fh.write(json.dumps({"id": i, "prediction": float(p)}) + "\n")
    _say(f"{len(pred)} predictions ({meta['model']}) written to {out}")
    if data.rtl_cycles is not None:
        m, a = metrics(pred, data.rtl_cycles), metrics(data.ana_cycles, data.rtl_cycles)
        for name, r in ((meta["model"], m), ("analytical", a)):
            _say(f"  {name:15s} Pearson {r['pearson']:.3f} Spearman {r['spearman']:.3f} MAPE {r['mape']:.1%} "
                 f"median {r['median_ape']:.1%} within 10% {r['within_10pct']:.1%}  "
                 "(vs the file's target.gemmini_cycle)")
    return 0


def cv(argv: list[str] | None = None) -> int:
    """``python -m surrogates.rtl cv FIRESIM.csv --out DIR [--predictors a,b] [--seed S] [--folds K]``."""
    from surrogates.rtl.data import load_rtl_csv
    from surrogates.rtl.evaluate import (
        cross_validate,
        extreme_rows,
        file_tag,
        format_table,
        full_array_rows,
        group_kfold,
        random_share,
        scatter_plots,
        table,
    )
    from surrogates.rtl.features import design_matrix

    ap = argparse.ArgumentParser(prog="python -m surrogates.rtl cv",
                                 description="cross-validated table of every RTL-latency predictor")
    ap.add_argument("data", metavar="FIRESIM.csv")
    ap.add_argument("--out", required=True, metavar="DIR")
    ap.add_argument("--predictors", default=",".join(PREDICTORS),
                    help="comma-separated, from: " + ", ".join(PREDICTORS))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5, help="seeds of the random 8%% protocol")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    from looplab.cli.paths import check_path

    check_path("file", Path(args.data))
    check_path("out_dir", Path(args.out))
    names = [n.strip() for n in args.predictors.split(",") if n.strip()]
    bad = [n for n in names if n not in PREDICTORS]
    if bad:
        raise LooplabError(f"unknown predictor(s) {bad} (choose from {', '.join(PREDICTORS)})", "--predictors")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_rtl_csv(args.data, require_target=True)
    y = data.rtl_cycles
    X = {fs: design_matrix(data, fs, ARRAY_DIM) for fs in {PREDICTORS[n][1] for n in names}}
    ext, fences = extreme_rows(data.ana_cycles, y)
    print(f"{args.data}: {len(data)} rows, {len(set(data.layer_ids))} layer shapes; {int(ext.sum())} extreme rows "
          f"(measured/analytical outside [{fences[0]:.3g}, {fences[1]:.3g}], Tukey's fences on the log ratio): "
          f"CSV lines {', '.join(map(str, data.lines[ext][:12]))}{' ...' if ext.sum() > 12 else ''}")
    full = full_array_rows(data.spatial, ARRAY_DIM)
    print(f"{int(full.sum())} rows fill the {ARRAY_DIM}x{ARRAY_DIM} array (spatial C and K >= {ARRAY_DIM})")
    summary: dict[str, Any] = {"data": args.data, "n": len(data), "extreme_rows": data.lines[ext].tolist(),
                               "extreme_fences": fences, "full_array_rows": int(full.sum()), "protocols": {}}
    md = [f"# RTL-latency predictors, cross-validated\n\n`{args.data}`: {len(data)} rows, "
          f"{len(set(data.layer_ids))} layer shapes, {int(ext.sum())} extreme rows.\n"]
    for prot in (group_kfold(data.layer_ids, args.folds), random_share(len(data), 0.08, args.repeats, args.seed)):
        oof = cross_validate(X, y, data.ana_cycles, prot, names, seed=args.seed, groups=data.layer_ids)
        t_all, t_noext, t_full = table(oof, y), table(oof, y, ~ext), table(oof, y, full)
        for title, t in (("all rows", t_all), ("without the extreme rows", t_noext),
                         (f"rows that fill the {ARRAY_DIM}x{ARRAY_DIM} array", t_full)):
            print(f"\n{prot.name}: {prot.description}; {title}")
            print(format_table(t))
            md.append(f"\n## {prot.name}, {title}\n\n{prot.description}\n\n```\n{format_table(t)}\n```\n")
        summary["protocols"][prot.name] = {"description": prot.description, "all": t_all.to_dict(orient="index"),
                                           "without_extreme": t_noext.to_dict(orient="index"),
                                           "full_array": t_full.to_dict(orient="index")}
        if not args.no_plots:
            summary["protocols"][prot.name]["plots"] = scatter_plots(oof, y, out, prot.name, ext)
        np.savez_compressed(out / f"oof_{file_tag(prot.name)}.npz", **{file_tag(k): v for k, v in oof.items()})
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    (out / "report.md").write_text("".join(md))
    print(f"\nwritten: {out}/report.md, summary.json, scatter_*.png")
    return 0
