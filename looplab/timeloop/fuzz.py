"""Differential fuzzing: the real Timeloop against looplab's analytical model on random points.

A point = a random Simba or Gemmini configuration (``arch_gen.generators.sample_configs``, the samplers' whole
ranges) x a layer drawn from every shipped workload catalog in turn x a sampled valid or invalid mapping
(``mappers.sampler.sample_mappings``). Accelergy runs once per configuration (``ensure_ert``); the analytical model
is evaluated with *that* ERT, and timeloop-model (or pytimeloop) with that ERT/ART, through
``looplab evaluate --batch`` (resumable, worker processes). Every verdict, failing level, failure kind, cycle
count and energy must agree. Energy agrees when the difference is within what stats.txt's printing explains:
Timeloop's energy here is the sum of per-level figures printed to 0.01 pJ (:func:`energy_tolerance`).

    report = run_fuzz(Path("out/fuzz"), points=10_000, seed=0, jobs=2)
    report.disagreements   # [] when the model agrees everywhere

``bench/fuzz_timeloop.py`` is the command line; ``tests/test_live_fuzz.py`` runs a small instance.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FAMILIES = ("simba", "gemmini")
RESULTS_FILE = "results.jsonl"


@dataclass
class FuzzReport:
    points: int = 0
    archs: int = 0
    archs_skipped: dict[str, str] = field(default_factory=dict)  # name -> why (Accelergy failed ...)
    layers: int = 0
    catalogs: list[str] = field(default_factory=list)
    valid: int = 0
    invalid: int = 0
    failed: int = 0  # evaluations that did not run (timeout, crash ...)
    agree: int = 0
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    max_energy_abs_diff_pJ: float = 0.0
    max_energy_rel_diff: float = 0.0
    wall_s: float = 0.0

    def lines(self) -> list[str]:
        out = [f"points {self.points}: {self.valid} valid, {self.invalid} invalid, {self.failed} not evaluated "
               f"(timeout/crash); {self.archs} configurations ({len(self.archs_skipped)} skipped: Accelergy "
               f"failed), {self.layers} distinct layers from {len(self.catalogs)} catalogs "
               f"({', '.join(self.catalogs)})",
               f"agree {self.agree} / {self.points - self.failed}; disagreements {len(self.disagreements)}",
               f"energy: max |analytical - timeloop| {self.max_energy_abs_diff_pJ:.3f} pJ, max relative "
               f"{self.max_energy_rel_diff:.2e}",
               f"wall {self.wall_s:.0f} s"]
        for name, why in sorted(self.archs_skipped.items()):
            out.append(f"skipped {name}: {why}")
        for d in self.disagreements[:20]:
            out.append("DISAGREE " + json.dumps(d))
        return out


def energy_tolerance(n_storage_levels: int) -> float:
    """Largest |sum of printed per-level energies - exact sum| (pJ): every storage level prints its leakage and,
    per data space, its access, temporal-reduction and address-generation energy, each rounded to 0.01 pJ;
    the arithmetic level prints one figure."""
    printed = 1 + n_storage_levels * (1 + 3 * 3)
    return 0.005 * printed + 1e-6


def catalog_layers() -> list[tuple[str, list[Any]]]:
    """(catalog name, distinct layers) for every shipped workload catalog."""
    from looplab.workloads.catalog import list_workloads, load_workload

    out = []
    for name in list_workloads():
        seen, layers = set(), []
        for layer in load_workload(name):
            if layer.shape_key() not in seen:
                seen.add(layer.shape_key())
                layers.append(layer)
        out.append((name, layers))
    return out


def _tables(arch_yaml: str, cache: str) -> tuple[str, str | None, str | None]:
    """(arch, ERT, ART) or (arch, None, reason) -- in a worker process (Accelergy holds a global lock)."""
    from looplab.timeloop.accelergy import AccelergyError, ensure_ert

    try:
        ert, art = ensure_ert(Path(arch_yaml), Path(cache))
    except AccelergyError as exc:
        return arch_yaml, None, str(exc).splitlines()[0][:300]
    return arch_yaml, str(ert), str(art)


def _echo(progress: bool) -> Callable[[str], None]:
    return (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)


def build_cases(out: Path, points: int, seed: int, per_arch: int = 240, per_layer: int = 8, jobs: int = 1,
                progress: bool = True) -> dict[str, Any]:
    """Write the fuzz points under ``out``: configurations, their Accelergy tables, problems, mappings,
    ``cases.jsonl`` (for ``evaluate --batch``) and ``expected.jsonl`` (the analytical model's answers).
    Deterministic in (points, seed, per_arch, per_layer); returns the plan's metadata."""
    from arch_gen.generators import sample_configs
    from arch_gen.render import write_arch
    from looplab.analytical import evaluate_batch
    from looplab.archspec import parse_arch
    from looplab.energy.ert import load_ert
    from mappers.canonical import mapping_to_yaml
    from mappers.sampler import sample_mappings

    echo = _echo(progress)
    out.mkdir(parents=True, exist_ok=True)
    n_archs = max(2, math.ceil(points / per_arch))
    configs = []
    for i, fam in enumerate(FAMILIES):
        configs += sample_configs(fam, (n_archs + 1 - i) // 2, seed)
    arch_files = [write_arch(c, out / "archs" / c.name / "arch.yaml") for c in configs]
    echo(f"fuzz: Accelergy for {len(configs)} configurations ({jobs} processes; cached under {out / 'accelergy'})")
    tables: dict[str, tuple[str | None, str | None]] = {}
    skipped: dict[str, str] = {}
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for k, (arch, ert, art) in enumerate(pool.map(_tables, map(str, arch_files),
                                                       [str(out / "accelergy")] * len(arch_files)), 1):
            name = Path(arch).parent.name
            if ert is None:
                skipped[name] = art or "Accelergy failed"
            else:
                tables[arch] = (ert, art)
            echo(f"fuzz: Accelergy {k}/{len(arch_files)} ({time.monotonic() - t0:.0f} s)")
    catalogs = catalog_layers()
    rng = np.random.default_rng(seed)
    cases, expected = [], []
    used_layers: set[tuple] = set()
    per_arch_left = points
    layer_turn = 0
    live = [(c, f) for c, f in zip(configs, arch_files, strict=True) if str(f) in tables]
    for ai, (cfg, arch_file) in enumerate(live):
        quota = math.ceil(per_arch_left / (len(live) - ai))
        per_arch_left -= quota
        spec = parse_arch(arch_file)
        ert_path, art_path = tables[str(arch_file)]
        ert = load_ert(ert_path)
        made = 0
        while made < quota:
            cat_name, layers = catalogs[layer_turn % len(catalogs)]
            layer_turn += 1
            layer = layers[int(rng.integers(len(layers)))]
            n = min(per_layer, quota - made)
            n_valid = (n + int(rng.integers(2))) // 2
            batch, _ = sample_mappings(spec, layer.dims, n_valid, n - n_valid, int(rng.integers(2**31)),
                                       cfg.family, strict=False, max_draws=20_000)
            if len(batch) == 0:
                continue
            res = evaluate_batch(spec, ert, layer.dims, batch)
            used_layers.add(layer.shape_key())
            prob = out / "problems" / f"{cat_name}.{layer.name}.yaml"
            if not prob.exists():
                prob.parent.mkdir(parents=True, exist_ok=True)
                prob.write_text(layer.to_problem_yaml())
            for j, m in enumerate(batch.to_mappings()):
                pid = f"{cfg.name}|{cat_name}.{layer.name}|{made + j}"
                mp = out / "mappings" / cfg.name / f"{made + j:04d}.yaml"
                mp.parent.mkdir(parents=True, exist_ok=True)
                mp.write_text(mapping_to_yaml(m, spec))
                cases.append({"id": pid, "arch": str(arch_file), "problem": str(prob), "mapping": str(mp),
                              "ert": ert_path, "art": art_path})
                ok = bool(res.valid[j])
                expected.append({"id": pid, "family": cfg.family, "catalog": cat_name, "valid": ok,
                                 "failed_level": None if ok else str(res.failed_level[j]),
                                 "kind": None if ok else str(res.kind[j]),
                                 "cycles": int(res.cycles[j]) if ok else None,
                                 "energy_pJ": float(res.energy_pJ[j]) if ok else None,
                                 "energy_tol_pJ": energy_tolerance(len(spec.storage))})
            made += len(batch)
        echo(f"fuzz: points for {ai + 1}/{len(live)} configurations ({len(cases)} so far)")
    (out / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (out / "expected.jsonl").write_text("".join(json.dumps(e) + "\n" for e in expected))
    meta = {"points": len(cases), "seed": seed, "per_arch": per_arch, "per_layer": per_layer,
            "archs": len(configs), "archs_skipped": skipped, "layers": len(used_layers),
            "catalogs": [c for c, _ in catalogs], "requested": points}
    (out / "plan.json").write_text(json.dumps(meta, indent=1))
    return meta


def compare(expected: dict[str, Any], row: dict[str, Any]) -> dict[str, Any] | None:
    """None when the analytical answer ``expected`` agrees with the simulator's RESULTS ``row``."""
    diffs = {}
    if row.get("valid") is not expected["valid"]:
        diffs["valid"] = (expected["valid"], row.get("valid"))
    elif expected["valid"]:
        if row["cycles"] != expected["cycles"]:
            diffs["cycles"] = (expected["cycles"], row["cycles"])
        if abs(row["energy_pJ"] - expected["energy_pJ"]) > expected["energy_tol_pJ"]:
            diffs["energy_pJ"] = (expected["energy_pJ"], row["energy_pJ"])
    else:
        if row.get("failed_level") != expected["failed_level"]:
            diffs["failed_level"] = (expected["failed_level"], row.get("failed_level"))
        if row.get("error_kind") != expected["kind"]:
            diffs["kind"] = (expected["kind"], row.get("error_kind"))
    if not diffs:
        return None
    return {"id": expected["id"], **{k: {"analytical": a, "simulator": b} for k, (a, b) in diffs.items()},
            "reason": row.get("reason")}


def run_fuzz(out: Path, points: int, seed: int = 0, jobs: int = 1, backend: str = "timeloop",
             timeout_s: float = 300, progress: bool = True, per_arch: int = 240,
             per_layer: int = 8) -> FuzzReport:
    """Build (or reuse, when ``out`` holds the same plan) the points, evaluate them with ``backend``
    (resumable: an interrupted run continues), compare with the analytical model; writes
    ``disagreements.jsonl`` and ``report.json`` into ``out``."""
    from looplab.timeloop.batch import run_batch

    start = time.monotonic()
    out = Path(out)
    plan_file = out / "plan.json"
    meta = json.loads(plan_file.read_text()) if plan_file.is_file() else None
    if meta is None or (meta["requested"], meta["seed"], meta["per_arch"], meta["per_layer"]) != (
            points, seed, per_arch, per_layer) or not (out / "expected.jsonl").is_file():
        (out / RESULTS_FILE).unlink(missing_ok=True)
        meta = build_cases(out, points, seed, per_arch, per_layer, jobs, progress)
    _echo(progress)(f"fuzz: {meta['points']} points with --backend {backend}, {jobs} processes")
    run_batch(out / "cases.jsonl", out / RESULTS_FILE, backend=backend, jobs=jobs, timeout_s=timeout_s,
              progress=progress)
    rows = {r["id"]: r for r in map(json.loads, (out / RESULTS_FILE).read_text().splitlines())}
    rep = FuzzReport(archs=meta["archs"], archs_skipped=meta["archs_skipped"], layers=meta["layers"],
                     catalogs=meta["catalogs"])
    for line in (out / "expected.jsonl").read_text().splitlines():
        exp = json.loads(line)
        row = rows[exp["id"]]
        rep.points += 1
        if row.get("valid") is None:
            rep.failed += 1
            rep.disagreements.append({"id": exp["id"], "not_evaluated": row.get("error_kind"),
                                      "reason": row.get("reason")})
            continue
        rep.valid += row["valid"] is True
        rep.invalid += row["valid"] is False
        d = compare(exp, row)
        if d is None:
            rep.agree += 1
        else:
            rep.disagreements.append(d)
        if row["valid"] and exp["valid"]:
            diff = abs(row["energy_pJ"] - exp["energy_pJ"])
            rep.max_energy_abs_diff_pJ = max(rep.max_energy_abs_diff_pJ, diff)
            rep.max_energy_rel_diff = max(rep.max_energy_rel_diff, diff / row["energy_pJ"])
    rep.wall_s = time.monotonic() - start
    (out / "disagreements.jsonl").write_text("".join(json.dumps(d) + "\n" for d in rep.disagreements))
    (out / "report.json").write_text(json.dumps(asdict(rep), indent=1))
    return rep
