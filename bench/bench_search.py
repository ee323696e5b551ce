"""Co-search and fixed-hardware mapping, measured side by side.

  python bench/bench_search.py cosearch [--networks resnet50,bert,unet,retinanet] [--seeds 0,1,2] [--budget 10000]
                                        [--jobs 2] [--energy estimator] [--out DIR]
      every method of ``looplab search`` on every (network, seed) at the same budget; prints each run's best EDP
      and the geometric means over runs of each baseline's best EDP divided by the gradient search's, and the wall
      time of the whole comparison.
  python bench/bench_search.py validate DIR [--limit N]
      runs the emitted designs of a cosearch DIR through the real timeloop-model (with the emitted ERT/ART) and
      compares cycles, energy and network EDP with network.json.
  python bench/bench_search.py mapper [--workload resnet50] [--threads 2] [--out DIR]
      fixed hardware (Gemmini 16x16, 128 KiB scratchpad, 32 KiB accumulator): per layer ``looplab map --backend
      looplab`` against ``timeloop-mapper`` (looplab.timeloop.mapper, its default settings, same ERT, DOSA's
      Gemmini mapspace), best EDP and wall time; looplab's mapping checked in the real timeloop-model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

METHODS = ["gradient", "random", "bo", "botorch", "mindmappings"]


def _gmean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def _one(network: str, seed: int, budget: int, energy: str, out: str) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import numba
    import torch

    numba.set_num_threads(1)
    torch.set_num_threads(1)
    from mappers.search.run import run_search

    t = time.monotonic()
    s = run_search(network, Path(out), METHODS, budget=budget, seed=seed, energy=energy, progress=False)
    return {"network": network, "seed": seed, "wall_s": time.monotonic() - t,
            **{m: {k: s[m].get(k) for k in ("best_edp", "evaluations", "wall_s", "hardware")} for m in METHODS}}


def cosearch(args: argparse.Namespace) -> None:
    nets = args.networks.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    t0 = time.monotonic()
    print(f"co-search: {len(nets)} networks x {len(seeds)} seeds x {len(METHODS)} methods, budget {args.budget} "
          f"evaluations each, {args.jobs} worker processes (1 numba and 1 torch thread each), energy {args.energy}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    runs = []
    with ProcessPoolExecutor(args.jobs) as pool:
        futs = [pool.submit(_one, n, s, args.budget, args.energy, str(out / f"{n}_s{s}"))
                for s in seeds for n in nets]  # seed-major: every network early
        for f in as_completed(futs):
            r = f.result()
            runs.append(r)
            edps = "  ".join(f"{m} {r[m]['best_edp']:.3g}" for m in METHODS)
            print(f"[{time.monotonic() - t0:6.0f} s] {r['network']:10s} seed {r['seed']}: {edps}  "
                  f"({r['wall_s']:.0f} s)", flush=True)
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, collected when the pool shut down
    cpu = ru.ru_utime + ru.ru_stime
    print(f"\nbest EDP of each baseline / gradient's (geometric mean over {len(runs)} runs; min - max):")
    for m in METHODS[1:]:
        ratios = [r[m]["best_edp"] / r["gradient"]["best_edp"] for r in runs]
        gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        print(f"  {m:13s} {gm:8.2f}x   ({min(ratios):.2f} - {max(ratios):.2f}; gradient better in "
              f"{sum(x > 1 for x in ratios)}/{len(ratios)})")
    for n in nets:
        sub = [r for r in runs if r["network"] == n]
        per = "  ".join(f"{m} {_gmean([r[m]['best_edp'] / r['gradient']['best_edp'] for r in sub]):.2f}x"
                        for m in METHODS[1:])
        print(f"  {n:10s} {per}")
    evals = {m: sum(r[m]["evaluations"] for r in runs) / len(runs) for m in METHODS}
    print("mean evaluations used: " + ", ".join(f"{m} {v:.0f}" for m, v in evals.items()))
    print("mean wall per run (s): " + ", ".join(f"{m} {sum(r[m]['wall_s'] for r in runs) / len(runs):.1f}"
                                               for m in METHODS))
    print(f"whole comparison: {wall:.0f} s wall ({wall / 60:.1f} min); CPU time of the workers {cpu:.0f} s "
          f"(= {cpu / 2 / 60:.1f} min on 2 otherwise idle cores); load average now {os.getloadavg()[0]:.1f}")
    (out / "bench.json").write_text(json.dumps({"runs": runs, "wall_s": wall, "cpu_s": cpu}, indent=1, default=str))


def _timeloop(arch: Path, problem: Path, mapping: Path, ert: Path, art: Path, cwd: Path) -> tuple[int, float] | None:
    from looplab.timeloop.parse_stats import parse_stats_text

    cwd.mkdir(parents=True, exist_ok=True)
    subprocess.run(["timeloop-model", str(arch), str(problem), str(mapping), str(ert), str(art)], cwd=cwd,
                   capture_output=True, timeout=600, check=False)
    stats = cwd / "timeloop-model.stats.txt"
    if not stats.is_file():
        return None
    r = parse_stats_text(stats.read_text())
    return r.cycles, r.energy_pJ


def validate(args: argparse.Namespace) -> None:
    import tempfile

    root = Path(args.dir)
    nets = sorted(root.glob("**/network.json"))[: args.limit]
    worst, n_layers, bad = 0.0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for nj in nets:
            d = nj.parent
            net = json.loads(nj.read_text())
            lat = en = 0.0
            for x in net["layers"]:
                r = _timeloop(d / "arch.yaml", d / x["folder"] / "problem.yaml", d / x["folder"] / "mapping.yaml",
                              d / "ERT.yaml", d / "ART.yaml", Path(tmp) / f"{n_layers}")
                n_layers += 1
                if r is None or r[0] != x["cycles"]:
                    bad += 1
                    print(f"MISMATCH {d / x['folder']}: timeloop {r}, looplab {x['cycles']} {x['energy_pJ']}")
                    continue
                lat, en = lat + x["count"] * r[0], en + x["count"] * r[1]
            rel = abs(lat * en / net["edp"] - 1)
            worst = max(worst, rel)
            print(f"{d.relative_to(root)}: timeloop-model EDP {lat * en:.6g}, network.json {net['edp']:.6g} "
                  f"(rel. diff {rel:.1e})", flush=True)
    print(f"{len(nets)} designs, {n_layers} layer mappings through timeloop-model: {bad} invalid or with other "
          f"cycles; largest network-EDP difference {worst:.1e} (stats.txt prints energies rounded)")


def mapper(args: argparse.Namespace) -> None:
    from arch_gen import GemminiConfig, write_arch
    from looplab.timeloop.accelergy import ensure_ert
    from looplab.timeloop.mapper import map_layer as tl_map
    from looplab.workloads import load_workload, write_problem_yaml
    from mappers.search.fixed import SETTINGS
    from mappers.search.fixed import map_layer as ll_map

    out = Path(args.out)
    arch = write_arch(GemminiConfig(16, 128, 32), out / "arch.yaml")
    ert, art = ensure_ert(arch)
    shutil.copyfile(ert, out / "ERT.yaml")
    shutil.copyfile(art, out / "ART.yaml")
    layers = load_workload(args.workload)
    if args.layers:
        layers = [layers[int(i)] for i in args.layers.split(",")]
    print(f"fixed hardware Gemmini 16x16, 128 KiB scratchpad, 32 KiB accumulator; {len(layers)} {args.workload} "
          f"layers; same ERT (Accelergy) for both; {args.threads} threads each; load average "
          f"{os.getloadavg()[0]:.1f}\nlooplab: {SETTINGS}\ntimeloop-mapper: looplab.timeloop.mapper defaults "
          f"(random_pruned, victory_condition 500, timeout 5000, max_permutations_per_if_visit 16), DOSA's Gemmini "
          f"mapspace constraints\n", flush=True)
    print(f"{'layer':34s} {'looplab EDP':>12s} {'wall s':>7s} {'timeloop-mapper EDP':>20s} {'wall s':>7s} "
          f"{'EDP ratio':>9s} {'checked':>8s}")
    rows = []
    for i, lay in enumerate(layers):
        d = out / f"{i:02d}"
        prob = write_problem_yaml(lay, d / "problem.yaml")
        a = ll_map(arch, prob, d / "looplab", seed=0, threads=args.threads, ert=out / "ERT.yaml", progress=False)
        b = tl_map(arch, prob, d / "timeloop-mapper", threads=args.threads, ert=out / "ERT.yaml", progress=False)
        chk = _timeloop(arch, prob, d / "looplab" / "mapping.yaml", out / "ERT.yaml", out / "ART.yaml", d / "check")
        ok = chk is not None and chk[0] == a["cycles"] and abs(chk[1] / a["energy_pJ"] - 1) < 2e-4
        ratio = b["edp"] / a["edp"] if b.get("edp") else float("inf")
        rows.append({"layer": lay.name, "looplab": a, "timeloop_mapper": b, "checked": ok})
        print(f"{lay.name:34s} {a['edp']:12.4g} {a['wall_s']:7.1f} {b.get('edp') or float('nan'):20.4g} "
              f"{b['wall_s']:7.1f} {ratio:9.2f} {'yes' if ok else 'NO':>8s}", flush=True)
    _mapper_summary(out, rows)
    (out / "mapper.json").write_text(json.dumps(rows, indent=1, default=str))


def _exact_edp(arch: Path, problem: Path, mapping: Path, ert: Path) -> float | None:
    """EDP of a mapping file by the exact analytical model (so both mappers' results come from one evaluator)."""
    from looplab.analytical import evaluate_files

    if not mapping.is_file():
        return None
    r = evaluate_files(arch, problem, mapping, ert)
    return float(r.cycles) * float(r.energy_pJ) if r.valid else None


def _mapper_summary(out: Path, rows: list[dict]) -> None:
    """Both mappers' best mappings scored by the same exact model; counts, ratios, wall times."""
    ert = out / "ERT.yaml"
    for i, r in enumerate(rows):
        d = out / f"{i:02d}"
        r["looplab_edp_exact"] = _exact_edp(out / "arch.yaml", d / "problem.yaml", d / "looplab" / "mapping.yaml", ert)
        r["timeloop_mapper_edp_exact"] = _exact_edp(out / "arch.yaml", d / "problem.yaml",
                                                    d / "timeloop-mapper" / "mapping.yaml", ert)
    pairs = [(r["looplab_edp_exact"], r["timeloop_mapper_edp_exact"]) for r in rows]
    no_worse = sum(b is None or a <= b for a, b in pairs)
    equal = sum(b is not None and a == b for a, b in pairs)
    faster = sum(r["looplab"]["wall_s"] < r["timeloop_mapper"]["wall_s"] for r in rows)
    ratios = [b / a for a, b in pairs if b]
    gm = _gmean(ratios) if ratios else float("nan")
    print(f"\nboth best mappings scored by the same exact model (analytical, equal to timeloop-model; the mapper's "
          f"own stats.txt energies are printed rounded): looplab's EDP no worse on {no_worse}/{len(rows)} layers "
          f"(equal on {equal}); timeloop-mapper EDP / looplab's: geometric mean {gm:.2f}x, min {min(ratios):.3f}x, "
          f"max {max(ratios):.2f}x; less wall time on {faster}/{len(rows)}; total wall looplab "
          f"{sum(r['looplab']['wall_s'] for r in rows):.0f} s, timeloop-mapper "
          f"{sum(r['timeloop_mapper']['wall_s'] for r in rows):.0f} s; looplab's mappings equal in timeloop-model: "
          f"{sum(r['checked'] for r in rows)}/{len(rows)}")


def mapper_summary(args: argparse.Namespace) -> None:
    out = Path(args.dir)
    _mapper_summary(out, json.loads((out / "mapper.json").read_text()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cosearch")
    c.add_argument("--networks", default="resnet50,bert,unet,retinanet")
    c.add_argument("--seeds", default="0,1,2")
    c.add_argument("--budget", type=int, default=10_000)
    c.add_argument("--jobs", type=int, default=2)
    c.add_argument("--energy", default="estimator", choices=("estimator", "accelergy", "auto"))
    c.add_argument("--out", default="bench_search_out")
    c.set_defaults(func=cosearch)
    v = sub.add_parser("validate")
    v.add_argument("dir")
    v.add_argument("--limit", type=int, default=None)
    v.set_defaults(func=validate)
    m = sub.add_parser("mapper")
    m.add_argument("--workload", default="resnet50")
    m.add_argument("--layers", default=None, help="comma-separated layer indices (default: all)")
    m.add_argument("--threads", type=int, default=2)
    m.add_argument("--out", default="bench_mapper_out")
    m.set_defaults(func=mapper)
    ms = sub.add_parser("mapper-summary", help="the summary of a finished mapper run")
    ms.add_argument("dir")
    ms.set_defaults(func=mapper_summary)
    args = p.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
