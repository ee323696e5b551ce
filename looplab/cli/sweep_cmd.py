"""``looplab sweep``, ``looplab dataset info|merge|export``, ``looplab demo`` (and ``import-dosa`` when the
mapping commands do not provide it)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from looplab.cli.paths import path_arg

DRY_RUN_SHOWN = 5


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run (or resume) a sweep spec into a Parquet dataset")
    p.add_argument("spec", type=path_arg("file"), help="sweep spec YAML (see docs/sweeps.md; sweeps/default.yaml)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in the spec's output folder")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="Dask: tcp://HOST:8786, local[:N] (LocalCluster), or a dask-jobqueue spec YAML")
    p.add_argument("--out", type=path_arg("out_dir"), help="output folder (overrides the spec's 'out')")
    p.add_argument("--backend", choices=["analytical", "timeloop", "pytimeloop"], help="override the spec's backend")
    p.add_argument("--workers", type=int, help="local worker processes (default: the spec's, 0 = one per core)")
    p.add_argument("--dry-run", action="store_true",
                   help=f"print the plan and exit (the first {DRY_RUN_SHOWN} tasks; with --json the whole plan)")
    p.add_argument("--all-tasks", action="store_true", help="with --dry-run: list every task")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (on a terminal) or progress lines (otherwise; every $LOOPLAB_PROGRESS_EVERY "
                        "s, default 30)")
    p.add_argument("--json", action="store_true", help="print the summary (with --dry-run: the plan) as JSON on stdout")
    p.set_defaults(func=_cmd_sweep)

    d = sub.add_parser("dataset", help="inspect, merge or export sweep datasets")
    dsub = d.add_subparsers(dest="dataset_what", metavar="WHAT", required=True)
    i = dsub.add_parser("info", help="rows, valid share, tasks done, failures")
    i.add_argument("path", type=path_arg("any"))
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_cmd_info)
    m = dsub.add_parser("merge", help="combine datasets (parts of one sweep are deduplicated)")
    m.add_argument("inputs", nargs="+", type=path_arg("any"), help="dataset folders")
    m.add_argument("--out", required=True, type=path_arg("out_dir"), help="new dataset folder")
    m.set_defaults(func=_cmd_merge)
    e = dsub.add_parser("export", help="write one Parquet, CSV or JSON-lines file")
    e.add_argument("path", type=path_arg("any"))
    e.add_argument("--out", required=True, type=path_arg("out_file"), help="output file (.parquet, .csv, .jsonl)")
    e.add_argument("--format", choices=["parquet", "csv", "jsonl"], help="default: from the file suffix")
    e.add_argument("--columns", nargs="+", help="only these columns")
    e.add_argument("--valid-only", action="store_true", help="only rows the backend found valid")
    e.add_argument("--limit", type=int, help="at most this many rows")
    e.add_argument("--mapping-yaml", action="store_true",
                   help="fill the mapping_yaml column where the sweep did not store it (analytical sweeps)")
    e.set_defaults(func=_cmd_export)

    demo = sub.add_parser("demo", help="run the pipeline small: emit, sample, sweep, correlate")
    demo.add_argument("--out", default="out/demo", type=path_arg("out_dir"), help="output folder (default out/demo)")
    demo.add_argument("--backend", choices=["auto", "analytical", "timeloop", "pytimeloop"], default="auto",
                      help="auto: the real timeloop-model when on PATH, else the analytical model")
    demo.set_defaults(func=_cmd_demo)

    if "import-dosa" not in sub.choices:
        im = sub.add_parser("import-dosa", help="convert DOSA's published dataset CSV into a sweep dataset")
        im.add_argument("csv", type=path_arg("file"), help="DOSA dataset CSV")
        im.add_argument("--out", required=True, type=path_arg("out_dir"), help="dataset folder to create")
        im.add_argument("--rows-per-part", type=int, default=50_000)
        im.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
        im.set_defaults(func=_cmd_import_dosa)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from looplab.sweep.engine import plan, run_sweep
    from looplab.sweep.spec import parse_spec

    spec = parse_spec(args.spec, out=args.out, backend=args.backend)
    if args.dry_run:
        tasks = plan(spec)
        if args.json:
            print(json.dumps(plan_json(spec, tasks), indent=1))
            return 0
        print(f"{spec.name}: {len(tasks)} tasks, {sum(t.n_points for t in tasks)} points -> {spec.out} "
              f"(plan {spec.plan_hash})")
        shown = tasks if args.all_tasks else tasks[:DRY_RUN_SHOWN]
        for t in shown:
            print(f"  {t.id}: {t.accel_names} x {t.layer_names}: {t.n_points} points in {len(t.units)} sampler "
                  f"batches")
        if len(shown) < len(tasks):
            print(f"  ... {len(tasks) - len(shown)} more tasks not shown (--all-tasks lists every task, --json "
                  "gives the whole plan)")
        return 0
    summary = run_sweep(spec, resume=args.resume, scheduler=args.scheduler, workers=args.workers,
                        progress=not args.no_progress)
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    from looplab.cli.exit_codes import EXIT_TOOL

    return EXIT_TOOL if summary["tasks_failed"] else 0


def plan_json(spec: Any, tasks: list[Any]) -> dict[str, Any]:
    """The dry-run plan as JSON: every task with its (accelerator, layer, quota) units."""
    return {"name": spec.name, "out": str(spec.out), "plan_hash": spec.plan_hash, "backend": spec.backend,
            "n_tasks": len(tasks), "n_points": sum(t.n_points for t in tasks),
            "tasks": [{"id": t.id, "family": t.family, "n_points": t.n_points,
                       "units": [{"accelerator": u.accel.name, "layer": u.layer.name, "workload": u.layer.workload,
                                  "valid": u.n_valid, "invalid": u.n_invalid, "seed": u.seed} for u in t.units]}
                      for t in tasks]}


def _cmd_info(args: argparse.Namespace) -> int:
    from looplab.sweep.dataset import format_info, info

    d = info(args.path)
    print(json.dumps(d, indent=1, default=str) if args.json else "\n".join(format_info(d)))
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from looplab.sweep.dataset import merge

    r = merge(args.out, args.inputs)
    print(f"merged {len(args.inputs)} datasets into {r['out']}: {r['parts_copied']} parts, "
          f"{r['duplicates_skipped']} duplicate parts skipped, {r['rows']} rows")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from looplab.sweep.dataset import export

    r = export(args.path, args.out, args.format, args.columns, args.valid_only, args.limit, args.mapping_yaml)
    print(f"wrote {r['rows']} rows to {r['out']} ({r['format']})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from looplab.sweep.demo import run_demo

    run_demo(args.out, args.backend)
    return 0


def _cmd_import_dosa(args: argparse.Namespace) -> int:
    from looplab.sweep.dosa_import import import_dosa

    r = import_dosa(args.csv, args.out, rows_per_part=args.rows_per_part, progress=not args.no_progress)
    print(f"imported {r['rows']} rows ({r['parts']} parts) from {args.csv} into {r['out']}")
    return 0
