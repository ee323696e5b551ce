"""The ``looplab`` command line. Each sub-module registers its own sub-commands.

Sub-modules keep heavy imports (torch, pandas, ...) inside their handlers so ``looplab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from looplab.cli.exit_codes import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE
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
    from looplab.cli.exit_codes import epilog

    parser = argparse.ArgumentParser(
        prog="looplab",
        description="DNN-accelerator design-space exploration around Timeloop and Accelergy.",
        epilog=epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
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
    from looplab.cli import paths

    parser = build_parser()
    paths.reset()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        from looplab.timeloop.discover import activate

        paths.check_paths()
        activate()  # LOOPLAB_SIMULATORS=DIR, TIMELOOP_DIR, Accelergy beside this interpreter
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that left shows up here, not in the interpreter's exit
        return status
    except LooplabError as exc:
        print(f"looplab: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_status", EXIT_USAGE)
    except KeyboardInterrupt:
        print("looplab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `looplab ... | head`: the reader left; end quietly
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
