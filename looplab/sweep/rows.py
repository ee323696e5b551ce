"""The row schema of a sweep dataset and the columnar builders that fill it (no per-row dicts on the hot path).

One row = one (accelerator, layer, mapping) point. Columns:

* ``task_id``, ``point`` (index in the task), ``seed`` (the task's sampler seed)
* accelerator: ``arch``, ``family``, ``arch_origin`` (preset|grid|random), ``arch_<param>`` (template params)
* layer: ``workload``, ``layer``, ``layer_count`` and the 11 problem dims ``R S P Q C K N Wstride Hstride
  Wdilation Hdilation``
* mapping, structured per storage level ``<L>`` (innermost first) and dim ``<D>``: ``t_<L>_<D>`` (temporal),
  ``sx_<L>_<D>`` / ``sy_<L>_<D>`` (spatial X/Y), ``perm_<L>`` (loop order, innermost first), ``keep_<L>``
  (kept data spaces, e.g. ``"WI"``); ``mapping_vec`` (flat int32 vector, layout :data:`VEC_LAYOUT`) and
  ``mapping_yaml`` (the Timeloop mapping file evaluated)
* result: ``backend``, ``backend_version``, ``sampler_valid`` (the sampler's own label), ``valid`` (the
  backend's verdict; null when the evaluation itself failed), ``failed_level``, ``error_kind``, ``reason``,
  ``cycles``, ``energy_pJ``, ``utilization``, ``energy_pJ_<level>`` (every level incl. the arithmetic one),
  per storage level and data space ``reads_<L>_<T>``, ``fills_<L>_<T>``, ``updates_<L>_<T>`` (per instance,
  as in stats.txt; null where the backend does not report them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from looplab.archspec import DIMS, TENSORS, ArchSpec
from looplab.result import EvalResult
from looplab.sweep.spec import AccelRef, Unit

LAYER_KEYS = ("R", "S", "P", "Q", "C", "K", "N", "Wstride", "Hstride", "Wdilation", "Hdilation")
TSHORT = {"Weights": "W", "Inputs": "I", "Outputs": "O"}
ACTIONS = ("reads", "fills", "updates")
#: ``mapping_vec`` = concatenation of these [L, 7] (keep: [L, 3]) int arrays, each flattened level-major.
VEC_LAYOUT = ("temporal", "spatial_x", "spatial_y", "perm", "keep")


def _all_levels(arch: ArchSpec) -> list[str]:
    return [arch.compute.name, *arch.storage_names]


def schema_for(arch: ArchSpec, param_keys: Sequence[str]) -> pa.Schema:
    """The Arrow schema of every row of one architecture family (columns depend on level names only)."""
    f: list[pa.Field] = [pa.field("task_id", pa.string()), pa.field("point", pa.int32()),
                         pa.field("seed", pa.int64()), pa.field("arch", pa.string()), pa.field("family", pa.string()),
                         pa.field("arch_origin", pa.string())]
    f += [pa.field(f"arch_{k}", pa.float64()) for k in param_keys]
    f += [pa.field("workload", pa.string()), pa.field("layer", pa.string()), pa.field("layer_count", pa.int32())]
    f += [pa.field(k, pa.int32()) for k in LAYER_KEYS]
    for lv in arch.storage_names:
        for kind in ("t", "sx", "sy"):
            f += [pa.field(f"{kind}_{lv}_{d}", pa.int32()) for d in DIMS]
        f += [pa.field(f"perm_{lv}", pa.string()), pa.field(f"keep_{lv}", pa.string())]
    n_vec = len(arch.storage) * (7 * 4 + 3)
    f += [pa.field("mapping_vec", pa.list_(pa.int32(), n_vec)), pa.field("mapping_yaml", pa.string())]
    f += [pa.field("backend", pa.string()), pa.field("backend_version", pa.string()),
          pa.field("sampler_valid", pa.bool_()), pa.field("valid", pa.bool_()), pa.field("failed_level", pa.string()),
          pa.field("error_kind", pa.string()), pa.field("reason", pa.string()), pa.field("cycles", pa.int64()),
          pa.field("energy_pJ", pa.float64()), pa.field("utilization", pa.float64())]
    f += [pa.field(f"energy_pJ_{lv}", pa.float64()) for lv in _all_levels(arch)]
    for lv in arch.storage_names:
        for t in TENSORS:
            f += [pa.field(f"{a}_{lv}_{t}", pa.float64()) for a in ACTIONS]
    return pa.schema(f)


def mapping_vectors(batch: Any) -> np.ndarray:
    """Flat int32 [B, L*31] vectors of a MappingBatch (layout :data:`VEC_LAYOUT`), lossless."""
    B = len(batch)
    perm = batch.perm
    parts = [batch.temporal, batch.spatial_x, batch.spatial_y, perm, batch.keep.astype(np.int64)]
    return np.concatenate([np.asarray(p).reshape(B, -1) for p in parts], axis=1).astype(np.int32)


def mapping_yaml_texts(batch: Any, spatial_levels: Sequence[str]) -> list[str]:
    """``Mapping.to_yaml(spatial_levels)`` of every mapping of a batch, formatted straight from the arrays."""
    names = list(batch.level_names)
    forced = set(spatial_levels)
    B, L = len(batch), len(names)
    t, sx, sy = batch.temporal.tolist(), batch.spatial_x.tolist(), batch.spatial_y.tolist()
    perm = batch.perm.tolist()
    sperm = None if batch.sperm is None else batch.sperm.tolist()
    keep = batch.keep.tolist()
    out = []
    for b in range(B):
        lines = ["mapping:"]
        tail = []
        for li in range(L):
            name = names[li]
            x, y = sx[b][li], sy[b][li]
            if name in forced or any(v > 1 for v in x) or any(v > 1 for v in y):
                order = range(7) if sperm is None else sperm[b][li]
                xd = [i for i in order if x[i] > 1]
                yd = [i for i in order if y[i] > 1]
                if xd and yd:
                    order = xd + yd + [i for i in order if i not in xd and i not in yd]
                    split = len(xd)
                elif yd:
                    split = 0
                else:
                    split = 7
                fac = " ".join(f"{DIMS[i]}={x[i] * y[i]}" for i in range(7))
                lines += [f"  - target: {name}", "    type: spatial", f"    factors: {fac}",
                          f"    permutation: {''.join(DIMS[i] for i in order)}", f"    split: {split}"]
            tt = t[b][li]
            lines += [f"  - target: {name}", "    type: temporal",
                      "    factors: " + " ".join(f"{DIMS[i]}={tt[i]}" for i in range(7)),
                      f"    permutation: {''.join(DIMS[i] for i in perm[b][li])}"]
            k = keep[b][li]
            tail += [f"  - target: {name}", "    type: bypass",
                     f"    keep: [{', '.join(tn for j, tn in enumerate(TENSORS) if k[j])}]",
                     f"    bypass: [{', '.join(tn for j, tn in enumerate(TENSORS) if not k[j])}]"]
        out.append("\n".join(lines + tail) + "\n")
    return out


def spatial_levels(arch: ArchSpec) -> list[str]:
    """Levels with a fan-out: their mapping gets a spatial directive even when all factors are 1."""
    return [lv.name for lv in arch.storage if lv.fanout > 1]


def _col(arr: Any, typ: pa.DataType) -> pa.Array:
    return pa.array(arr, type=typ)


def build_table(task_id: str, accel: AccelRef, unit: Unit, arch: ArchSpec, schema: pa.Schema, batch: Any,
                sampler_valid: np.ndarray, res: dict[str, Any], backend: str, backend_version: str,
                with_yaml: bool = True, point_offset: int = 0) -> pa.Table:
    """Columns of one sampler batch's rows. ``res``: result columns of length B (:func:`from_batch_result`,
    :func:`from_results`); ``point`` numbers the rows from ``point_offset`` within the task."""
    B = len(batch)
    layer = unit.layer
    cols: dict[str, Any] = {}
    cols["task_id"] = pa.array([task_id] * B, pa.string())
    cols["point"] = pa.array(np.arange(point_offset, point_offset + B, dtype=np.int32))
    cols["seed"] = pa.array(np.full(B, unit.seed, np.int64))
    for k, v in (("arch", accel.name), ("family", accel.family), ("arch_origin", accel.origin),
                 ("workload", layer.workload), ("layer", layer.name)):
        cols[k] = pa.array([v] * B, pa.string())
    for k, v in accel.params.items():
        cols[f"arch_{k}"] = pa.array(np.full(B, float(v)))
    cols["layer_count"] = pa.array(np.full(B, layer.count, np.int32))
    for k in LAYER_KEYS:
        cols[k] = pa.array(np.full(B, layer.dims[k], np.int32))
    for li, lv in enumerate(batch.level_names):
        for kind, a in (("t", batch.temporal), ("sx", batch.spatial_x), ("sy", batch.spatial_y)):
            for di, d in enumerate(DIMS):
                cols[f"{kind}_{lv}_{d}"] = pa.array(a[:, li, di].astype(np.int32))
        cols[f"perm_{lv}"] = pa.array(["".join(DIMS[i] for i in row) for row in batch.perm[:, li].tolist()],
                                      pa.string())
        cols[f"keep_{lv}"] = pa.array(["".join(TSHORT[tn] for j, tn in enumerate(TENSORS) if row[j])
                                       for row in batch.keep[:, li].tolist()], pa.string())
    vec = mapping_vectors(batch)
    cols["mapping_vec"] = pa.FixedSizeListArray.from_arrays(pa.array(vec.reshape(-1)), vec.shape[1])
    cols["mapping_yaml"] = pa.array(mapping_yaml_texts(batch, spatial_levels(arch)) if with_yaml else [None] * B,
                                    pa.string())
    cols["backend"] = pa.array([backend] * B, pa.string())
    cols["backend_version"] = pa.array([backend_version] * B, pa.string())
    cols["sampler_valid"] = pa.array(np.asarray(sampler_valid, bool))
    for k in ("valid", "failed_level", "error_kind", "reason", "cycles", "energy_pJ", "utilization"):
        v = res.get(k)
        cols[k] = v if v is not None else None
    for name in schema.names:
        if name.startswith(("energy_pJ_", "reads_", "fills_", "updates_")):
            cols[name] = res.get(name)
    arrays = []
    for fld in schema:
        v = cols.get(fld.name)
        if v is None:
            arrays.append(pa.nulls(B, fld.type))
        elif isinstance(v, pa.Array):
            arrays.append(v if v.type == fld.type else v.cast(fld.type))
        else:
            arrays.append(_col(v, fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _masked(values: Sequence[Any], dtype: Any) -> pa.Array:
    return pa.array([None if v is None else v for v in values], type=pa.from_numpy_dtype(dtype))


def from_results(results: Sequence[EvalResult], arch: ArchSpec) -> dict[str, Any]:
    """Result columns from per-point :class:`EvalResult` (the timeloop / pytimeloop backends)."""
    cols: dict[str, Any] = {
        "valid": pa.array([r.valid for r in results], pa.bool_()),
        "failed_level": pa.array([r.failed_level for r in results], pa.string()),
        "error_kind": pa.array([r.error_kind for r in results], pa.string()),
        "reason": pa.array([r.reason for r in results], pa.string()),
        "cycles": _masked([None if r.cycles is None else int(r.cycles) for r in results], np.int64),
        "energy_pJ": _masked([r.energy_pJ for r in results], np.float64),
        "utilization": _masked([r.utilization for r in results], np.float64),
    }
    for lv in _all_levels(arch):
        vals = [r.energy_by_level.get(lv) if r.energy_by_level else None for r in results]
        if any(v is not None for v in vals):
            cols[f"energy_pJ_{lv}"] = _masked(vals, np.float64)
    for lv in arch.storage_names:
        for t in TENSORS:
            for a in ACTIONS:
                vals = []
                for r in results:
                    ls = r.levels.get(lv) if r.levels else None
                    ts = ls.tensors.get(t) if ls is not None else None
                    vals.append(None if ts is None else float(getattr(ts, a)))
                if any(v is not None for v in vals):
                    cols[f"{a}_{lv}_{t}"] = _masked(vals, np.float64)
    return cols


def from_batch_result(br: Any, arch: ArchSpec) -> dict[str, Any]:
    """Result columns from the analytical model's batched ``BatchResult`` (numpy arrays, no per-row objects)."""
    valid = np.asarray(br.valid, bool)
    cols: dict[str, Any] = {"valid": pa.array(valid)}
    fl = getattr(br, "failed_level", None)
    cols["failed_level"] = pa.array(list(fl) if fl is not None else [None] * len(valid), pa.string())
    for k in ("kind", "error_kind"):
        if getattr(br, k, None) is not None:
            cols["error_kind"] = pa.array(list(getattr(br, k)), pa.string())
            break
    if getattr(br, "reason", None) is not None:
        cols["reason"] = pa.array(list(br.reason), pa.string())
    mask = ~valid
    cols["cycles"] = pa.array(np.asarray(br.cycles, np.int64), mask=mask)
    cols["energy_pJ"] = pa.array(np.asarray(br.energy_pJ, np.float64), mask=mask)
    cols["utilization"] = pa.array(np.asarray(br.utilization, np.float64), mask=mask)
    ebl = getattr(br, "energy_by_level", None)
    if ebl is not None:
        ebl = np.asarray(ebl, np.float64)
        names = list(getattr(br, "level_names", None) or [])
        if not names:
            names = _all_levels(arch) if ebl.shape[1] == len(arch.storage) + 1 else arch.storage_names
        for j, lv in enumerate(names[: ebl.shape[1]]):
            cols[f"energy_pJ_{lv}"] = pa.array(ebl[:, j], mask=mask)
    for a in ACTIONS:
        arr = getattr(br, a, None)
        if arr is None:
            continue
        arr = np.asarray(arr, np.float64)  # [B, n_storage, 3]
        if arr.ndim == 3 and arr.shape[1] == len(arch.storage):
            for li, lv in enumerate(arch.storage_names):
                for ti, t in enumerate(TENSORS):
                    cols[f"{a}_{lv}_{t}"] = pa.array(arr[:, li, ti], mask=mask)
    return cols
