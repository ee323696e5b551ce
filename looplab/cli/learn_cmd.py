"""``looplab train | predict | experiment``: learned models (surrogates/ and surrogates/rtl/).

This module parses arguments and dispatches; the work lives in ``surrogates``:
- ``train --model lr|rf|mlp|gbm`` -> ``surrogates.cli_entry.train(args)``;
  ``train --model rtl-*`` -> ``surrogates.rtl.cli_entry.train(args)``.
- ``predict MODEL_DIR`` -> by ``MODEL_DIR/meta.json``'s ``"kind"`` (``"rtl"`` or ``"surrogate"``).
- ``experiment first-study`` -> ``surrogates.cli_entry.experiment(args)``.
Each entry function returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from looplab.cli.paths import check_path, path_arg
from looplab.errors import LooplabError

SURROGATE_MODELS = ("lr", "rf", "mlp", "gbm")
RTL_MODELS = ("rtl-analytical", "rtl-counts", "rtl-mlp", "rtl-gbm", "rtl-residual", "rtl-residual-mlp")
TARGETS = ("cycles", "energy", "valid", "rtl_cycles")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a surrogate (lr|rf|mlp|gbm) or an RTL-latency predictor (rtl-*)",
                       description="DATA: a sweep dataset (Parquet) or, for rtl-* models, a DOSA FireSim CSV.")
    p.add_argument("data", metavar="DATASET|FIRESIM.csv", type=path_arg("any"))
    p.add_argument("--model", required=True, choices=SURROGATE_MODELS + RTL_MODELS)
    p.add_argument("--features", default=None, help="feature set (raw|cosa; rtl models have their own default)")
    p.add_argument("--target", default=None, choices=TARGETS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scaling", default=None, choices=("roofline", "none"),
                   help="surrogates: fit cycles / ideal compute time and energy / MAC (roofline, default) or the "
                        "raw target (none)")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", type=path_arg("out_dir"))
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_train)

    p = sub.add_parser("predict", help="predict with a trained model",
                       description="INPUT: a CASES.jsonl (as for evaluate --batch), a dataset, or a DOSA CSV.")
    p.add_argument("model_dir", metavar="MODEL_DIR", type=path_arg("dir"))
    p.add_argument("input", metavar="INPUT", type=path_arg("any"))
    p.add_argument("--out", required=True, metavar="PRED.jsonl", type=path_arg("out_file"))
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_predict)

    p = sub.add_parser("experiment", help="run a study end to end (first-study)")
    p.add_argument("name", choices=("first-study",))
    p.add_argument("--labels", default="analytical", choices=("analytical", "timeloop", "pytimeloop"))
    p.add_argument("--scale", default="small", choices=("small", "paper"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="DIR", type=path_arg("out_dir"))
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_experiment)


def _entry(module: str, fn: str):
    return getattr(importlib.import_module(module), fn)


def _train(args: argparse.Namespace) -> int:
    # the paths exist (looplab.cli.paths); an RTL model reads one CSV file, not a folder
    if args.model.startswith("rtl-"):
        check_path("file", Path(args.data))
    module = "surrogates.rtl.cli_entry" if args.model.startswith("rtl-") else "surrogates.cli_entry"
    return int(_entry(module, "train")(args) or 0)


def model_kind(model_dir: Path) -> str:
    meta = model_dir / "meta.json"
    if not meta.is_file():
        raise LooplabError(f"{model_dir}: not a looplab model folder (no meta.json)")
    try:
        return str(json.loads(meta.read_text()).get("kind", "surrogate"))
    except json.JSONDecodeError as exc:
        raise LooplabError(f"{meta}: not valid JSON ({exc})") from exc


def _predict(args: argparse.Namespace) -> int:
    model_dir = Path(args.model_dir)  # an existing folder, INPUT exists (looplab.cli.paths)
    rtl = model_kind(model_dir) == "rtl"
    if rtl:  # an RTL model reads one DOSA CSV file, not a folder
        check_path("file", Path(args.input))
    module = "surrogates.rtl.cli_entry" if rtl else "surrogates.cli_entry"
    return int(_entry(module, "predict")(args) or 0)


def _experiment(args: argparse.Namespace) -> int:
    return int(_entry("surrogates.cli_entry", "experiment")(args) or 0)
