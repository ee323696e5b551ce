"""Sweep engine benchmark (analytical backend), all measured in one run:

1. peak memory of sweeps of ~10k and ~100k points (same task size, 10x the accelerators): the driver's and the
   largest worker's ru_maxrss, each sweep in its own ``python -m looplab sweep`` process -- must not grow with
   the sweep size;
2. the sweep's overhead over raw evaluation time, side by side: the same points' raw work (per architecture its
   setup -- render, parse, ERT -- and per batch sample the mappings + ``evaluate_batch`` on the whole batch) in
   one fresh process, serially, vs the sweep on every core (process pool, rows built, Parquet parts written,
   manifest kept); overhead = sweep wall / (raw serial time / workers) - 1, and the same in CPU seconds;
   core utilisation = CPU seconds of driver + workers / (wall x cores). Also the cost of storing the YAML.

    .venv/bin/python bench/bench_sweep.py [--small 4] [--large 40] [--overhead 160] [--workers 0]
                                          [--kernel numba|numpy] [--points-per-task N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from looplab.sweep import parse_spec, plan  # noqa: E402
from looplab.sweep.worker import _bundle  # noqa: E402


def spec_dict(out: Path, n_accels: int, workers: int, ppt: int | None = None, kernel: str = "auto") -> dict:
    """The first study's setting: Simba grid accelerators x 24 ResNet-50 layers x (10 valid + 100 invalid)."""
    d = {"name": f"bench-{n_accels}", "seed": 0, "out": str(out), "backend": "analytical",
            "accelerators": {"grid": {"family": "simba", "limit": n_accels, "stride": 2304 // max(1, n_accels)}},
            "workloads": ["resnet50"], "mappings": {"valid": 10, "invalid": 100},
         "execution": {"workers": workers, "energy": "estimator", "kernel": kernel}}
    if ppt:
        d["points_per_task"] = ppt
    return d


def run_cli_sweep(spec: dict, tmp: Path) -> dict:
    path = tmp / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "looplab", "sweep", str(path), "--json", "--no-progress"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"sweep failed:\n{proc.stderr}")
    summary = json.loads(proc.stdout)
    summary["process_wall_s"] = wall
    return summary


def raw_serial(spec: dict) -> tuple[float, float, int]:
    """The work itself, nothing else: per architecture its setup (render, parse, ERT), per batch sample +
    evaluate_batch."""
    from looplab.analytical import evaluate_batch
    from looplab.sweep.engine import resolve_kernel
    from looplab.sweep.worker import RunContext
    from mappers.sampler import sample_mappings

    sp = parse_spec(spec)
    tasks = plan(sp)
    kernel = resolve_kernel(sp, sum(t.n_points for t in tasks), None)  # the sweep's choice: same code path
    ctx = RunContext(str(sp.out), "analytical", "estimator", 120.0, kernel=kernel)
    if kernel == "numba":  # one thread, as in each sweep worker: the raw loop is the serial reference
        from looplab.sweep.worker import _numba_threads

        _numba_threads(1)
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for t in tasks:
        for u in t.units:
            b = _bundle(u.accel, ctx)  # the architecture: rendered, parsed, its ERT estimated (once per arch)
            batch, _ = sample_mappings(b.spec, dict(u.layer.dims), u.n_valid, u.n_invalid, seed=u.seed,
                                       family=u.accel.family)
            evaluate_batch(b.spec, b.ert, dict(u.layer.dims), batch, use_kernel=kernel == "numba",
                           stats=True)
            n += len(batch)
    return time.perf_counter() - t0, time.process_time() - c0, n


def raw_in_subprocess(spec: dict, tmp: Path) -> tuple[float, float, int]:
    """:func:`raw_serial` in a fresh process, so that it runs under the same conditions as a sweep worker."""
    path = tmp / "raw-spec.json"
    path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, __file__, "--raw-only", str(path)], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        sys.exit(f"raw loop failed:\n{proc.stderr}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return r["wall"], r["cpu"], r["n"]


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--raw-only":
        wall, cpu, n = raw_serial(json.loads(Path(sys.argv[2]).read_text()))
        print(json.dumps({"wall": wall, "cpu": cpu, "n": n}))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=4, help="accelerators in the small sweep (x 24 layers x 110)")
    ap.add_argument("--large", type=int, default=40, help="accelerators in the large sweep")
    ap.add_argument("--overhead", type=int, default=160,
                    help="accelerators in the overhead measurement (160: 422,400 points, so that start-up costs "
                         "weigh as little as in a real sweep)")
    ap.add_argument("--workers", type=int, default=0, help="0: one per core")
    ap.add_argument("--points-per-task", type=int, help="task size (default: the spec default)")
    ap.add_argument("--kernel", choices=["numba", "numpy"],
                    help="analytical model path for every sweep here (default: numba when installed)")
    ap.add_argument("--keep", help="keep the datasets in this folder")
    args = ap.parse_args()
    if args.kernel is None:
        from looplab.analytical import kernel as _k

        args.kernel = "numba" if getattr(_k, "AVAILABLE", False) else "numpy"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = args.workers or cores
    if args.kernel == "numba":  # compile (or load from numba's cache) once, before anything is timed
        t0 = time.perf_counter()
        warm = parse_spec(spec_dict(Path(tempfile.gettempdir()) / "looplab-bench-warm", 1, 1, 110, "numba"))
        raw_serial({**spec_dict(warm.out, 1, 1, 110, "numba"), "workloads": [{"workload": "resnet50",
                                                                               "layers": [0]}]})
        print(f"numba kernel warm-up (first compile on this machine, else a cache load): "
              f"{time.perf_counter() - t0:.1f} s, not counted below")
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="looplab-bench-sweep-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"bench_sweep: analytical backend ({args.kernel} path), {cores} cores, {workers} workers, "
          f"datasets in {tmp}")
    try:
        ppt = parse_spec(spec_dict(tmp, 1, 1, args.points_per_task)).points_per_task
        print(f"\n== peak memory vs sweep size (each sweep in its own process; tasks of <= {ppt} points, "
              "10 valid + 100 invalid per accelerator and layer)")
        print(f"{'points':>8} {'tasks':>6} {'wall s':>7} {'pts/s':>7} {'driver MiB':>11} {'worker MiB':>11} "
              f"{'dataset MiB':>12}")
        mem = {}
        for n_acc in (args.small, args.large):
            s = run_cli_sweep(spec_dict(tmp / f"mem{n_acc}", n_acc, workers, args.points_per_task, args.kernel), tmp)
            size = sum(f.stat().st_size for f in (tmp / f"mem{n_acc}" / "parts").rglob("*.parquet")) / 2**20
            mem[n_acc] = s
            print(f"{s['rows_run']:>8} {s['tasks_run']:>6} {s['wall_s']:>7.1f} {s['points_per_s']:>7.0f} "
                  f"{s['peak_rss_driver_mib']:>11.1f} {s['peak_rss_worker_mib']:>11.1f} {size:>12.1f}")
        a, b = mem[args.small], mem[args.large]
        print(f"large/small: points x{b['rows_run'] / a['rows_run']:.1f}, driver peak "
              f"x{b['peak_rss_driver_mib'] / a['peak_rss_driver_mib']:.2f}, worker peak "
              f"x{b['peak_rss_worker_mib'] / a['peak_rss_worker_mib']:.2f}")

        print(f"\n== overhead over raw evaluation, side by side ({args.overhead} accelerators)")
        spec = spec_dict(tmp / "overhead", args.overhead, workers, args.points_per_task, args.kernel)
        raw_s, raw_cpu, raw_n = raw_in_subprocess(spec, tmp)
        s = run_cli_sweep(spec, tmp)
        ideal = raw_s / workers
        over = s["wall_s"] / ideal - 1
        cpu = s["cpu_s_driver"] + s["cpu_s_children"]
        util = cpu / (s["wall_s"] * cores)
        wt = s["worker_time_s"]
        print(f"raw work (arch setup + sample + evaluate_batch), 1 fresh process: {raw_n} points in "
              f"{raw_s:.2f} s wall, {raw_cpu:.2f} CPU s ({raw_n / raw_s:.0f} pts/s)  -> ideal on {workers} workers: "
              f"{ideal:.2f} s")
        print(f"sweep ({s['executor']}): {s['rows_run']} points in {s['wall_s']:.2f} s "
              f"({s['points_per_s']:.0f} pts/s), {cpu:.2f} CPU s")
        print(f"overhead, wall: {over:+.1%} (sweep wall / (raw wall / {workers}) - 1; target <= 10%)")
        print(f"overhead, CPU:  {cpu / raw_cpu - 1:+.1%} (all CPU of the sweep / CPU of the raw work - 1)")
        la = os.getloadavg()
        print(f"load average during the bench: {la[0]:.1f} {la[1]:.1f} {la[2]:.1f} (other processes compete for "
              f"the {cores} cores when it exceeds {cores})")
        print(f"core utilisation: {util:.0%} of {cores} cores (driver {s['cpu_s_driver']:.1f} CPU s, workers "
              f"{s['cpu_s_children']:.1f} CPU s, wall {s['wall_s']:.1f} s)")
        tot = sum(wt.get(k, 0) for k in ("t_setup", "t_sample", "t_eval", "t_build", "t_write"))
        inner = sum(wt.get(k, 0) for k in ("t_setup", "t_sample", "t_eval"))
        print(f"overhead vs the same work timed inside the workers (setup + sample + eval = {inner:.2f} s): "
              f"{cpu / inner - 1:+.1%} CPU (the stricter figure: the raw loop alone runs slower than the same "
              f"calls inside a worker)")
        print("worker time split: " + ", ".join(
            f"{k[2:]} {wt.get(k, 0):.2f} s ({wt.get(k, 0) / tot:.0%})"
            for k in ("t_setup", "t_sample", "t_eval", "t_build", "t_write")))
        yaml_spec = {**spec, "out": str(tmp / "overhead-yaml"), "name": "bench-yaml", "store": {"mapping_yaml": True}}
        s2 = run_cli_sweep(yaml_spec, tmp)
        cpu2 = s2["cpu_s_driver"] + s2["cpu_s_children"]
        print(f"same sweep storing every mapping's YAML too (store.mapping_yaml: true): {s2['wall_s']:.2f} s, "
              "overhead wall "
              f"{s2['wall_s'] / ideal - 1:+.1%}, CPU {cpu2 / raw_cpu - 1:+.1%}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
