"""``looplab dataset info|merge|export``: look into, combine and convert sweep datasets (streaming, bounded memory)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from looplab.errors import LooplabError
from looplab.sweep.store import FORMAT, DatasetStore, atomic_write_json, fsync_dir, open_store

EXPORT_FORMATS = ("parquet", "csv", "jsonl")
#: output suffix -> format when --format is not given (any other suffix is an error)
EXPORT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}


def info(path: str | Path) -> dict[str, Any]:
    """Counts of a dataset: rows, parts, tasks planned/done, valid share, accelerators, layers, backends, failures."""
    st = open_store(path)
    man = st.manifest() or {}
    files = st.part_files()
    rows = 0
    valid = Counter()
    archs: set[str] = set()
    layers: set[str] = set()
    backends: Counter = Counter()
    outcomes: Counter = Counter()
    for f in files:
        pf = pq.ParquetFile(f)
        rows += pf.metadata.num_rows
        t = pf.read(columns=["arch", "layer", "backend", "backend_version", "valid", "failed_level", "error_kind"])
        archs.update(pc.unique(t["arch"]).to_pylist())
        layers.update(pc.unique(t["layer"]).to_pylist())
        for (b, v), n in Counter(zip(t["backend"].to_pylist(), t["backend_version"].to_pylist(),
                                     strict=True)).items():
            backends[f"{b} {v}"] += n
        vc = t["valid"].to_pylist()
        valid.update(vc)
        for v, lv, k in zip(vc, t["failed_level"].to_pylist(), t["error_kind"].to_pylist(), strict=True):
            if v is False:
                outcomes[f"invalid {lv}" + (f" ({k})" if k else "")] += 1
            elif v is None:
                outcomes[f"failed ({k or 'unknown'})"] += 1
    fails = [f for f in st.failures() if f["task_id"] not in {p.stem for p in files}]
    size = sum(f.stat().st_size for f in files)
    return {
        "path": str(st.root), "name": man.get("name"), "plan_hash": man.get("plan_hash"),
        "tasks_planned": man.get("n_tasks"), "points_planned": man.get("n_points"), "parts": len(files),
        "rows": rows, "valid": valid.get(True, 0), "invalid": valid.get(False, 0), "failed": valid.get(None, 0),
        "valid_share": valid.get(True, 0) / rows if rows else None, "accelerators": len(archs),
        "layers": len(layers), "backends": dict(backends), "not_valid_by_reason": dict(outcomes.most_common()),
        "failed_tasks": [{"task_id": f["task_id"], "attempts": f.get("attempts"), "reason": f.get("reason")}
                         for f in fails],
        "columns": len(st.schema(files).names) if files else 0, "bytes": size,
        "merged_from": man.get("merged_from"),
    }


def format_info(d: dict[str, Any]) -> list[str]:
    tp = d["tasks_planned"]
    lines = [f"dataset {d['path']}" + (f" ({d['name']}, plan {d['plan_hash']})" if d["name"] else ""),
             f"parts: {d['parts']}" + (f" of {tp} planned tasks ({d['parts'] / tp:.1%} done)" if tp else ""),
             f"rows: {d['rows']}  valid: {d['valid']}  invalid: {d['invalid']}  failed: {d['failed']}"
             + (f"  (valid share {d['valid_share']:.1%})" if d["valid_share"] is not None else ""),
             f"accelerators: {d['accelerators']}  layers: {d['layers']}  columns: {d['columns']}  "
             f"size: {d['bytes'] / 2**20:.1f} MiB",
             "backends: " + (", ".join(f"{k} ({v} rows)" for k, v in d["backends"].items()) or "-")]
    if d["not_valid_by_reason"]:
        lines.append("not valid, by reason: " + ", ".join(f"{k}: {v}" for k, v in d["not_valid_by_reason"].items()))
    if d["failed_tasks"]:
        lines.append(f"failed tasks: {len(d['failed_tasks'])}")
        lines += [f"  {f['task_id']} ({f['attempts']} attempts): {f['reason']}" for f in d["failed_tasks"][:10]]
    return lines


def merge(out: str | Path, inputs: list[str | Path]) -> dict[str, Any]:
    """Combine datasets into ``out``. Parts of the same sweep (same plan hash, e.g. halves run on two machines)
    are deduplicated by task id; parts of different sweeps are all kept. Files are copied atomically."""
    if not inputs:
        raise LooplabError("nothing to merge", "merge")
    dest = DatasetStore(out)
    if dest.manifest() is not None or dest.part_files():
        raise LooplabError("merge target already exists; choose a new folder", str(out))
    stores = [open_store(p) for p in inputs]
    sources = []
    copied = skipped = 0
    dest.parts.mkdir(parents=True, exist_ok=True)
    for st in stores:
        man = st.manifest() or {}
        ph = man.get("plan_hash") or hashlib.sha256(str(st.root.resolve()).encode()).hexdigest()[:16]
        n = 0
        for f in st.part_files():
            name = f.name if f.stem.count("_") and man.get("merged_from") else f"{ph}_{f.name}"
            target = dest.parts / f.parent.name / name
            if target.exists():
                skipped += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.merge.tmp")
            shutil.copyfile(f, tmp)
            tmp.replace(target)
            n += 1
        for d in {p.parent for p in dest.part_files()}:
            fsync_dir(d)
        copied += n
        sources.append({"path": str(st.root), "name": man.get("name"), "plan_hash": man.get("plan_hash"),
                        "parts_copied": n})
    key = hashlib.sha256(json.dumps(sorted(s["plan_hash"] or s["path"] for s in sources)).encode()).hexdigest()
    atomic_write_json(dest.manifest_path, {"format": FORMAT, "name": "merged", "plan_hash": f"merged-{key[:12]}",
                                           "merged_from": sources,
                                           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return {"out": str(dest.root), "parts_copied": copied, "duplicates_skipped": skipped, "rows": dest.n_rows()}


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    cols, names = [], []
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type):
            col = pa.array([None if v is None else " ".join(map(str, v)) for v in col.to_pylist()], pa.string())
        cols.append(col)
        names.append(name)
    return pa.RecordBatch.from_arrays(cols, names=names)


def export(path: str | Path, out: str | Path, fmt: str | None = None, columns: list[str] | None = None,
           valid_only: bool = False, limit: int | None = None, mapping_yaml: bool = False) -> dict[str, Any]:
    """Write the dataset as one Parquet, CSV or JSON-lines file, streaming batch by batch. ``mapping_yaml``
    fills the ``mapping_yaml`` column where the sweep did not store it (rebuilt from ``mapping_vec``)."""
    import pyarrow.csv as pcsv
    import pyarrow.dataset as ds

    st = open_store(path)
    out = Path(out)
    if fmt is None:
        fmt = EXPORT_SUFFIXES.get(out.suffix.lower())
        if fmt is None:
            raise LooplabError(f"cannot tell the format from the suffix {out.suffix or '(none)'!r}: use one of "
                               f"{', '.join(EXPORT_SUFFIXES)} or --format {'|'.join(EXPORT_FORMATS)}", str(out))
    if fmt not in EXPORT_FORMATS:
        raise LooplabError(f"unknown format {fmt!r} (expected one of {list(EXPORT_FORMATS)})", "--format")
    files = sorted(st.part_files(), key=lambda p: p.stem)
    if not files:
        raise LooplabError("dataset has no part files", str(path))
    dset = st.dataset(files)
    if columns:
        bad = [c for c in columns if c not in dset.schema.names]
        if bad:
            raise LooplabError(f"unknown columns {bad}", "--columns")
    flt = ds.field("valid") == True if valid_only else None  # noqa: E712 - an Arrow expression
    read_cols = columns
    if mapping_yaml and columns is not None:
        need = ["family", "mapping_vec", "mapping_yaml"] + [c for c in dset.schema.names if c.startswith("arch_")]
        read_cols = list(dict.fromkeys(columns + need))
    arch_cache: dict = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    n = 0
    writer: Any = None
    try:
        with open(tmp, "wb") as fh:
            for batch in dset.to_batches(columns=read_cols, filter=flt, batch_size=8192):
                if mapping_yaml and batch.num_rows:
                    from looplab.sweep.rows import mapping_yaml_for_rows

                    have = batch.column("mapping_yaml")
                    if have.null_count:
                        made = mapping_yaml_for_rows(batch, arch_cache)
                        batch = batch.set_column(batch.schema.get_field_index("mapping_yaml"), "mapping_yaml",
                                                 pc.coalesce(have, made))
                if read_cols is not columns:
                    batch = batch.select(columns)
                if limit is not None and n + batch.num_rows > limit:
                    batch = batch.slice(0, limit - n)
                if batch.num_rows == 0:
                    if limit is not None and n >= limit:
                        break
                    continue
                if fmt == "parquet":
                    if writer is None:
                        writer = pq.ParquetWriter(fh, batch.schema, compression="zstd")
                    writer.write_batch(batch)
                elif fmt == "csv":
                    cb = _csv_ready(batch)
                    if writer is None:
                        writer = pcsv.CSVWriter(fh, cb.schema)
                    writer.write_batch(cb)
                else:
                    for rec in batch.to_pylist():
                        fh.write((json.dumps(rec, default=str) + "\n").encode())
                n += batch.num_rows
                if limit is not None and n >= limit:
                    break
            if writer is not None:
                writer.close()
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"out": str(out), "format": fmt, "rows": n}
