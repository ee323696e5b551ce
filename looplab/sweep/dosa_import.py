"""``looplab import-dosa DOSA.csv --out DATASET``: DOSA's published dataset CSV as a looplab sweep dataset.

Rows keep looplab's sweep schema (Gemmini family: accelerator parameters, layer dims, structured mapping, flat
vector, mapping YAML) plus DOSA's ``target.*`` columns verbatim as ``dosa_<name>`` (e.g. ``dosa_cycle``,
``dosa_energy``, ``dosa_edp``, ``dosa_area``, in DOSA's own units). ``cycles`` is Timeloop's count: DOSA's
``target.cycle``, or, in DOSA's FireSim training set, where ``target.cycle`` is the FireSim measurement
(``= target.gemmini_cycle``), ``target.edp / target.energy * 1e6`` (:func:`mappers.dosa.dosa_timeloop_cycles`).
``energy_pJ`` is DOSA's ``target.energy`` (uJ, as ``target.edp = energy x cycles / 1e6`` shows) x 1e6, as
``looplab correlate DOSA.csv`` reads it. The rows' bandwidth columns are not
part of the sweep schema: correlating the imported dataset uses the template's bandwidths (correlate the CSV
itself to honour them). ``backend`` is ``dosa-csv`` and ``backend_version`` the file name. Streaming: memory is
bounded by ``rows_per_part``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from looplab.errors import LooplabError
from looplab.sweep.rows import build_table, schema_for
from looplab.sweep.spec import AccelRef, LayerRef, Unit
from looplab.sweep.store import DatasetStore, atomic_write_json

PARTITION = "dosa-import"


def _gemmini_arch(params: dict[str, Any], cache: dict) -> Any:
    key = tuple(sorted(params.items()))
    if key not in cache:
        from arch_gen import config_from_params, render_arch
        from looplab.archspec import parse_arch

        cache[key] = parse_arch(render_arch(config_from_params("gemmini", dict(params))))
    return cache[key]


def _arch_name(p: dict[str, Any]) -> str:
    return f"gemmini_pe{p['pe_dim']}_sp{p['sp_kib']}_acc{p['acc_kib']}"


def _layer_name(d: dict[str, int]) -> str:
    return "_".join(f"{k}{d[k]}" for k in ("R", "S", "P", "Q", "C", "K", "N")) + \
        f"_s{d['Wstride']}x{d['Hstride']}"


def import_dosa(csv_path: str | Path, out: str | Path, rows_per_part: int = 50_000,
                progress: bool = True) -> dict[str, Any]:
    from mappers.dosa import dosa_timeloop_cycles, iter_dosa_csv
    from mappers.mapping import MappingBatch

    csv_path = Path(csv_path)
    store = DatasetStore(out)
    if store.manifest() is not None or store.part_files():
        raise LooplabError("output dataset already exists; choose a new folder", str(out))
    if rows_per_part < 1:
        raise LooplabError("must be >= 1", "--rows-per-part")
    store.root.mkdir(parents=True, exist_ok=True)
    archs: dict = {}
    buf: list = []
    n_rows = n_parts = 0
    target_keys: list[str] | None = None

    def flush() -> None:
        nonlocal n_parts, buf
        if not buf:
            return
        # One part holds rows of many (arch, layer): build per (arch, layer) run and concatenate.
        tables = []
        base_arch = _gemmini_arch(buf[0].arch_params, archs)
        schema = schema_for(base_arch, ["pe_dim", "sp_kib", "acc_kib"], "gemmini")
        schema = pa.schema(list(schema) + [pa.field(f"dosa_{k}", pa.float64()) for k in target_keys or []])
        i = 0
        while i < len(buf):
            j = i
            while j < len(buf) and buf[j].arch_params == buf[i].arch_params and buf[j].dims == buf[i].dims:
                j += 1
            rows = buf[i:j]
            arch = _gemmini_arch(rows[0].arch_params, archs)
            batch = MappingBatch.from_mappings([r.mapping for r in rows], arch.storage_names)
            accel = AccelRef(_arch_name(rows[0].arch_params), "gemmini", rows[0].arch_params, "dosa")
            unit = Unit(0, accel, 0, LayerRef(_layer_name(rows[0].dims), "dosa", rows[0].dims), 0, len(rows), 0, 0)
            cyc = [dosa_timeloop_cycles(r.targets)[0] if "cycle" in r.targets else None for r in rows]
            energy = [r.targets["energy"] * 1e6 if r.targets.get("energy") is not None else None for r in rows]
            res = {"valid": pa.array([True] * len(rows)),
                   "cycles": pa.array([None if c is None else round(c) for c in cyc], pa.int64()),
                   "energy_pJ": pa.array(energy, pa.float64())}
            for k in target_keys or []:
                res[f"dosa_{k}"] = pa.array([r.targets.get(k) for r in rows], pa.float64())
            t = build_table(f"dosa-{n_parts:05d}", [unit], [len(rows)], arch, schema, batch,
                            np.ones(len(rows), bool), res, "dosa-csv", csv_path.name, point_offset=i)
            for k in target_keys or []:
                t = t.set_column(t.schema.get_field_index(f"dosa_{k}"), f"dosa_{k}", res[f"dosa_{k}"])
            tables.append(t)
            i = j
        store.write_part(PARTITION, f"dosa-{n_parts:05d}", pa.concat_tables(tables))
        n_parts += 1
        buf = []

    from looplab.progress import Progress

    with Progress(total=None, unit="rows", desc="import-dosa", enabled=progress) as bar:
        for row in iter_dosa_csv(csv_path):
            if target_keys is None:
                target_keys = sorted(row.targets)
            buf.append(row)
            n_rows += 1
            bar.update(1)
            if len(buf) >= rows_per_part:
                flush()
        flush()
    if n_rows == 0:
        raise LooplabError("no rows", str(csv_path))
    atomic_write_json(store.manifest_path, {"format": "looplab-sweep/1", "name": f"dosa:{csv_path.name}",
                                            "plan_hash": f"dosa-{csv_path.name}", "n_tasks": n_parts,
                                            "n_points": n_rows, "source": str(csv_path),
                                            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return {"out": str(store.root), "rows": n_rows, "parts": n_parts}
