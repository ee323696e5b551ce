"""``looplab evaluate --batch --backend analytical`` end to end, including start-up:

a CASES file of 4,096 cases over 256 (architecture, layer) pairs (8 Simba + 8 Gemmini random accelerators x 16
ResNet-50 layers, 16 sampled mappings each, about half valid), one mapping file per case, ``"ert": null`` (looplab's
energy estimator). Each timed run is a fresh ``python -m looplab evaluate --batch`` process writing a fresh
RESULTS file; the first run may include numba's one-time compile when its on-disk cache is cold, so the median of
the later runs is the figure.

    .venv/bin/python bench/bench_batch.py [--archs 16] [--layers 16] [--per-pair 16] [--runs 3] [--jobs N]
                                          [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arch_gen import render_arch, sample_configs  # noqa: E402
from looplab.archspec import parse_arch  # noqa: E402
from looplab.sweep.rows import mapping_yaml_texts, spatial_levels  # noqa: E402
from looplab.workloads import load_workload  # noqa: E402
from mappers.sampler import sample_mappings  # noqa: E402


def make_cases(root: Path, n_archs: int, n_layers: int, per_pair: int, seed: int = 0) -> tuple[Path, int]:
    """Write archs/, problems/, mappings/ and CASES.jsonl under ``root``; returns (CASES path, number of cases)."""
    configs = sample_configs("simba", n_archs // 2, seed) + sample_configs("gemmini", n_archs - n_archs // 2, seed)
    layers = load_workload("resnet50")[:n_layers]
    for d in ("archs", "problems", "mappings"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for li, layer in enumerate(layers):
        (root / "problems" / f"l{li}.yaml").write_text(layer.to_problem_yaml())
    lines = []
    for ai, cfg in enumerate(configs):
        text = render_arch(cfg)
        (root / "archs" / f"a{ai}.yaml").write_text(text)
        arch = parse_arch(text)
        for li, layer in enumerate(layers):
            batch, _ = sample_mappings(arch, layer.dims, per_pair // 2, per_pair - per_pair // 2, seed + li,
                                       cfg.family, strict=False, max_draws=20_000)
            texts = mapping_yaml_texts(batch, spatial_levels(arch))
            texts = (texts * per_pair)[:per_pair]  # a pair short of valid mappings repeats what it found
            for k, t in enumerate(texts):
                name = f"mappings/a{ai}_l{li}_{k}.yaml"
                (root / name).write_text(t)
                lines.append(json.dumps({"id": len(lines), "arch": f"archs/a{ai}.yaml",
                                         "problem": f"problems/l{li}.yaml", "mapping": name, "ert": None}))
    cases = root / "CASES.jsonl"
    cases.write_text("\n".join(lines) + "\n")
    return cases, len(lines)


def run_once(cases: Path, out: Path, jobs: int | None) -> tuple[float, float, str]:
    """(wall s, CPU s of the command and its workers, its summary line)."""
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "looplab", "evaluate", "--batch", str(cases), "--out", str(out), "--backend",
           "analytical", "--no-progress", *(["--jobs", str(jobs)] if jobs else [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"evaluate --batch failed (exit {proc.returncode}):\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=16)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--per-pair", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="build the cases here and keep them")
    ap.add_argument("--jobs", type=int, help="evaluate --batch --jobs (default: its own, one per core)")
    a = ap.parse_args()
    root = a.keep or Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        t0 = time.perf_counter()
        cases, n = make_cases(root, a.archs, a.layers, a.per_pair)
        print(f"cases: {n} over {a.archs * a.layers} (arch, layer) pairs, one mapping file each "
              f"({time.perf_counter() - t0:.1f} s to build)")
        walls, cpus = [], []
        for r in range(a.runs):
            wall, cpu, line = run_once(cases, root / "RESULTS.jsonl", a.jobs)
            walls.append(wall)
            cpus.append(cpu)
            print(f"run {r + 1}: {wall:.2f} s end to end = {n / wall:,.0f} cases/s, {cpu:.2f} CPU s   [{line}]")
        later = slice(1, None) if len(walls) > 1 else slice(None)
        med, cpu_med = statistics.median(walls[later]), statistics.median(cpus[later])
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"evaluate --batch --backend analytical: {n / med:,.0f} cases/s end to end, including start-up "
              f"(median of runs {'2' if len(walls) > 1 else '1'}..{len(walls)}: {med:.2f} s for {n} cases; first "
              f"run {walls[0]:.2f} s); {n / cpu_med:,.0f} cases per CPU-second; {os.cpu_count()} cores, load "
              f"average {load:.1f}")
    finally:
        if a.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
