"""``looplab map ARCH PROBLEM --backend looplab``: the best mapping of one layer on fixed hardware.

Several independent runs of :func:`mappers.search.local.local_search` (exact analytical model, Timeloop's validity
rules, the family's bypass and spatial rules from :func:`mappers.families.rules_for`), the best kept. Writes
``OUT/mapping.yaml`` (Timeloop's format) and ``OUT/result.json``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from looplab.archspec import parse_arch
from looplab.errors import LooplabError
from looplab.progress import Progress
from looplab.workloads import Layer
from mappers.search.local import LayerProblem, local_search

SETTINGS = {"restarts": 3, "population": 16, "children": 64, "stop_after": 40, "max_evals_per_run": 200_000}


def load_energy_table(arch_yaml: Path, ert: str | Path | None) -> tuple[Any, str]:
    """The ERT to use and where it came from: the given file; else Accelergy (looplab's cache) when it is on PATH;
    else looplab's estimator."""
    from looplab.energy.ert import load_ert

    if ert is not None:
        if not Path(ert).is_file():
            raise LooplabError("ERT file not found", str(ert))
        return load_ert(Path(ert)), str(ert)
    if shutil.which("accelergy"):
        from looplab.timeloop.accelergy import ensure_ert

        ert_path, _ = ensure_ert(Path(arch_yaml))
        return load_ert(ert_path), "accelergy"
    from looplab.energy.estimator import estimate_ert

    return estimate_ert(parse_arch(Path(arch_yaml))), "estimator"


def map_layer(arch: Path, problem: Path, out_dir: Path, *, metric: str = "edp", seed: int = 0,
              timeout_s: float | None = None, threads: int | None = None, mapper_config: str | None = None,
              ert: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Search, write ``out_dir/mapping.yaml`` and ``out_dir/result.json``; return the result dict."""
    from mappers.canonical import mapping_to_yaml

    if mapper_config is not None:
        raise LooplabError("--mapper-config applies to the timeloop-mapper backend only", "map --backend looplab")
    t0 = time.monotonic()
    spec = parse_arch(Path(arch))
    layer = Layer.from_problem_yaml(Path(problem))
    table, source = load_energy_table(Path(arch), ert)
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    prob = LayerProblem(spec, table, layer.dims, metric)
    deadline = t0 + timeout_s if timeout_s else None
    best = None
    # counted per independent run (restart); the line also shows the evaluations and the best score so far
    prog = Progress(total=SETTINGS["restarts"], unit="run", desc="looplab map", enabled=progress)

    def show(evals: int, score: float) -> None:
        prog.postfix(evaluations=prob.evaluations, **{f"best log-{metric}": f"{score:.4f}"})
        prog.update(0)  # a line when one is due, within a run as well

    with prog:
        for r in range(SETTINGS["restarts"]):
            if deadline is not None and time.monotonic() > deadline:
                break
            res = local_search(prob, seed * 1000 + r, pop=SETTINGS["population"], children=SETTINGS["children"],
                               stop_after=SETTINGS["stop_after"], max_evals=SETTINGS["max_evals_per_run"],
                               deadline=deadline, callback=show)
            if best is None or res.score < best.score:
                best = res
            prog.update(1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"backend": "looplab", "metric": metric, "seed": seed, "ert": source,
                              "layer": layer.dims, "settings": SETTINGS}
    if best is None or best.score == float("inf"):
        result.update(valid=False, reason="no valid mapping found", evaluations=prob.evaluations,
                      wall_s=time.monotonic() - t0)
    else:
        cycles, energy, valid, _ = prob.evaluate(best.batch)
        (out_dir / "mapping.yaml").write_text(mapping_to_yaml(best.batch.to_mappings()[0], spec))
        result.update(valid=bool(valid[0]), cycles=int(cycles[0]), energy_pJ=float(energy[0]),
                      edp=float(cycles[0]) * float(energy[0]), evaluations=prob.evaluations,
                      utilization=float(layer.macs / (cycles[0] * spec.compute.instances)),
                      wall_s=time.monotonic() - t0)
    (out_dir / "result.json").write_text(json.dumps(result, indent=1))
    return result
