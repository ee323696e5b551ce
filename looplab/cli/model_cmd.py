"""``looplab correlate DATA --out REPORT_DIR``: the analytical model against recorded simulator results."""

from __future__ import annotations

import argparse

from looplab.cli.paths import path_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "correlate",
        help="evaluate the analytical model on recorded data; write report.md, PNG plots and summary.json",
        description="DATA: a folder laid out like reference/ (archs/, cases.jsonl.gz), a sweep dataset "
                    "(Parquet folder or file), or a DOSA dataset CSV.",
    )
    p.add_argument("data", metavar="DATA", type=path_arg("any"))
    p.add_argument("--out", required=True, metavar="REPORT_DIR", type=path_arg("out_dir"))
    p.add_argument("--estimated-ert", action="store_true",
                   help="use the Accelergy-free estimator even where a recorded ERT.yaml exists")
    p.add_argument("--ert-dir", metavar="DIR", type=path_arg("dir"),
                   help="for datasets: DIR/<arch>/ERT.yaml per architecture name")
    p.add_argument("--arch", action="append", metavar="NAME", help="only these architectures (repeatable)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N rows")
    p.add_argument("--timeloop-build", default="reference", metavar="BUILD",
                   help="the Timeloop build the model reproduces: reference (default; the build of reference/) or "
                        "dosa (the build that labelled DOSA's published datasets; changes cycles only)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_correlate)


def _correlate(args: argparse.Namespace) -> int:
    from looplab.correlate import correlate

    s = correlate(args.data, args.out, estimated_ert=args.estimated_ert, ert_dir=args.ert_dir, limit=args.limit,
                  archs=args.arch, progress=not args.no_progress, timeloop_build=args.timeloop_build)

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.4f}%"

    if "analytical" in s["recorded_by"]:
        print(f"warning: {s['recorded_by']['analytical']} recorded rows come from the analytical backend itself "
              "(the model is compared with itself there)")
    print(f"rows {s['n']}  valid (recorded) {s['n_valid_truth']}  valid in both {s['n_valid_both']}")
    print(f"validity agreement {pct(s['validity']['agreement'])} ({s['validity']['agree']}/{s['validity']['n']})")
    for m in ("cycles", "energy", "edp"):
        e = s[m]
        print(f"{m:7s} n={e['n']} mean {pct(e['mean'])} median {pct(e['median'])} max {pct(e['max'])} "
              f"within 1% {pct(e['within_1pct'])}")
    eps = s["evaluations_per_second"]
    print((f"evaluations/s {eps:,.0f}" if eps else "evaluations/s -")
          + f" (after a one-time start-up of {s.get('startup_seconds', 0):.1f} s: kernel compile or cache load)")
    if s["failed_groups"]:
        print(f"{len(s['failed_groups'])} (arch, layer) groups could not be evaluated; see report.md")
    print(f"wrote {args.out}/report.md, summary.json and {len(s['plots'])} plots")
    return 0
