"""Do the first study's saved surrogates transfer to accelerators and layers they never saw?

Unseen accelerators: random Simba configs (arch_gen.sample_configs: also pes 8/32, macs 512/2048, 32 KiB
weights, ... that the 2,304-point grid never has); unseen layers: other networks (not ResNet-50). Labels:
looplab's analytical model (equal to Timeloop's), and -- with ``--timeloop N`` -- N points also run through the
real timeloop-model and predicted through ``looplab predict`` on a CASES file, as a user would.

    python bench/bench_surrogates_transfer.py MODELS_DIR --out OUT [--accels 12] [--timeloop 0]

MODELS_DIR: ``<experiment out>/models``. Prints one line per model and writes OUT/transfer.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from looplab.cli import main as looplab_main
from looplab.sweep import parse_spec, run_sweep
from surrogates.cases import dataset_to_cases
from surrogates.data import load_dataset
from surrogates.metrics import pairwise_accuracy
from surrogates.model import SurrogateModel, label_values, labelled

NETWORKS = [{"workload": "vgg16", "layers": [1, 6, 11]}, {"workload": "bert", "layers": [0, 3]},
            {"workload": "unet", "layers": [2, 12]}, {"workload": "deepbench", "layers": [5, 30]},
            {"workload": "alexnet", "layers": [0, 7]}]


def sweep(out: Path, backend: str, n_accels: int, seed: int, valid: int, invalid: int, workloads: list,
          family: str = "simba") -> Path:
    spec = parse_spec({"name": f"transfer-{backend}", "seed": seed, "out": str(out), "backend": backend,
                       "accelerators": {"random": [{"family": family, "n": n_accels, "seed": seed}]},
                       "workloads": workloads, "mappings": {"valid": valid, "invalid": invalid},
                       "execution": {"energy": "estimator" if backend == "analytical" else "auto"}})
    run_sweep(spec, resume=True, progress=False, echo=lambda s: None)
    return out


def score(models: Path | dict, data: Path, family: str = "simba") -> dict:
    tabs = load_dataset(data, ("raw", "cosa"), show_progress=False)
    tab = tabs[family]
    out = {}
    loaded = models if isinstance(models, dict) else {
        p.name: SurrogateModel.load(p) for p in sorted(models.iterdir()) if (p / "meta.json").is_file()}
    for name, m in loaded.items():
        idx = labelled(tab, m.target)
        sub = tab.take(idx)
        y = label_values(tab, m.target, idx)
        pred = m.predict(sub)
        if m.target == "valid":
            out[name] = {"accuracy": float(((pred > 0.5) == y.astype(bool)).mean()), "rows": int(len(y)),
                         "valid_share": float(y.mean())}
        else:
            groups = (sub.meta["arch"].astype(str) + "|" + sub.meta["layer"].astype(str)).to_numpy()
            r = pairwise_accuracy(y, pred, groups)
            r["median_rel_err"] = float(np.median(np.abs(pred / y - 1)))
            out[name] = r
    return out


def gemmini_check(out: Path, n_train: int, n_test: int, seed: int) -> dict:
    """Gemmini (bandwidth-bound levels): train on random accelerators x ResNet-50, test on other random
    accelerators x other networks; each model with and without the roofline scaling."""
    train = sweep(out / "gem-train", "analytical", n_train, seed + 1, 20, 20, ["resnet50"], "gemmini")
    test = sweep(out / "gem-test", "analytical", n_test, seed + 2, 20, 40, NETWORKS, "gemmini")
    tabs = load_dataset(train, ("raw", "cosa"), show_progress=False)
    models = {}
    for model in ("lr", "rf", "gbm"):
        for fs in ("cosa", "raw"):
            for scaling in ("roofline", "none"):
                for target in ("cycles", "energy"):
                    models[f"{model}_{fs}_{target}_{scaling}"] = SurrogateModel(
                        model, fs, target, 0, {"n_estimators": 100} if model != "lr" else {}, scaling).fit(tabs)
        models[f"{model}_cosa_valid"] = SurrogateModel(model, "cosa", "valid", 0,
                                                       {"n_estimators": 100} if model != "lr" else {}).fit(tabs)
    return score(models, test, "gemmini")


def timeloop_check(models: Path, out: Path, n: int, seed: int) -> dict:
    """Real timeloop-model labels through CASES + looplab predict."""
    if shutil.which("timeloop-model") is None:
        return {"skipped": "timeloop-model not on PATH"}
    ds = sweep(out / "tl-data", "timeloop", 3, seed + 100, 6, 6, [{"workload": "vgg16", "layers": [3, 8]},
                                                                   {"workload": "bert", "layers": [1]}])
    cases = dataset_to_cases(ds, out / "tl-cases", limit=n, seed=seed)
    labels = {json.loads(x)["id"]: json.loads(x) for x in Path(cases["labels"]).read_text().splitlines()}
    res = {"cases": cases["n"]}
    for mdir in sorted(p for p in models.iterdir() if (p / "meta.json").is_file()):
        pred_path = out / f"tl-pred-{mdir.name}.jsonl"
        looplab_main(["predict", str(mdir), cases["cases"], "--out", str(pred_path), "--no-progress"])
        preds = [json.loads(x) for x in pred_path.read_text().splitlines()]
        target = json.loads((mdir / "meta.json").read_text())["target"]
        if target == "valid":
            ok = [(p["prediction"] > 0.5) == bool(labels[p["id"]]["valid"]) for p in preds]
            res[mdir.name] = {"accuracy": float(np.mean(ok)), "rows": len(ok)}
        else:
            key = "cycles" if target == "cycles" else "energy_pJ"
            rows = [(labels[p["id"]][key], p["prediction"], f"{labels[p['id']]['arch']}|{labels[p['id']]['layer']}")
                    for p in preds if labels[p["id"]]["valid"]]
            y, pr, g = (np.array(v) for v in zip(*rows, strict=True))
            r = pairwise_accuracy(y.astype(float), pr.astype(float), g)
            r["median_rel_err"] = float(np.median(np.abs(pr.astype(float) / y.astype(float) - 1)))
            res[mdir.name] = r
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--accels", type=int, default=12)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--timeloop", type=int, default=0, help="points also run through the real timeloop-model")
    ap.add_argument("--gemmini", type=int, default=0, help="also train/test on N random Gemmini accelerators each")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    data = sweep(a.out / "data", "analytical", a.accels, a.seed, 20, 60, NETWORKS)
    result = {"accelerators": a.accels, "seed": a.seed, "networks": NETWORKS,
              "analytical_labels": score(a.models, data)}
    for name, r in result["analytical_labels"].items():
        print(f"{name:22s} " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    if a.gemmini:
        result["gemmini"] = gemmini_check(a.out, a.gemmini, a.gemmini, a.seed)
        print("gemmini, trained on random accelerators x ResNet-50, tested on others x other networks:")
        for name, r in result["gemmini"].items():
            print(f"  {name:26s} " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in r.items()))
    if a.timeloop:
        result["timeloop_cases"] = timeloop_check(a.models, a.out, a.timeloop, a.seed)
        print("real timeloop-model through CASES + looplab predict:")
        for name, r in result["timeloop_cases"].items():
            print(f"  {name}: {r}")
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    (a.out / "transfer.json").write_text(json.dumps(result, indent=2))
    print(f"wall {result['wall_s']} s; {a.out / 'transfer.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
