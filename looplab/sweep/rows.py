"""The row schema of a sweep dataset and the columnar builders that fill it (no per-row dicts on the hot path).

One row = one (accelerator, layer, mapping) point. Columns:

* ``task_id``, ``point`` (index in the task), ``seed`` (the task's sampler seed)
* accelerator: ``arch``, ``family``, ``arch_origin`` (preset|grid|random), ``arch_<param>`` (template params)
* layer: ``workload``, ``layer``, ``layer_count`` and the 11 problem dims ``R S P Q C K N Wstride Hstride
  Wdilation Hdilation``
* mapping, structured per storage level ``<L>`` (innermost first) and dim ``<D>``: ``t_<L>_<D>`` (temporal),
  ``sx_<L>_<D>`` / ``sy_<L>_<D>`` (spatial X/Y), ``perm_<L>`` (loop order, innermost first), ``keep_<L>``
  (kept data spaces, e.g. ``"WI"``); ``mapping_vec`` (float32, :func:`mappers.flat.to_vector`: per level log2
  factors, loop ranks, keep flags; ``mappers.flat.from_vector`` gives the MappingBatch back) and
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
import pyarrow.compute as pc

from looplab.archspec import DIMS, TENSORS, ArchSpec
from looplab.errors import LooplabError
from looplab.result import EvalResult
from looplab.sweep.spec import Unit

LAYER_KEYS = ("R", "S", "P", "Q", "C", "K", "N", "Wstride", "Hstride", "Wdilation", "Hdilation")
TSHORT = {"Weights": "W", "Inputs": "I", "Outputs": "O"}
ACTIONS = ("reads", "fills", "updates")
_KEEP_SHORT = np.array(["".join(TSHORT[t] for j, t in enumerate(TENSORS) if (c >> (2 - j)) & 1) for c in range(8)],
                       dtype=object)


def _all_levels(arch: ArchSpec) -> list[str]:
    return [arch.compute.name, *arch.storage_names]


def param_type(family: str | None, key: str) -> pa.DataType:
    """Arrow type of the ``arch_<key>`` column: int64 where the family declares the parameter an integer (PE
    counts, ``pe_dim``), float64 otherwise (sizes such as ``accum_kib_per_pe = 1.5``)."""
    try:
        from arch_gen import config_class

        declared = config_class(family).__dataclass_fields__[key].type if family else None
    except (ImportError, KeyError, LooplabError):
        declared = None
    return pa.int64() if declared in (int, "int") else pa.float64()


def schema_for(arch: ArchSpec, param_keys: Sequence[str], family: str | None = None) -> pa.Schema:
    """The Arrow schema of every row of one architecture family (columns depend on level names only; the types
    of the ``arch_<param>`` columns on ``family``)."""
    f: list[pa.Field] = [pa.field("task_id", pa.string()), pa.field("point", pa.int32()),
                         pa.field("seed", pa.int64()), pa.field("arch", pa.string()), pa.field("family", pa.string()),
                         pa.field("arch_origin", pa.string())]
    f += [pa.field(f"arch_{k}", param_type(family, k)) for k in param_keys]
    f += [pa.field("workload", pa.string()), pa.field("layer", pa.string()), pa.field("layer_count", pa.int32())]
    f += [pa.field(k, pa.int32()) for k in LAYER_KEYS]
    for lv in arch.storage_names:
        for kind in ("t", "sx", "sy"):
            f += [pa.field(f"{kind}_{lv}_{d}", pa.int32()) for d in DIMS]
        f += [pa.field(f"perm_{lv}", pa.string()), pa.field(f"keep_{lv}", pa.string())]
    n_vec = len(arch.storage) * (7 * 5 + 3)  # mappers.flat.width
    f += [pa.field("mapping_vec", pa.list_(pa.float32(), n_vec)), pa.field("mapping_yaml", pa.string())]
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
    """Flat float32 vectors of a MappingBatch: :func:`mappers.flat.to_vector` (layout
    ``mappers.flat.column_names(level_names)``; ``mappers.flat.from_vector`` inverts it exactly)."""
    from mappers.flat import to_vector

    return to_vector(batch).astype(np.float32)


_DIM_CHARS = np.array(list(DIMS))


def perm_strings(idx: np.ndarray) -> np.ndarray:
    """[B, 7] dim indices -> B strings such as ``"RSPQCKN"`` (vectorised)."""
    return np.ascontiguousarray(_DIM_CHARS[np.asarray(idx, np.int64)]).view("<U7").reshape(-1)


def _factor_strings(f: np.ndarray) -> pa.Array:
    """[B, 7] factors -> ``"R=1 S=3 P=7 Q=7 C=64 K=2 N=1"`` per row."""
    parts: list[Any] = []
    for i, d in enumerate(DIMS):
        parts += [f"{' ' if i else ''}{d}=", pa.array(np.asarray(f[:, i], np.int64)).cast(pa.string())]
    return pc.binary_join_element_wise(*parts, "")


def mapping_yaml_array(batch: Any, spatial_levels: Sequence[str]) -> pa.Array:
    """``Mapping.to_yaml(spatial_levels)`` of every mapping of a batch, built column-wise (Arrow string kernels)."""
    names = list(batch.level_names)
    forced = set(spatial_levels)
    B = len(batch)
    sperm_all = batch.sperm if batch.sperm is not None else np.tile(np.arange(7), (B, len(names), 1))
    keep_code = (batch.keep[:, :, 0].astype(np.int64) * 4 + batch.keep[:, :, 1] * 2 + batch.keep[:, :, 2])
    pieces: list[Any] = ["mapping:\n"]
    tail: list[Any] = []
    for li, name in enumerate(names):
        x, y = batch.spatial_x[:, li], batch.spatial_y[:, li]
        hasx, hasy = (x > 1).any(axis=1), (y > 1).any(axis=1)
        include = (hasx | hasy) if name not in forced else np.ones(B, bool)
        if include.any():
            order = np.asarray(sperm_all[:, li], np.int64)
            xo = np.take_along_axis(x, order, axis=1) > 1
            yo = np.take_along_axis(y, order, axis=1) > 1
            both = hasx & hasy
            cat = np.where(xo, 0, np.where(yo, 1, 2))
            keys = np.where(both[:, None], cat, 0)
            order = np.take_along_axis(order, np.argsort(keys, axis=1, kind="stable"), axis=1)
            split = np.where(both, xo.sum(axis=1), np.where(hasy, 0, 7))
            block = pc.binary_join_element_wise(
                f"  - target: {name}\n    type: spatial\n    factors: ", _factor_strings(x * y),
                "\n    permutation: ", pa.array(perm_strings(order)), "\n    split: ",
                pa.array(split.astype(np.int64)).cast(pa.string()), "\n", "")
            if not include.all():
                block = pc.if_else(pa.array(include), block, "")
            pieces.append(block)
        pieces += [pc.binary_join_element_wise(
            f"  - target: {name}\n    type: temporal\n    factors: ", _factor_strings(batch.temporal[:, li]),
            "\n    permutation: ", pa.array(perm_strings(batch.perm[:, li])), "\n", "")]
        lookup = np.array([f"  - target: {name}\n    type: bypass\n"
                           f"    keep: [{', '.join(t for j, t in enumerate(TENSORS) if (c >> (2 - j)) & 1)}]\n"
                           f"    bypass: [{', '.join(t for j, t in enumerate(TENSORS) if not (c >> (2 - j)) & 1)}]\n"
                           for c in range(8)], dtype=object)
        tail.append(pa.array(lookup[keep_code[:, li]], pa.string()))
    if B == 0:
        return pa.array([], pa.string())
    return pc.binary_join_element_wise(*pieces, *tail, "")


def mapping_yaml_texts(batch: Any, spatial_levels: Sequence[str]) -> list[str]:
    """``Mapping.to_yaml(spatial_levels)`` of every mapping of a batch, as Python strings."""
    return mapping_yaml_array(batch, spatial_levels).to_pylist()


def spatial_levels(arch: ArchSpec) -> list[str]:
    """Levels with a fan-out: their mapping gets a spatial directive even when all factors are 1."""
    return [lv.name for lv in arch.storage if lv.fanout > 1]


def _col(arr: Any, typ: pa.DataType) -> pa.Array:
    return pa.array(arr, type=typ)


def build_table(task_id: str, units: Sequence[Unit], sizes: Sequence[int], arch: ArchSpec,
                schema: pa.Schema, batch: Any, sampler_valid: np.ndarray, res: dict[str, Any], backend: str,
                backend_version: str, with_yaml: bool = True, point_offset: int = 0) -> pa.Table:
    """Columns of a task's rows, built once for the whole task (column-wise, no per-row Python objects).

    ``batch`` holds the mappings of ``units`` one after the other (``sizes[i]`` rows for ``units[i]``), all of
    one family (``arch``: any of their architectures, for the level names);
    ``res``: result columns of length B (:func:`from_batch_result`, :func:`from_results`, :func:`concat_results`).
    """
    B = len(batch)
    if sum(sizes) != B or len(sizes) != len(units):
        raise ValueError(f"sizes {list(sizes)} do not add up to the batch ({B} rows, {len(units)} units)")

    def per_unit(values: list, typ: pa.DataType) -> pa.Array:
        if len(values) == 1:
            return pa.array([values[0]] * B, typ) if typ == pa.string() else pa.array(np.full(B, values[0]), typ)
        return pa.array(np.repeat(np.array(values, dtype=object if typ == pa.string() else None), sizes), typ)

    cols: dict[str, Any] = {}
    cols["task_id"] = pa.array([task_id] * B, pa.string())
    cols["point"] = pa.array(np.arange(point_offset, point_offset + B, dtype=np.int32))
    cols["seed"] = per_unit([u.seed for u in units], pa.int64())
    cols["arch"] = per_unit([u.accel.name for u in units], pa.string())
    cols["family"] = per_unit([u.accel.family for u in units], pa.string())
    cols["arch_origin"] = per_unit([u.accel.origin for u in units], pa.string())
    cols["workload"] = per_unit([u.layer.workload for u in units], pa.string())
    cols["layer"] = per_unit([u.layer.name for u in units], pa.string())
    for k in units[0].accel.params:
        typ = schema.field(f"arch_{k}").type if f"arch_{k}" in schema.names else pa.float64()
        cols[f"arch_{k}"] = per_unit([(int if pa.types.is_integer(typ) else float)(u.accel.params[k]) for u in units],
                                     typ)
    cols["layer_count"] = per_unit([u.layer.count for u in units], pa.int32())
    for k in LAYER_KEYS:
        cols[k] = per_unit([u.layer.dims[k] for u in units], pa.int32())
    # One transposed int32 copy of the factors; every column is then a contiguous row of it (zero-copy).
    fac = np.ascontiguousarray(np.stack([batch.temporal, batch.spatial_x, batch.spatial_y], axis=2)
                               .astype(np.int32).transpose(1, 2, 3, 0))  # [L, 3, 7, B]
    for li, lv in enumerate(batch.level_names):
        for ki, kind in enumerate(("t", "sx", "sy")):
            for di, d in enumerate(DIMS):
                cols[f"{kind}_{lv}_{d}"] = pa.array(fac[li, ki, di])
        cols[f"perm_{lv}"] = pa.array(perm_strings(batch.perm[:, li]), pa.string())
        code = batch.keep[:, li, 0].astype(np.int64) * 4 + batch.keep[:, li, 1] * 2 + batch.keep[:, li, 2]
        cols[f"keep_{lv}"] = pa.array(_KEEP_SHORT[code], pa.string())
    vec = mapping_vectors(batch)
    cols["mapping_vec"] = pa.FixedSizeListArray.from_arrays(pa.array(vec.reshape(-1)), vec.shape[1])
    cols["mapping_yaml"] = mapping_yaml_array(batch, spatial_levels(arch)) if with_yaml else None
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


def concat_results(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Result columns of several sampler batches, one after the other."""
    if len(parts) == 1:
        return parts[0]
    keys = list(dict.fromkeys(k for p in parts for k in p))
    out: dict[str, Any] = {}
    for k in keys:
        arrs = [p.get(k) for p in parts]
        if any(a is None for a in arrs):
            typ = next(a.type for a in arrs if a is not None)
            lens = [len(next(iter(p.values()))) for p in parts]
            arrs = [a if a is not None else pa.nulls(n, typ) for a, n in zip(arrs, lens, strict=True)]
        out[k] = pa.concat_arrays(arrs)
    return out


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
                    col = arr[:, li, ti]
                    cols[f"{a}_{lv}_{t}"] = pa.array(col, mask=mask | np.isnan(col))  # null: bypassed
    return cols


