"""Analytical model throughput, measured side by side in one run.

Prints evaluations/s of (1) the batched numpy model (``evaluate_batch``, validity included), (2) a
per-mapping Python loop over ``evaluate``, and (3) timeloop-model when it is on PATH, else the reference's
recorded seconds per evaluation (labelled as recorded). Pin to 2 cores with ``taskset -c 0,1`` for the
reference setting; BLAS threads are limited to 2 here.

    .venv/bin/python bench/bench_analytical.py [--n 262144] [--loop 200]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from looplab.analytical import evaluate, evaluate_batch, kernel  # noqa: E402
from looplab.archspec import parse_arch  # noqa: E402
from looplab.energy.ert import load_ert  # noqa: E402
from mappers.mapping import MappingBatch  # noqa: E402
from mappers.validity import Validity, check_batch  # noqa: E402

REF = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference"


def model_only(arch, ert, dims, batch, use_kernel=None):
    """evaluate_batch without the validity check (every row treated as valid)."""
    import looplab.analytical.api as api

    saved = api._validity

    def all_valid(a, d, b):
        return Validity.all_valid(len(b))

    api._validity = all_valid
    try:
        return evaluate_batch(arch, ert, dims, batch, use_kernel=use_kernel)
    finally:
        api._validity = saved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=262144, help="batched evaluations")
    ap.add_argument("--loop", type=int, default=200, help="mappings in the per-mapping loop")
    ap.add_argument("--arch", default="simba_final")
    ap.add_argument("--layer", default="resnet50._outputs_input.8", help="a reference layer name")
    ap.add_argument("--distinct", type=int, default=4096, help="distinct sampled mappings")
    args = ap.parse_args()

    with gzip.open(REF / "cases.jsonl.gz", "rt") as fh:
        cases = [c for c in map(json.loads, fh) if c["arch"] == args.arch]
    group = [c for c in cases if c["layer"] == args.layer]
    if not group:
        raise SystemExit(f"no reference cases for layer {args.layer!r} on {args.arch}")
    dims = group[0]["layer_dims"]
    arch = parse_arch(REF / "archs" / args.arch / "arch.yaml")
    ert = load_ert(REF / "archs" / args.arch / "ERT.yaml")
    from mappers.sampler import sample_mappings

    base, _ = sample_mappings(arch, dims, n_valid=args.distinct // 2, n_invalid=args.distinct // 2, seed=0,
                              family=group[0]["family"])
    maps = base.to_mappings()
    reps = -(-args.n // len(base))
    big = MappingBatch.concat([base] * reps)[: args.n]
    print(f"arch {args.arch}, layer {args.layer} {dims}: {len(base)} distinct sampled mappings (half valid) "
          f"tiled to {len(big)}")

    evaluate_batch(arch, ert, dims, base)  # warm-up
    t0 = time.perf_counter()
    res = evaluate_batch(arch, ert, dims, big)
    dt = time.perf_counter() - t0
    batched = len(big) / dt
    engine = "numba kernel" if kernel.AVAILABLE else "numpy"
    print(f"batched ({engine}, evaluate_batch incl. validity): {batched:12,.0f} evaluations/s  "
          f"({len(big)} in {dt:.2f} s, {int(res.valid.sum())} valid)")
    valid_rows = big[np.nonzero(res.valid)[0]]
    t0 = time.perf_counter()
    check_batch(arch, dims, big)
    dv = time.perf_counter() - t0
    print(f"  of which validity (mappers.validity.check_batch): {len(big) / dv:12,.0f} mappings/s")
    t0 = time.perf_counter()
    model_only(arch, ert, dims, valid_rows)
    dm = time.perf_counter() - t0
    print(f"  model only on the valid rows (cycles, energy):    {len(valid_rows) / dm:12,.0f} evaluations/s")
    if kernel.AVAILABLE:
        t0 = time.perf_counter()
        model_only(arch, ert, dims, valid_rows, use_kernel=False)
        dn = time.perf_counter() - t0
        print(f"  numpy path, model only on the valid rows:          {len(valid_rows) / dn:12,.0f} evaluations/s")

    loop_maps = (maps * (-(-args.loop // len(maps))))[: args.loop]
    t0 = time.perf_counter()
    for m in loop_maps:
        evaluate(arch, ert, dims, m)
    dt = time.perf_counter() - t0
    looped = len(loop_maps) / dt
    print(f"per-mapping Python loop (evaluate): {looped:10,.0f} evaluations/s  ({len(loop_maps)} in {dt:.2f} s)")

    tl = shutil.which("timeloop-model")
    if tl:
        full = sorted(d for d in (REF / "full").iterdir() if (d / "timeloop-model.stats.txt").exists())[:5]
        times = []
        for d in full:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [tl, str(d / "arch.yaml"), str(d / "problem.yaml"), str(d / "mapping.yaml"),
                       str(d / "ERT.yaml"), str(d / "ART.yaml")]
                t0 = time.perf_counter()
                subprocess.run(cmd, cwd=tmp, capture_output=True, check=False)
                times.append(time.perf_counter() - t0)
        per = statistics.median(times)
        print(f"timeloop-model (measured, {len(times)} runs): {1 / per:10,.2f} evaluations/s  ({per:.3f} s each)")
    else:
        walls = [c["wall_s"] for c in cases if c.get("wall_s")]
        per = float(np.median(walls))
        print(f"timeloop (RECORDED in reference, pytimeloop in-process, median wall_s): {1 / per:8,.2f} "
              f"evaluations/s  ({per:.3f} s each; timeloop-model not on PATH)")
    print(f"speed-up batched vs timeloop: {batched * per:,.0f}x; batched vs Python loop: {batched / looped:,.0f}x")


if __name__ == "__main__":
    main()
