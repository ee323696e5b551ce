"""Agreement of the analytical model with recorded timeloop-model results (``bench/interop_agreement.py``)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from looplab.errors import LooplabError


def check_folder(folder: str | Path) -> list[dict[str, Any]]:
    """Every row of ``folder/cases.jsonl`` with the analytical model's verdict, cycles and energy added.

    Rows of one (architecture, problem, ERT) are evaluated in one batch."""
    from looplab.analytical import evaluate_batch
    from looplab.analytical.api import read_problem_spec_file
    from looplab.archspec import parse_arch
    from looplab.energy.ert import load_ert
    from mappers.mapping import Mapping, MappingBatch

    folder = Path(folder)
    rows = [json.loads(line) for line in (folder / "cases.jsonl").read_text().splitlines() if line.strip()]
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r["arch"], r["problem"], r["ert"])].append(i)
    for (a, p, e), idx in groups.items():
        arch = parse_arch(folder / a)
        spec = read_problem_spec_file(folder / p)
        ert = load_ert(folder / e)
        maps = [Mapping.from_yaml(rows[i]["mapping"], arch.storage_names, source=f"{a} row {i}",
                                  dim_names=spec.dim_names, tensor_names=spec.tensor_names) for i in idx]
        res = evaluate_batch(arch, ert, spec.dims, MappingBatch.from_mappings(maps, arch.storage_names))
        for j, i in enumerate(idx):
            rows[i]["model_valid"] = bool(res.valid[j])
            rows[i]["model_cycles"] = int(res.cycles[j]) if res.valid[j] else None
            rows[i]["model_energy_pJ"] = float(res.energy_pJ[j]) if res.valid[j] else None
            rows[i]["model_failed_level"] = None if res.valid[j] else res.failed_level[j]
    return rows


def agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Validity agreement, failing-level agreement, exact cycles and energy error over ``rows``."""
    if not rows:
        raise LooplabError("no rows to compare")
    same = [r["valid"] == r["model_valid"] for r in rows]
    both = [r for r in rows if r["valid"] and r["model_valid"]]
    inval = [r for r in rows if not r["valid"] and not r["model_valid"]]
    lvl = [r["model_failed_level"] is not None and f"level {r['model_failed_level']}:" in r.get("error", "")
           for r in inval]
    err = np.array([abs(r["model_energy_pJ"] - r["energy_pJ"]) / r["energy_pJ"] for r in both]) if both else None
    # the recorded energy is stats.txt's summary line, "Energy: X uJ" with two decimals
    rounding = [abs(r["model_energy_pJ"] - r["energy_pJ"]) <= 5000.0 * (1 + 1e-9) for r in both]
    return {"rows": len(rows), "valid_rows": sum(r["valid"] for r in rows),
            "validity_agreement": float(np.mean(same)),
            "failed_level_agreement": float(np.mean(lvl)) if lvl else None,
            "cycles_exact": float(np.mean([r["model_cycles"] == r["cycles"] for r in both])) if both else None,
            "energy_max_rel_error": float(err.max()) if err is not None else None,
            "energy_within_0.1pct": float(np.mean(err <= 1e-3)) if err is not None else None,
            "energy_within_summary_rounding": float(np.mean(rounding)) if rounding else None,
            "designs": sorted({r["design"] for r in rows})}
