"""Write the rows of a dataset as a CASES.jsonl (arch, problem and mapping files, as ``evaluate --batch`` reads),
with the rows' labels beside it -- to check ``looplab predict`` on CASES against known labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from looplab.sweep.rows import LAYER_KEYS, mapping_yaml_for_rows
from surrogates.data import part_files


def dataset_to_cases(dataset: str | Path, out: str | Path, limit: int | None = None,
                     seed: int = 0) -> dict[str, Any]:
    """``out/CASES.jsonl`` + ``out/labels.jsonl`` (``{"id", "arch", "layer", "valid", "cycles", "energy_pJ"}``)
    for (at most ``limit``, drawn by ``seed``) rows of ``dataset``; files under ``out/files``."""
    from arch_gen import config_from_params, render_arch
    from looplab.workloads import Layer

    out = Path(out)
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    tables = [pq.read_table(f) for fs in part_files(dataset).values() for f in fs]
    rows = []
    for t in tables:
        if "mapping_yaml" not in t.schema.names or t.column("mapping_yaml").null_count == t.num_rows:
            t = t.set_column(t.schema.get_field_index("mapping_yaml"), "mapping_yaml", mapping_yaml_for_rows(t))
        rows += t.drop_columns([c for c in t.schema.names if c == "mapping_vec"]).to_pylist()
    if limit is not None and len(rows) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
        rows = [rows[i] for i in keep]
    written: set[str] = set()
    n = 0
    with (out / "CASES.jsonl").open("w") as cf, (out / "labels.jsonl").open("w") as lf:
        for r in rows:
            params = {k[5:]: v for k, v in r.items() if k.startswith("arch_") and k != "arch_origin"
                      and v is not None}
            arch_file = files / f"{r['arch']}.arch.yaml"
            if arch_file.name not in written:
                clean = {k: (int(v) if float(v).is_integer() else v) for k, v in params.items()}
                arch_file.write_text(render_arch(config_from_params(r["family"], clean)))
                written.add(arch_file.name)
            prob_file = files / f"{r['layer']}.problem.yaml"
            if prob_file.name not in written:
                prob_file.write_text(Layer(**{k: r[k] for k in LAYER_KEYS}, name=r["layer"]).to_problem_yaml())
                written.add(prob_file.name)
            cid = f"{r['task_id']}:{r['point']}"
            map_file = files / f"{cid.replace(':', '_')}.map.yaml"
            map_file.write_text(r["mapping_yaml"])
            cf.write(json.dumps({"id": cid, "arch": f"files/{arch_file.name}", "problem": f"files/{prob_file.name}",
                                 "mapping": f"files/{map_file.name}", "ert": None}) + "\n")
            lf.write(json.dumps({"id": cid, "arch": r["arch"], "layer": r["layer"], "valid": r["valid"],
                                 "cycles": r["cycles"], "energy_pJ": r["energy_pJ"]}) + "\n")
            n += 1
    return {"cases": str(out / "CASES.jsonl"), "labels": str(out / "labels.jsonl"), "n": n}


__all__ = ["dataset_to_cases"]
