"""``looplab map ARCH PROBLEM --backend timeloop-mapper|looplab --out DIR``: best mapping on fixed hardware.

Each backend lives in its own module and is imported lazily; this module only parses arguments and dispatches.
A backend is a function ``fn(arch, problem, out_dir, *, metric, seed, timeout_s, threads, mapper_config, ert,
progress) -> dict`` that writes ``OUT/mapping.yaml`` (Timeloop's format) and ``OUT/result.json`` and returns
the result dict (at least ``valid``, ``cycles``, ``energy_pJ``, ``edp``, ``wall_s``, ``backend``).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from looplab.cli.paths import path_arg
from looplab.errors import LooplabError

# backend name -> "module:function"
BACKENDS = {
    "timeloop-mapper": "looplab.timeloop.mapper:map_layer",
    "looplab": "mappers.search.fixed:map_layer",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("map", help="find the best mapping of one layer on fixed hardware",
                       description="Writes OUT/mapping.yaml (Timeloop's format) and OUT/result.json.")
    p.add_argument("arch", metavar="ARCH.yaml", type=path_arg("file"))
    p.add_argument("problem", metavar="PROBLEM.yaml", type=path_arg("file"))
    p.add_argument("--backend", choices=sorted(BACKENDS), default="looplab")
    p.add_argument("--metric", choices=("edp", "energy", "delay"), default="edp")
    p.add_argument("--out", required=True, metavar="DIR", type=path_arg("out_dir"))
    p.add_argument("--ert", metavar="ERT.yaml", type=path_arg("file"),
                   help="energy reference table (default: Accelergy, cached)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="wall-clock limit in seconds")
    p.add_argument("--threads", type=int, default=None, metavar="N")
    p.add_argument("--mapper-config", metavar="FILE", type=path_arg("file"),
                   help="timeloop-mapper: a mapper/constraints YAML to use")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_map)


def _backend(name: str):
    mod_name, fn_name = BACKENDS[name].split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a backend is not built
        raise LooplabError(f"map backend {name!r} is not available ({exc})") from exc
    return getattr(mod, fn_name)


def _map(args: argparse.Namespace) -> int:
    out = Path(args.out)  # every path argument was checked up front (looplab.cli.paths)
    fn = _backend(args.backend)
    res = fn(Path(args.arch), Path(args.problem), out, metric=args.metric, seed=args.seed, timeout_s=args.timeout,
             threads=args.threads, mapper_config=args.mapper_config, ert=args.ert, progress=not args.no_progress)
    if args.json:
        print(json.dumps(res, indent=2, default=str))
    elif res.get("valid"):
        print(f"Cycles: {res['cycles']}")
        print(f"Energy: {res['energy_pJ'] / 1e6:.6f} uJ")
        print(f"EDP: {res['edp']:.6g} cycles*pJ")
        print(f"wrote {out}/mapping.yaml and {out}/result.json ({res.get('wall_s', 0):.1f} s)")
    else:
        print(f"no valid mapping found: {res.get('reason')}")
        return 1
    return 0
