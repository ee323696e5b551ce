"""Evaluations per second of the three evaluators on the same cases, side by side, live:

* timeloop-model (CLI, one process per evaluation, ERT/ART cached -- Accelergy not run),
* pytimeloop in-process (one worker process per architecture; first evaluation per architecture includes the
  worker's start-up, reported separately),
* the analytical model, one mapping per call (``evaluate_files``) and batched per (architecture, layer)
  (``evaluate_batch``, each case repeated ``--repeat`` times in the batch, as a sweep batches).

The cases are a seeded stratified sample of the recorded reference set (every architecture; valid, capacity and
fan-out failures). Each evaluator's answers are checked against the records (validity, cycles, energy). Where a
simulator is absent its line shows the recorded timing of the same build instead (``crosscheck.json``:
``cli_wall_s`` / ``inproc_wall_s``), labelled RECORDED.

    .venv/bin/python bench/bench_backends.py [--per-arch 4] [--seed 0] [--repeat 500]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from looplab.timeloop.discover import activate, found  # noqa: E402

REF = ROOT / "tests" / "data" / "reference"


def sample(per_arch: int, seed: int) -> list[dict]:
    with gzip.open(REF / "cases.jsonl.gz", "rt") as fh:
        cases = [json.loads(line) for line in fh]
    rng = np.random.default_rng(seed)
    out = []
    for arch in sorted({c["arch"] for c in cases}):
        mine = [c for c in cases if c["arch"] == arch]
        for i in rng.choice(len(mine), size=min(per_arch, len(mine)), replace=False):
            out.append(mine[int(i)])
    return out


def files(case: dict, folder: Path) -> tuple[Path, Path, Path, Path, Path]:
    a = REF / "archs" / case["arch"]
    mp = folder / (case["case_id"].replace("|", "_") + ".yaml")
    mp.write_text(case["mapping_yaml"])
    return a / "arch.yaml", REF / "layers" / f"{case['layer']}.yaml", mp, a / "ERT.yaml", a / "ART.yaml"


def agrees(case: dict, valid, cycles, energy) -> bool:
    if valid is not case["valid"]:
        return False
    if not case["valid"]:
        return True
    return cycles == case["stats"]["cycles"] and abs(energy - case["stats"]["energy_pJ_levels_sum"]) <= 0.5


def timed_backend(name: str, cases: list[dict], folder: Path) -> tuple[list[float], int]:
    from looplab.backends import get_backend

    be = get_backend(name)
    walls, ok = [], 0
    for c in cases:
        arch, prob, mp, ert, art = files(c, folder)
        t = time.perf_counter()
        r = be.evaluate(arch, prob, mp, ert, art, timeout_s=300)
        walls.append(time.perf_counter() - t)
        ok += agrees(c, r.valid, r.cycles, r.energy_pJ)
    return walls, ok


def analytical(cases: list[dict], folder: Path, repeat: int) -> tuple[float, int, float, int]:
    """(single-call wall, agreeing, batched wall, agreeing) over the cases; the batched pass evaluates each
    (arch, layer) group's mappings ``repeat`` times in one batch (a sweep's batch size), after a warm-up call."""
    from looplab.analytical import evaluate_batch, evaluate_files
    from looplab.archspec import parse_arch
    from looplab.energy.ert import load_ert
    from mappers.mapping import Mapping, MappingBatch

    paths = [files(c, folder) for c in cases]
    t = time.perf_counter()
    ok1 = 0
    for c, (arch, prob, mp, ert, _) in zip(cases, paths, strict=True):
        r = evaluate_files(arch, prob, mp, ert)
        ok1 += agrees(c, r.valid, r.cycles, r.energy_pJ)
    single = time.perf_counter() - t
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(cases):
        groups.setdefault((c["arch"], c["layer"]), []).append(i)
    prepared = []
    for (arch_name, _), idx in groups.items():
        arch = parse_arch(REF / "archs" / arch_name / "arch.yaml")
        ert = load_ert(REF / "archs" / arch_name / "ERT.yaml")
        batch = MappingBatch.from_mappings([Mapping.from_record(cases[i]["mapping"]) for i in idx] * repeat,
                                           arch.storage_names)
        prepared.append((arch, ert, cases[idx[0]]["layer_dims"], batch, idx))
    evaluate_batch(*prepared[0][:4])  # compile the kernel (numba) outside the timing
    t = time.perf_counter()
    results = [evaluate_batch(arch, ert, dims, batch) for arch, ert, dims, batch, _ in prepared]
    wall = time.perf_counter() - t
    ok2 = 0
    for (_, _, _, _, idx), res in zip(prepared, results, strict=True):
        for j, i in enumerate(idx):
            ok2 += agrees(cases[i], bool(res.valid[j]), int(res.cycles[j]), float(res.energy_pJ[j]))
    return single, ok1, wall, ok2


def recorded(field: str) -> list[float]:
    data = json.loads((REF / "crosscheck.json").read_text())
    return [d[field] for d in data if d.get(field) is not None]


def line(label: str, n: int, wall: float, ok: int | None, note: str = "") -> str:
    rate = n / wall if wall > 0 else float("inf")
    agree = f"{ok}/{n} agree with the records" if ok is not None else "-"
    return f"{label:<44} {rate:>10.1f} eval/s  ({wall / n * 1e3:8.2f} ms/eval, {agree}){note}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-arch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=500, help="batch size factor for the batched analytical pass")
    a = ap.parse_args(argv)
    activate()
    where = found()
    cases = sample(a.per_arch, a.seed)
    n = len(cases)
    print(f"{n} reference cases ({len({c['arch'] for c in cases})} architectures, "
          f"{sum(c['valid'] for c in cases)} valid), one process, measured live unless marked RECORDED")
    with tempfile.TemporaryDirectory(prefix="looplab-bench-") as tmp:
        folder = Path(tmp)
        if where["timeloop-model"]:
            walls, ok = timed_backend("timeloop", cases, folder)
            print(line("timeloop-model CLI (ERT/ART cached)", n, sum(walls), ok))
        else:
            rec = recorded("cli_wall_s")
            print(line("timeloop-model CLI", len(rec), sum(rec), None,
                       f"  RECORDED (crosscheck.json, {len(rec)} runs): timeloop-model not found"))
        if where["pytimeloop"]:
            from looplab.timeloop import pytimeloop_backend

            walls, ok = timed_backend("pytimeloop", cases, folder)
            first = {}
            for c, w in zip(cases, walls, strict=True):
                first.setdefault(c["arch"], w)
            steady = sum(walls) - sum(first.values())
            print(line("pytimeloop in-process (incl. worker start-up)", n, sum(walls), ok))
            if n > len(first):
                print(line("pytimeloop in-process (warm workers)", n - len(first), steady, None,
                           f"  start-up {statistics.median(first.values()):.2f} s per architecture (median)"))
            pytimeloop_backend.close_all()
        else:
            rec = recorded("inproc_wall_s")
            print(line("pytimeloop in-process", len(rec), sum(rec), None,
                       f"  RECORDED (crosscheck.json, {len(rec)} runs): pytimeloop not importable"))
        single, ok1, batched, ok2 = analytical(cases, folder, a.repeat)
        print(line("analytical, one mapping per call", n, single, ok1))
        print(line(f"analytical, batched (each case x{a.repeat})", n * a.repeat, batched, None,
                   f"  {ok2}/{n} agree with the records"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
