"""Rows for the surrogates: a sweep dataset or a CASES file -> per family, features + labels + row keys.

The dataset is read one part file at a time (memory bounded by the parts, not by the dataset); each part's rows
become a :class:`~surrogates.features.Design` (mapping columns ``t_/sx_/sy_/perm_/keep_``, layer dims, and the
accelerator rebuilt from ``family`` + ``arch_<param>`` with :mod:`arch_gen`, parsed once per accelerator).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from looplab.archspec import DIMS, TENSORS, ArchSpec, parse_arch
from looplab.errors import LooplabError
from looplab.progress import Progress
from mappers.mapping import DIM_INDEX, Mapping, MappingBatch
from surrogates.features import ArchArrays, Design, arch_arrays, design_for, design_rows, features

LAYER_KEYS = ("R", "S", "P", "Q", "C", "K", "N", "Wstride", "Hstride", "Wdilation", "Hdilation")
META_COLUMNS = ("arch", "family", "arch_origin", "workload", "layer", "valid", "cycles", "energy_pJ")
_SHORT = {"W": 0, "I": 1, "O": 2}


@dataclass
class FeatureTable:
    """Rows of one family: ``X`` float32 [n, F] with ``names``; ``meta`` (pandas) has ``id``, the row keys
    (arch, layer, workload, arch_origin) and the labels (valid, cycles, energy_pJ) when known."""

    family: str
    names: dict[str, list[str]]  # feature set -> column names
    X: dict[str, np.ndarray]  # feature set -> matrix
    meta: pd.DataFrame

    def __len__(self) -> int:
        return len(self.meta)

    def take(self, idx: np.ndarray) -> FeatureTable:
        return FeatureTable(self.family, self.names, {k: v[idx] for k, v in self.X.items()},
                            self.meta.iloc[idx].reset_index(drop=True))

    @staticmethod
    def concat(parts: Sequence[FeatureTable]) -> FeatureTable:
        first = parts[0]
        return FeatureTable(first.family, first.names,
                            {k: np.concatenate([p.X[k] for p in parts]) for k in first.X},
                            pd.concat([p.meta for p in parts], ignore_index=True))


def progress(total: int, desc: str, enabled: bool = True, unit: str = "row") -> Progress:
    """The shared reporter (:class:`looplab.progress.Progress`): a bar on a terminal, else a ``desc: done/total unit
    (pct), rate, ETA`` line every ``$LOOPLAB_PROGRESS_EVERY`` s (default 30)."""
    return Progress(total=total, unit=unit, desc=desc, enabled=enabled)


class ArchCache:
    """``(family, params) -> ArchArrays`` through arch_gen's templates, parsed once each."""

    def __init__(self) -> None:
        self._cache: dict[tuple, ArchArrays] = {}

    def get(self, family: str, params: dict[str, Any]) -> ArchArrays:
        key = (family, tuple(sorted(params.items())))
        if key not in self._cache:
            from arch_gen import config_from_params, render_arch

            clean = {k: (int(v) if float(v).is_integer() else float(v)) for k, v in params.items()}
            self._cache[key] = arch_arrays(parse_arch(render_arch(config_from_params(family, clean))))
        return self._cache[key]


def _perm_indices(col: pa.Array) -> np.ndarray:
    """Strings like ``"RSPQCKN"`` -> int64 [n, 7] dim indices."""
    s = np.asarray(col.to_numpy(zero_copy_only=False), dtype="<U7")
    codes = s.view(np.uint32).reshape(len(s), 7)
    lut = np.zeros(128, np.int64)
    for d, i in DIM_INDEX.items():
        lut[ord(d)] = i
    return lut[codes]


def _keep_mask(col: pa.Array) -> np.ndarray:
    s = np.asarray(col.to_numpy(zero_copy_only=False), dtype="<U3")
    out = np.zeros((len(s), 3), bool)
    for ch, j in _SHORT.items():
        out[:, j] = np.char.find(s, ch) >= 0
    return out


def family_levels(schema: pa.Schema) -> list[str]:
    """Storage levels (innermost first) of a family's parts, from the ``perm_<L>`` columns."""
    return [n[5:] for n in schema.names if n.startswith("perm_")]


def design_from_table(t: pa.Table, cache: ArchCache) -> Design:
    """The :class:`Design` of stored rows of one family."""
    fam = t.column("family").to_pylist()
    if len(set(fam)) != 1:
        raise LooplabError(f"rows mix families {sorted(set(fam))}", "dataset")
    levels = family_levels(t.schema)
    pcols = [c for c in t.schema.names if c.startswith("arch_") and c != "arch_origin"]
    pdf = t.select(pcols).to_pandas()
    pdf.columns = [c[5:] for c in pcols]
    keys = pdf.drop_duplicates()
    key_index = {tuple(r): i for i, r in enumerate(keys.itertuples(index=False))}
    arch_idx = np.array([key_index[tuple(r)] for r in pdf.itertuples(index=False)], np.int64)
    archs = [cache.get(fam[0], {k: v for k, v in zip(keys.columns, r, strict=True) if v == v})
             for r in keys.itertuples(index=False)]
    names = archs[0].level_names
    if tuple(levels) != names:
        raise LooplabError(f"dataset levels {levels} differ from the {fam[0]} architecture's {list(names)}", "dataset")
    n = t.num_rows
    fac = {k: np.ones((n, len(levels), 7), np.int64) for k in ("t", "sx", "sy")}
    perm = np.zeros((n, len(levels), 7), np.int64)
    keep = np.zeros((n, len(levels), 3), bool)
    for li, lv in enumerate(levels):
        for k in fac:
            for di, d in enumerate(DIMS):
                fac[k][:, li, di] = t.column(f"{k}_{lv}_{d}").to_numpy()
        perm[:, li] = _perm_indices(t.column(f"perm_{lv}").combine_chunks())
        keep[:, li] = _keep_mask(t.column(f"keep_{lv}").combine_chunks())
    batch = MappingBatch(tuple(levels), fac["t"], fac["sx"], fac["sy"], perm, keep)
    size = np.stack([t.column(k).to_numpy() for k in DIMS], axis=1)
    conv = np.stack([t.column(k).to_numpy() for k in ("Wstride", "Hstride", "Wdilation", "Hdilation")], axis=1)
    return design_rows(archs[0], size, conv, batch, arch_index=arch_idx, archs=archs)


