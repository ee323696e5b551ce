"""The ``looplab`` command line. Each sub-module registers its own sub-commands.

Sub-modules keep heavy imports (torch, pandas, ...) inside their handlers so ``looplab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from looplab.errors import LooplabError

# One module per area; each defines ``register(subparsers)``.
COMMAND_MODULES = [
    "looplab.cli.emit_cmd",  # list, emit arch|problem|mapping
    "looplab.cli.sim_cmd",  # doctor, evaluate (timeloop | pytimeloop | analytical)
    "looplab.cli.mapping_cmd",  # sample, import-dosa
    "looplab.cli.sweep_cmd",  # sweep, dataset info|merge|export, demo
    "looplab.cli.model_cmd",  # correlate
    "looplab.cli.map_cmd",  # map (timeloop-mapper | looplab)
    "looplab.cli.learn_cmd",  # train, predict, experiment
    "looplab.cli.search_cmd",  # search (co-search and baselines)
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="looplab",
        description="DNN-accelerator design-space exploration around Timeloop and Accelergy.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # area not built yet
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        from looplab.timeloop.discover import activate

        activate()  # LOOPLAB_SIMULATORS=DIR, TIMELOOP_DIR, Accelergy beside this interpreter
        return int(args.func(args) or 0)
    except LooplabError as exc:
        print(f"looplab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("looplab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
