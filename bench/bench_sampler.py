"""Benchmark of the random mapping sampler on the Simba presets x ResNet-50 layers (one run, real timings).

Prints (1) valid mappings generated per second (validity checked with Timeloop's rules, duplicates dropped),
single process and with a process pool of ``--workers`` (default 2), by wall clock and per CPU-second spent in
the sampler (the latter is robust to other jobs sharing the machine), and (2) the achieved valid:invalid quotas
of the first study's setting (10 valid + 100 invalid per (accelerator, layer)).

    .venv/bin/python bench/bench_sampler.py [--valid 3000] [--workers 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from looplab.archspec import DIMS, parse_arch  # noqa: E402
from mappers.sampler import sample_mappings  # noqa: E402

SIMBA_PRESETS = ["simba_final", "simba_final_8x8", "simba_large", "arch0", "arch1"]
REF = ROOT / "tests" / "data" / "reference"


def load_archs() -> dict[str, str]:
    """Arch YAML text per Simba preset: from arch_gen when it is there, else the recorded reference files."""
    try:
        from arch_gen import get_preset, render_arch

        return {name: render_arch(get_preset(name)) for name in SIMBA_PRESETS}
    except ImportError:
        return {name: (REF / "archs" / name / "arch.yaml").read_text() for name in SIMBA_PRESETS}


def load_layers() -> list[tuple[str, dict]]:
    try:
        from looplab.workloads import load_workload

        return [(lay.name, dict(lay.dims)) for lay in load_workload("resnet50")]
    except ImportError:
        return [(x["name"], x["dims"]) for x in json.loads((REF / "layers" / "layers.json").read_text())]


def _job(args: tuple) -> tuple[str, str, int, int, int, float]:
    """One (preset, layer): (arch, layer, n valid, n invalid, candidates drawn, CPU seconds in the sampler)."""
    arch_text, arch_name, layer_name, dims, n_valid, n_invalid, seed = args
    spec = parse_arch(arch_text)
    c0 = time.process_time()
    batch, valid, _, stats = sample_mappings(spec, dims, n_valid, n_invalid, seed, return_stats=True)
    cpu = time.process_time() - c0
    return arch_name, layer_name, int(valid.sum()), int((~valid).sum()), stats.drawn, cpu


def run(jobs: list[tuple], workers: int) -> tuple[list, float]:
    t0 = time.perf_counter()
    if workers <= 1:
        out = [_job(j) for j in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            out = list(pool.map(_job, jobs, chunksize=4))
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valid", type=int, default=3000, help="valid mappings per (preset, layer) in the speed run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    archs, layers = load_archs(), load_layers()
    print(f"sampler bench: {len(archs)} Simba presets x {len(layers)} ResNet-50 layers; cpus={os.cpu_count()}")
    for name in archs:  # the presets must be the ones of the reference (guards against a drifting arch_gen)
        parse_arch(archs[name])

    # (1) speed: valid mappings per second.
    speed_jobs = [(archs[a], a, ln, d, args.valid, 0, args.seed + i) for a in archs
                  for i, (ln, d) in enumerate(layers)]
    for workers in sorted({1, args.workers}):
        out, wall = run(speed_jobs, workers)
        n_valid = sum(o[2] for o in out)
        drawn = sum(o[4] for o in out)
        print(f"speed  workers={workers}: {n_valid} valid mappings in {wall:.2f} s wall = "
              f"{n_valid / wall:,.0f} valid/s ({drawn} candidates drawn, {drawn / wall:,.0f} candidates/s)")
        per_arch = Counter()
        t_arch = Counter()
        for a, _, v, _, _, cpu in out:
            per_arch[a] += v
            t_arch[a] += cpu
        print(f"        per CPU-second of the sampler: {n_valid / sum(t_arch.values()):,.0f} valid/s; per preset: "
              + ", ".join(f"{a} {per_arch[a] / t_arch[a]:,.0f}/s" for a in archs))

    # (2) quotas of the first study: 10 valid + 100 invalid per (accelerator, layer).
    quota_jobs = [(archs[a], a, ln, d, 10, 100, args.seed + 1000 + i) for a in archs
                  for i, (ln, d) in enumerate(layers)]
    out, wall = run(quota_jobs, args.workers)
    exact = sum(1 for o in out if (o[2], o[3]) == (10, 100))
    tv, ti, drawn = sum(o[2] for o in out), sum(o[3] for o in out), sum(o[4] for o in out)
    print(f"quotas 10 valid + 100 invalid: {exact}/{len(out)} (preset, layer) pairs exact; total {tv} valid : "
          f"{ti} invalid ({tv / (tv + ti):.1%} valid) from {drawn} candidates in {wall:.2f} s wall")
    dims_ok = all(set(DIMS) <= set(d) for _, d in layers)
    return 0 if exact == len(out) and dims_ok else 1


if __name__ == "__main__":
    sys.exit(main())