def _meta(t: pa.Table) -> pd.DataFrame:
    cols = [c for c in META_COLUMNS if c in t.schema.names]
    df = t.select(cols).to_pandas()
    df.insert(0, "id", (t.column("task_id").to_numpy(zero_copy_only=False).astype(object) + ":"
                        + t.column("point").to_numpy().astype(str).astype(object)))
    for c in ("arch", "family", "arch_origin", "workload", "layer"):
        if c in df:
            df[c] = df[c].astype("category")
    return df


def part_files(path: str | Path) -> dict[str, list[Path]]:
    """Part files of a dataset per family (``parts/<family>/*.parquet``)."""
    root = Path(path)
    parts = root / "parts"
    if not parts.is_dir():
        raise LooplabError("not a looplab dataset (no parts/ folder)", str(root))
    out = {d.name: sorted(d.glob("*.parquet")) for d in sorted(parts.iterdir()) if d.is_dir()}
    out = {k: v for k, v in out.items() if v}
    if not out:
        raise LooplabError("dataset has no rows (no part files)", str(root))
    return out


def load_dataset(path: str | Path, feature_sets: Iterable[str] = ("raw", "cosa"),
                 select: Callable[[pd.DataFrame], np.ndarray] | None = None, show_progress: bool = True,
                 families: Iterable[str] | None = None) -> dict[str, FeatureTable]:
    """Features of every row (or of the rows ``select(meta)`` keeps) of a dataset, per family."""
    sets = list(feature_sets)
    files = part_files(path)
    if families is not None:
        files = {k: v for k, v in files.items() if k in set(families)}
    total = sum(pq.ParquetFile(f).metadata.num_rows for fs in files.values() for f in fs)
    bar = progress(total, f"features of {Path(path).name}", show_progress)
    cache = ArchCache()
    out: dict[str, FeatureTable] = {}
    try:
        for fam, fs in files.items():
            chunks = []
            for f in fs:
                t = pq.read_table(f)
                n = t.num_rows
                meta = _meta(t)
                if select is not None:
                    mask = np.asarray(select(meta), bool)
                    t, meta = t.filter(pa.array(mask)), meta[mask].reset_index(drop=True)
                if t.num_rows:
                    d = design_from_table(t, cache)
                    names, X = {}, {}
                    for s in sets:
                        names[s], X[s] = features(d, s)
                    chunks.append(FeatureTable(fam, names, X, meta))
                bar.update(n)
            if chunks:
                out[fam] = FeatureTable.concat(chunks)
    finally:
        bar.close()
    if not out:
        raise LooplabError("no rows selected", str(path))
    return out


def load_cases(path: str | Path, feature_sets: Iterable[str] = ("raw", "cosa")) -> dict[str, FeatureTable]:
    """Features of the cases of a CASES.jsonl (``{"id", "arch", "problem", "mapping", ...}`` per line, as for
    ``looplab evaluate --batch``), per family; ``meta`` keeps the ids in file order (``order`` column)."""
    from looplab.analytical import read_problem
    from looplab.timeloop.batch import read_cases

    sets = list(feature_sets)
    cases = read_cases(Path(path))
    archs: dict[str, ArchSpec] = {}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(cases):
        groups.setdefault((c["arch"], c["problem"]), []).append(i)
    per_family: dict[str, list[FeatureTable]] = {}
    for (arch_path, prob_path), idx in groups.items():
        if arch_path not in archs:
            archs[arch_path] = parse_arch(Path(arch_path), source=arch_path)
        arch = archs[arch_path]
        dims = read_problem(prob_path)
        maps = [Mapping.from_yaml(Path(cases[i]["mapping"]), arch.storage_names, source=cases[i]["mapping"])
                for i in idx]
        batch = MappingBatch.from_mappings(maps, arch.storage_names)
        d = design_for(arch, dims, batch)
        names, X = {}, {}
        for s in sets:
            names[s], X[s] = features(d, s)
        meta = pd.DataFrame({"id": [cases[i]["id"] for i in idx], "order": idx, "arch": arch_path,
                             "layer": prob_path})
        per_family.setdefault(d.family, []).append(FeatureTable(d.family, names, X, meta))
    return {fam: FeatureTable.concat(parts) for fam, parts in per_family.items()}


def data_hash(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 (first 16 hex digits) of a training matrix and its labels."""
    h = hashlib.sha256()
    h.update(json.dumps([list(X.shape), str(X.dtype)]).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    h.update(np.ascontiguousarray(np.asarray(y, np.float64)).tobytes())
    return h.hexdigest()[:16]


__all__ = ["ArchCache", "FeatureTable", "TENSORS", "data_hash", "design_from_table", "load_cases", "load_dataset",
           "part_files", "progress"]
