"""``looplab search``: mapping-first co-search (gradient) and its baselines on one network."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from looplab.cli.paths import path_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="co-search hardware and mappings for a network (gradient and baselines)",
                       description="Writes DIR/summary.json, DIR/<method>/ (arch.yaml, ERT/ART, per layer "
                                   "problem.yaml + mapping.yaml, network.json), DIR/convergence.png, DIR/report.md.")
    p.add_argument("--workload", required=True, metavar="W", help="shipped workload name or catalog JSON file")
    p.add_argument("--family", default="gemmini", choices=("gemmini",))
    p.add_argument("--method", default="gradient", metavar="M",
                   help="gradient, random, bo, botorch, mindmappings, comma-separated, or all")
    p.add_argument("--budget", type=int, default=10_000, metavar="N", help="evaluations per method")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="DIR", type=path_arg("out_dir"))
    p.add_argument("--energy", default="auto", choices=("auto", "accelergy", "estimator"),
                   help="energy tables of the reported designs (auto: Accelergy when on PATH)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_search)


def _search(args: argparse.Namespace) -> int:
    from mappers.search.run import parse_methods, run_search

    methods = parse_methods(args.method)
    out = Path(args.out)
    summary = run_search(args.workload, out, methods, args.family, args.budget, args.seed, args.energy,
                         progress=not args.no_progress)
    for m in methods:
        r = summary[m]
        if r["best_edp"] is None:
            print(f"{m:13s} no valid design ({r['evaluations']} evaluations)")
        else:
            hw = " ".join(f"{k}={v}" for k, v in r["hardware"].items())
            print(f"{m:13s} EDP {r['best_edp']:.4g}  cycles {r['cycles']:.4g}  energy {r['energy_pJ']:.4g} pJ  "
                  f"{hw}  {r['evaluations']} evaluations  {r['wall_s']:.1f} s")
    print(f"wrote {out}/summary.json, {out}/report.md, {out}/convergence.png", file=sys.stderr)
    return 0
