"""``looplab train | predict | experiment first-study`` for the surrogates (argument parsing: looplab/cli/learn_cmd.py).

Python API: :func:`train_model`, :func:`predict_file`, :func:`surrogates.experiment.run_first_study`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from looplab.errors import LooplabError
from surrogates.data import FeatureTable, load_cases, load_dataset
from surrogates.model import SurrogateModel


def _echo(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_input(path: str | Path, feature_sets: tuple[str, ...], show_progress: bool = True) -> dict[str, FeatureTable]:
    """A dataset folder or a CASES.jsonl -> feature tables per family."""
    p = Path(path)
    if p.is_dir():
        return load_dataset(p, feature_sets, show_progress=show_progress)
    if p.is_file():
        return load_cases(p, feature_sets)
    raise LooplabError("expected a dataset folder or a CASES.jsonl file", str(p))


def train_model(data: str | Path, model: str, features: str = "cosa", target: str = "cycles", seed: int = 0,
                out: str | Path | None = None, params: dict | None = None,
                show_progress: bool = True, scaling: str = "roofline") -> SurrogateModel:
    """Fit a surrogate on a dataset (every family in it) and save it to ``out`` when given."""
    tables = read_input(data, (features,), show_progress)
    m = SurrogateModel(model, features, target, seed, params, scaling).fit(tables, str(data))
    if out is not None:
        m.save(out)
    return m


def predict_file(model_dir: str | Path, data: str | Path, out: str | Path, show_progress: bool = True) -> int:
    """Write ``{"id", "prediction"}`` per input row (CASES: in file order); returns the number of lines."""
    m = SurrogateModel.load(model_dir)
    tables = read_input(data, (m.features,), show_progress)
    ids, preds, order = [], [], []
    for tab in tables.values():
        p = m.predict(tab)
        ids += tab.meta["id"].tolist()
        preds.append(p)
        if "order" in tab.meta:
            order.append(tab.meta["order"].to_numpy())
    pred = np.concatenate(preds)
    if len(order) == len(tables):  # CASES: back to file order
        idx = np.argsort(np.concatenate(order), kind="stable")
    else:
        idx = np.arange(len(pred))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for i in idx:
            f.write(json.dumps({"id": ids[i], "prediction": float(pred[i])}) + "\n")
    return len(idx)


def train(args: argparse.Namespace) -> int:
    features = args.features or "cosa"
    target = args.target or "cycles"
    if target == "rtl_cycles":
        raise LooplabError("target rtl_cycles is for the rtl-* models", "--target")
    m = train_model(args.data, args.model, features, target, args.seed, args.out,
                    show_progress=not args.no_progress, scaling=getattr(args, "scaling", None) or "roofline")
    rows = ", ".join(f"{fam}: {n:,} rows" for fam, n in m.meta_["training_rows"].items())
    _echo(f"trained {args.model} on {features} features for {target} ({rows}); saved to {args.out}")
    return 0


def predict(args: argparse.Namespace) -> int:
    n = predict_file(args.model_dir, args.input, args.out, show_progress=not args.no_progress)
    _echo(f"wrote {n:,} predictions to {args.out}")
    return 0


def experiment(args: argparse.Namespace) -> int:
    from surrogates.experiment import run_first_study

    summary = run_first_study(args.out, labels=args.labels, scale=args.scale, seed=args.seed,
                              show_progress=not args.no_progress, echo=_echo)
    _echo(f"report: {Path(args.out) / 'report.md'} (wall {summary['wall_s']:.0f} s)")
    return 0
