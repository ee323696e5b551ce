"""Analytical model throughput, measured side by side in one run.

Distinct mappings are sampled (half valid, half invalid, as the sampler's quotas give them) for a few reference
layers on a Simba and a Gemmini architecture; then it prints evaluations/s of (1) the batched model
(``evaluate_batch``: validity, cycles, energy and energy per level for every row; the compiled kernel when numba is
installed), with validity alone and the numpy path beside it, (2) a per-mapping Python loop over ``evaluate``, and
(3) timeloop-model when it is on PATH, else the reference's recorded seconds per evaluation (labelled as
recorded). Pin to 2 cores with ``taskset -c 0,1`` for the reference setting.

    .venv/bin/python bench/bench_analytical.py [--n 65536] [--layers 2] [--loop 200]
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

from looplab.analytical import evaluate, evaluate_batch  # noqa: E402
from looplab.analytical.api import kernel_available  # noqa: E402
from looplab.archspec import parse_arch  # noqa: E402
from looplab.energy.ert import load_ert  # noqa: E402
from mappers.validity import check_batch  # noqa: E402

REF = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference"


def _cases(arch_name: str) -> list[dict]:
    with gzip.open(REF / "cases.jsonl.gz", "rt") as fh:
        return [c for c in map(json.loads, fh) if c["arch"] == arch_name]


def _timed(fn, *a, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=65536, help="distinct sampled mappings per (arch, layer), half valid")
    ap.add_argument("--loop", type=int, default=200, help="mappings in the per-mapping loop")
    ap.add_argument("--archs", default="simba_final,gemmini_default")
    ap.add_argument("--layers", type=int, default=2, help="reference layers per architecture")
    ap.add_argument("--repeat", type=int, default=5, help="timed passes over all batches (median reported)")
    args = ap.parse_args()

    from mappers.sampler import sample_mappings

    work = []
    t_sample = 0.0
    for name in args.archs.split(","):
        cases = _cases(name)
        arch = parse_arch(REF / "archs" / name / "arch.yaml")
        ert = load_ert(REF / "archs" / name / "ERT.yaml")
        layers = list(dict.fromkeys(c["layer"] for c in cases))
        for lname in layers[:: max(1, len(layers) // args.layers)][: args.layers]:
            c = next(c for c in cases if c["layer"] == lname)
            dt, (batch, _) = _timed(sample_mappings, arch, c["layer_dims"], args.n // 2, args.n - args.n // 2,
                                    seed=1, family=c["family"])
            t_sample += dt
            work.append((name, lname, arch, ert, c["layer_dims"], batch))
    total = sum(len(w[-1]) for w in work)
    print(f"{len(work)} (arch, layer) pairs, {total:,} distinct sampled mappings (half valid; sampled in "
          f"{t_sample:.1f} s, not timed below); numba threads {numba_threads()}")

    kernel = kernel_available()
    for _, _, arch, ert, dims, batch in work:  # compile / load the kernels, warm the caches
        evaluate_batch(arch, ert, dims, batch[:64])
        check_batch(arch, dims, batch[:4096])
    runs_b, runs_v = [], []
    for _ in range(args.repeat):
        dt_b = dt_v = 0.0
        n_valid = 0
        for _, _, arch, ert, dims, batch in work:
            d, res = _timed(evaluate_batch, arch, ert, dims, batch)
            dt_b += d
            n_valid += int(res.valid.sum())
            dt_v += _timed(check_batch, arch, dims, batch)[0]
        runs_b.append(total / dt_b)
        runs_v.append(total / dt_v)
    dt_n = 0.0
    for _, _, arch, ert, dims, batch in work:
        sub = batch[: len(batch) // 8]
        dt_n += _timed(evaluate_batch, arch, ert, dims, sub, use_kernel=False)[0] * 8
    batched = statistics.median(runs_b)
    engine = "numba kernel" if kernel else "numpy"
    print(f"batched ({engine}, evaluate_batch incl. validity): {batched:12,.0f} evaluations/s  "
          f"(median of {args.repeat} passes over {total:,}: {min(runs_b):,.0f} to {max(runs_b):,.0f}/s; "
          f"{n_valid:,} valid)")
    print(f"  validity alone (mappers.validity.check_batch):    {statistics.median(runs_v):12,.0f} mappings/s")
    if kernel:
        print(f"  numpy path (evaluate_batch use_kernel=False):     {total / dt_n:12,.0f} evaluations/s "
              f"(on 1/8 of each batch)")

    name, lname, arch, ert, dims, batch = work[0]
    maps = batch[: args.loop].to_mappings()
    dt, _ = _timed(lambda: [evaluate(arch, ert, dims, m) for m in maps])
    looped = len(maps) / dt
    print(f"per-mapping Python loop (evaluate, {name}):   {looped:10,.0f} evaluations/s  ({len(maps)} in {dt:.2f} s)")

    tl = shutil.which("timeloop-model")
    if tl:
        full = sorted(d for d in (REF / "full").iterdir() if (d / "timeloop-model.stats.txt").exists())[:5]
        times = []
        for d in full:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [tl, str(d / "arch.yaml"), str(d / "problem.yaml"), str(d / "mapping.yaml"),
                       str(d / "ERT.yaml"), str(d / "ART.yaml")]
                times.append(_timed(subprocess.run, cmd, cwd=tmp, capture_output=True, check=False)[0])
        per = statistics.median(times)
        print(f"timeloop-model (measured, {len(times)} runs): {1 / per:10,.2f} evaluations/s  ({per:.3f} s each)")
    else:
        walls = [c["wall_s"] for n in args.archs.split(",") for c in _cases(n) if c.get("wall_s")]
        per = float(np.median(walls))
        print(f"timeloop (RECORDED in reference, pytimeloop in-process, median wall_s): {1 / per:8,.2f} "
              f"evaluations/s  ({per:.3f} s each; timeloop-model not on PATH)")
    print(f"speed-up batched vs timeloop: {batched * per:,.0f}x; batched vs Python loop: {batched / looped:,.0f}x")


def numba_threads() -> int | str:
    if not kernel_available():
        return "n/a"
    import numba

    return numba.get_num_threads()


if __name__ == "__main__":
    main()