def mapping_yaml_for_rows(table: pa.Table | pa.RecordBatch, cache: dict | None = None) -> pa.Array:
    """The mapping YAML of stored rows (the text :func:`build_table` writes with ``mapping_yaml`` on), rebuilt
    from ``family``, the ``arch_<param>`` columns and ``mapping_vec`` -- for datasets swept without it."""
    from arch_gen import config_from_params, render_arch
    from looplab.archspec import parse_arch
    from mappers.flat import from_vector

    cache = {} if cache is None else cache
    n = table.num_rows
    if n == 0:
        return pa.array([], pa.string())
    fam = table.column("family").to_pylist()
    pcols = [c for c in table.schema.names if c.startswith("arch_") and c != "arch_origin"]
    pvals = [table.column(c).to_pylist() for c in pcols]
    keys = [(fam[i], tuple((c[5:], v[i]) for c, v in zip(pcols, pvals, strict=True) if v[i] is not None))
            for i in range(n)]
    vec = table.column("mapping_vec")
    out = np.empty(n, dtype=object)
    for key in dict.fromkeys(keys):
        idx = np.array([i for i in range(n) if keys[i] == key])
        if key not in cache:
            params = {k: (int(v) if float(v).is_integer() else v) for k, v in key[1]}
            cache[key] = parse_arch(render_arch(config_from_params(key[0], params)))
        arch = cache[key]
        width = len(arch.storage) * (7 * 5 + 3)
        x = np.array([vec[int(i)].as_py()[:width] for i in idx], np.float64)
        out[idx] = mapping_yaml_texts(from_vector(x, arch.storage_names), spatial_levels(arch))
    return pa.array(out, pa.string())
