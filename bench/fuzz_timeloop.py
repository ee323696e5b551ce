"""Differential fuzz: the real timeloop-model (or pytimeloop) against looplab's analytical model.

Random Simba and Gemmini configurations over the samplers' whole ranges x layers from every shipped catalog x
sampled valid and invalid mappings; Accelergy once per configuration and the analytical model evaluated with
that ERT. Prints the agreement summary and every disagreement; exit status 1 when any point disagrees.

    .venv/bin/python bench/fuzz_timeloop.py --points 10000 --seed 0 --jobs 2 --out out/fuzz
                                            [--backend timeloop|pytimeloop] [--per-arch 240] [--per-layer 8]

Resumable: run the same command again after an interruption and it continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from looplab.timeloop.fuzz import run_fuzz  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("out/fuzz"))
    ap.add_argument("--backend", choices=("timeloop", "pytimeloop"), default="timeloop")
    ap.add_argument("--per-arch", type=int, default=240, help="points per configuration")
    ap.add_argument("--per-layer", type=int, default=8, help="mappings per (configuration, layer)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    rep = run_fuzz(a.out, a.points, a.seed, a.jobs, a.backend, a.timeout, not a.no_progress, a.per_arch,
                   a.per_layer)
    print("\n".join(rep.lines()))
    return 1 if rep.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
