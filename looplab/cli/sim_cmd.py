"""``looplab doctor`` and ``looplab evaluate`` (timeloop | pytimeloop | analytical), single or ``--batch``."""

from __future__ import annotations

import argparse
import json
import sys

from looplab.cli.exit_codes import EXIT_INVALID, EXIT_TOOL
from looplab.cli.paths import path_arg
from looplab.errors import LooplabError

EXIT_FAILED = EXIT_TOOL  # the evaluation itself failed (missing binary, timeout, crash, ...)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="which simulators (timeloop-model, accelergy + plug-ins, pytimeloop) are found",
                       description="Report which of timeloop-model, timeloop-mapper, accelergy (+ plug-ins) and "
                                   "pytimeloop are installed, their versions, and what to do when missing. "
                                   "Always exits 0.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "evaluate", help="evaluate one mapping (or a batch) with Timeloop, pytimeloop or the analytical model",
        description="Single: prints timeloop-model's summary lines (Utilization:, Cycles:, Energy: X uJ), or "
                    "Timeloop's ERROR line and exit status 1 for an invalid mapping (3 when the evaluation "
                    "itself failed). Batch: CASES.jsonl -> RESULTS.jsonl, resumable.")
    p.add_argument("arch", nargs="?", type=path_arg("file"), help="architecture YAML")
    p.add_argument("problem", nargs="?", type=path_arg("file"), help="problem YAML")
    p.add_argument("mapping", nargs="?", type=path_arg("file"), help="mapping YAML")
    p.add_argument("--ert", type=path_arg("file"), help="Accelergy ERT.yaml (default: Accelergy once per arch, cached)")
    p.add_argument("--art", type=path_arg("file"), help="Accelergy ART.yaml (default: the ART.yaml beside --ert)")
    p.add_argument("--backend", default="timeloop", choices=("timeloop", "pytimeloop", "analytical"))
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--batch", type=path_arg("file"), metavar="CASES.jsonl", help="evaluate every case of a JSONL file")
    p.add_argument("--out", type=path_arg("out_file"), metavar="RESULTS.jsonl",
                   help="batch results (appended; resumable)")
    p.add_argument("--jobs", type=int, help="worker processes for --batch (default 1; --backend analytical: one per "
                                            "core, reading the mapping files while the model evaluates)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per evaluation (timeloop backend)")
    p.add_argument("--cache-dir", type=path_arg("out_dir"), help="ERT/ART cache (default $LOOPLAB_CACHE/accelergy or "
                                                  "~/.cache/looplab/accelergy)")
    p.add_argument("--keep-dir", type=path_arg("out_dir"),
                   help="copy timeloop-model's working directory here (debugging)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar for --batch")
    p.add_argument("--retry-failed", action="store_true",
                   help="--batch: evaluate again the cases whose evaluation failed (timeout, crash, ...)")
    p.set_defaults(func=cmd_evaluate)


def cmd_doctor(args: argparse.Namespace) -> int:
    from looplab import doctor

    statuses = doctor.collect()
    print(doctor.to_json(statuses) if args.json else doctor.format_text(statuses))
    return 0


def _options(args: argparse.Namespace) -> dict:
    opts: dict = {}
    if args.cache_dir is not None:
        opts["cache_dir"] = args.cache_dir
    if args.keep_dir is not None:
        if args.backend != "timeloop":
            raise LooplabError("--keep-dir only applies to --backend timeloop", "--keep-dir")
        opts["keep_dir"] = args.keep_dir
    return opts


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.batch is not None:
        return _batch(args)
    missing = [n for n in ("arch", "problem", "mapping") if getattr(args, n) is None]
    if missing:
        raise LooplabError(f"give ARCH PROBLEM MAPPING (missing {', '.join(missing)}) or --batch CASES.jsonl",
                           "looplab evaluate")
    from looplab.backends import get_backend

    backend = get_backend(args.backend, **_options(args))
    result = backend.evaluate(args.arch, args.problem, args.mapping, args.ert, args.art, timeout_s=args.timeout)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1, default=str))
    else:
        stream = sys.stdout if result.valid else sys.stderr
        for line in result.summary_lines():
            print(line, file=stream)
    if result.valid:
        return 0
    return EXIT_INVALID if result.valid is False else EXIT_FAILED


def _batch(args: argparse.Namespace) -> int:
    if args.out is None:
        raise LooplabError("--batch needs --out RESULTS.jsonl", "--out")
    if any(getattr(args, n) is not None for n in ("arch", "problem", "mapping", "ert", "art")):
        raise LooplabError("--batch takes its inputs from CASES.jsonl; drop ARCH/PROBLEM/MAPPING/--ert/--art",
                           "looplab evaluate --batch")
    if args.jobs is not None and args.jobs < 1:
        raise LooplabError("must be >= 1", "--jobs")
    from looplab.timeloop.batch import run_batch

    summary = run_batch(args.batch, args.out, backend=args.backend, jobs=args.jobs, timeout_s=args.timeout,
                        options=_options(args), progress=not args.no_progress,
                        retry_failed=args.retry_failed)
    print(summary.line())
    if args.json:
        print(json.dumps(summary.__dict__))
    return EXIT_FAILED if summary.failed else 0
