"""Correlation of the analytical model with recorded real-simulator results.

``correlate(DATA, OUT)`` reads recorded evaluations, re-evaluates every mapping with the analytical model (batched per
(architecture, layer)), and writes ``summary.json``, ``report.md`` and PNG plots into ``OUT``.

DATA may be

* a folder laid out like ``reference/``: ``archs/<name>/arch.yaml`` (+ ``ERT.yaml``), ``cases.jsonl.gz`` whose records
  carry ``arch``, ``layer``, ``layer_dims``, ``mapping`` (or ``mapping_yaml``), ``valid`` and ``stats``;
* a sweep dataset (a looplab Parquet store, a Parquet folder or file) with the columns of
  :mod:`looplab.sweep.rows`: ``family``, ``arch_<param>``, the problem dims, the structured mapping columns
  (``t_/sx_/sy_<L>_<D>``, ``perm_<L>``, ``keep_<L>``) or ``mapping_yaml``, ``valid``, ``cycles``, ``energy_pJ``;
* a DOSA dataset CSV (``mapping.mapping``, ``prob.*``, ``arch.*``, ``target.cycle``, ``target.energy`` in uJ).

Truth: cycles and energy of the recorded run (for ``reference/`` records the exact per-level energy sum
``stats.energy_pJ_levels_sum``; the summary line's ``Energy: X uJ`` only has 2 decimals). EDP = cycles x energy.
Energy tables: the recorded ERT next to the architecture when there is one (``--ert-dir`` for datasets), otherwise
the Accelergy-free estimator (:mod:`looplab.energy.estimator`); ``estimated_ert=True`` forces the estimator.
Relative errors are ``|model - truth| / truth`` over rows that both call valid.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from looplab.archspec import DIMS, TENSORS, ArchSpec, parse_arch
from looplab.errors import LooplabError

LAYER_KEYS = ("R", "S", "P", "Q", "C", "K", "N", "Wstride", "Hstride", "Wdilation", "Hdilation")
METRICS = ("cycles", "energy", "edp")
_DIM = {d: i for i, d in enumerate(DIMS)}


# ----------------------------------------------------------------------------------------------------------------
# Pure statistics
# ----------------------------------------------------------------------------------------------------------------
def relative_errors(pred: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray) -> np.ndarray:
    """``|pred - truth| / |truth|`` element-wise (truth must be non-zero)."""
    pred = np.asarray(pred, dtype=float)
    truth = np.asarray(truth, dtype=float)
    if pred.shape != truth.shape:
        raise LooplabError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    if np.any(truth == 0):
        raise LooplabError("relative error undefined: a truth value is 0")
    return np.abs(pred - truth) / np.abs(truth)


def error_summary(pred: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """n, mean/median/p99/max relative error, share within 1% and 0.1%, share exactly equal (to 1e-9)."""
    e = relative_errors(pred, truth)
    if e.size == 0:
        return {"n": 0, "mean": None, "median": None, "p99": None, "max": None, "within_1pct": None,
                "within_0.1pct": None, "exact": None, "signed_mean": None}
    signed = (np.asarray(pred, float) - np.asarray(truth, float)) / np.asarray(truth, float)
    return {"n": int(e.size), "mean": float(e.mean()), "median": float(np.median(e)),
            "p99": float(np.quantile(e, 0.99)), "max": float(e.max()), "within_1pct": float(np.mean(e <= 0.01)),
            "within_0.1pct": float(np.mean(e <= 0.001)), "exact": float(np.mean(e <= 1e-9)),
            "signed_mean": float(signed.mean())}


def validity_summary(pred_valid: Sequence[bool] | np.ndarray, truth_valid: Sequence[bool] | np.ndarray
                     ) -> dict[str, Any]:
    """Agreement and confusion counts (positive = valid)."""
    p = np.asarray(pred_valid, dtype=bool)
    t = np.asarray(truth_valid, dtype=bool)
    if p.shape != t.shape:
        raise LooplabError(f"prediction shape {p.shape} differs from truth shape {t.shape}")
    conf = {"valid_valid": int(np.sum(p & t)), "valid_invalid": int(np.sum(p & ~t)),
            "invalid_valid": int(np.sum(~p & t)), "invalid_invalid": int(np.sum(~p & ~t))}
    n = int(p.size)
    agree = conf["valid_valid"] + conf["invalid_invalid"]
    return {"n": n, "agree": agree, "agreement": agree / n if n else None,
            "confusion_model_vs_truth": conf}


# ----------------------------------------------------------------------------------------------------------------
# Data: groups of mappings sharing (architecture, layer)
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Group:
    """Mappings of one (architecture, layer) with their recorded results."""

    arch_name: str
    family: str
    arch: ArchSpec
    ert: Any  # looplab.energy.ert.Ert
    ert_source: str  # "recorded" | "estimated"
    layer: str
    dims: dict[str, int]
    batch: Any  # mappers.mapping.MappingBatch
    ids: list[str]
    truth_valid: np.ndarray  # bool [B]
    truth_cycles: np.ndarray  # float [B] (nan where invalid or unknown)
    truth_energy: np.ndarray  # float [B] pJ
    kinds: list[str] = field(default_factory=list)  # case kind (reference) when known
    sources: list[str] = field(default_factory=list)  # what produced the recorded result, per row

    def __len__(self) -> int:
        return len(self.ids)


class _Erts:
    """ERT per architecture: recorded when available (and not disabled), else estimated; cached by arch key."""

    def __init__(self, estimated: bool):
        self.estimated = estimated
        self.cache: dict[Any, tuple[Any, str]] = {}

    def get(self, key: Any, arch: ArchSpec, ert_path: Path | None) -> tuple[Any, str]:
        if key not in self.cache:
            if ert_path is not None and ert_path.exists() and not self.estimated:
                from looplab.energy.ert import load_ert

                self.cache[key] = (load_ert(ert_path), "recorded")
            else:
                from looplab.energy.estimator import estimate_ert

                self.cache[key] = (estimate_ert(arch), "estimated")
        return self.cache[key]


def detect_kind(path: Path) -> str:
    """``reference`` | ``parquet`` | ``dosa`` for a DATA path."""
    if not path.exists():
        raise LooplabError("DATA not found", str(path))
    if path.is_dir():
        if (path / "cases.jsonl.gz").exists() or (path / "cases.jsonl").exists():
            return "reference"
        if (path / "manifest.json").exists() or any(path.rglob("*.parquet")):
            return "parquet"
        raise LooplabError("folder holds neither cases.jsonl(.gz) (reference layout) nor Parquet files", str(path))
    if path.suffix == ".parquet":
        return "parquet"
    if path.suffix == ".csv":
        return "dosa"
    raise LooplabError("expected a reference-style folder, a Parquet dataset/file or a DOSA .csv", str(path))


def _read_cases(path: Path) -> Iterable[dict]:
    f = path / "cases.jsonl.gz"
    opener = gzip.open if f.exists() else open
    f = f if f.exists() else path / "cases.jsonl"
    with opener(f, "rt") as fh:
        for i, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LooplabError(f"not valid JSON: {exc}", f"{f}: line {i}") from None


def _truth_from_stats(rec: dict) -> tuple[bool, float, float]:
    valid = bool(rec.get("valid"))
    st = rec.get("stats") or {}
    if not valid:
        return False, math.nan, math.nan
    energy = st.get("energy_pJ_levels_sum", st.get("energy_pJ"))
    cycles = st.get("cycles")
    return True, float(cycles) if cycles is not None else math.nan, float(energy) if energy is not None else math.nan


def _problem_dims(path: Path, layer: str | None, where: str) -> dict[str, int]:
    """The 11 dims of ``layer`` from ``layers/<layer>.yaml`` or ``problems/<layer>.yaml`` (cases without dims)."""
    import yaml

    if not layer:
        raise LooplabError("case record has neither 'layer_dims' nor 'layer'", where)
    for sub in ("layers", "problems"):
        f = path / sub / f"{layer}.yaml"
        if f.exists():
            try:
                inst = (yaml.safe_load(f.read_text()) or {})["problem"]["instance"]
                return {k: int(inst.get(k, 1)) for k in LAYER_KEYS}
            except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
                raise LooplabError(f"cannot read problem.instance: {exc}", str(f)) from None
    raise LooplabError(f"no layer_dims and no layers/{layer}.yaml or problems/{layer}.yaml", where)


def load_reference(path: Path, estimated_ert: bool = False, limit: int | None = None,
                   archs: Sequence[str] | None = None) -> list[Group]:
    """Groups of a ``reference/``-style folder (``archs/<name>/``, ``cases.jsonl.gz``)."""
    from mappers.mapping import Mapping, MappingBatch

    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    n = 0
    for rec in _read_cases(path):
        if archs and rec.get("arch") not in archs:
            continue
        where = f"{path}: case {rec.get('case_id', n)}"
        for k in ("arch", "valid"):
            if k not in rec:
                raise LooplabError(f"case record lacks {k!r}", where)
        if "layer_dims" not in rec:
            rec["layer_dims"] = _problem_dims(path, rec.get("layer"), where)
        by_key[(rec["arch"], rec.get("layer") or json.dumps(rec["layer_dims"], sort_keys=True))].append(rec)
        n += 1
        if limit and n >= limit:
            break
    erts = _Erts(estimated_ert)
    arch_cache: dict[str, ArchSpec] = {}
    groups = []
    for (arch_name, layer), recs in by_key.items():
        adir = path / "archs" / arch_name
        if arch_name not in arch_cache:
            if not (adir / "arch.yaml").exists():
                raise LooplabError(f"no archs/{arch_name}/arch.yaml for the cases of {arch_name!r}", str(path))
            arch_cache[arch_name] = parse_arch(adir / "arch.yaml")
        arch = arch_cache[arch_name]
        ert, src = erts.get(arch_name, arch, adir / "ERT.yaml")
        maps = []
        for r in recs:
            where = f"{path}: case {r.get('case_id')}"
            if r.get("mapping"):
                m = Mapping.from_record(r["mapping"])
            elif r.get("mapping_yaml"):
                m = Mapping.from_yaml(r["mapping_yaml"], arch.storage_names)
            else:
                raise LooplabError("case has neither 'mapping' nor 'mapping_yaml'", where)
            maps.append(m)
        truth = [_truth_from_stats(r) for r in recs]
        groups.append(Group(
            arch_name=arch_name, family=str(recs[0].get("family", "")), arch=arch, ert=ert, ert_source=src,
            layer=str(recs[0].get("layer", layer)), dims={k: int(v) for k, v in recs[0]["layer_dims"].items()},
            batch=MappingBatch.from_mappings(maps, arch.storage_names),
            ids=[str(r.get("case_id", i)) for i, r in enumerate(recs)],
            truth_valid=np.array([t[0] for t in truth]), truth_cycles=np.array([t[1] for t in truth]),
            truth_energy=np.array([t[2] for t in truth]), kinds=[str(r.get("case_kind", "")) for r in recs],
            sources=[str(r.get("evaluator", "recorded")) for r in recs]))
    return groups


def _arch_from_params(family: str, params: dict[str, Any], name: str) -> ArchSpec:
    from arch_gen import config_from_params, render_arch

    clean = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in params.items()}
    cfg = config_from_params(family, clean, name=name)
    return parse_arch(render_arch(cfg), source=f"{family} {clean}")


def _batch_from_columns(cols: dict[str, Any], idx: np.ndarray, arch: ArchSpec, where: str) -> Any:
    """MappingBatch from the structured mapping columns (``t_<L>_<D>`` ...), or from ``mapping_yaml``."""
    from mappers.mapping import Mapping, MappingBatch

    names = arch.storage_names
    B, L = len(idx), len(names)
    if all(f"t_{lv}_{d}" in cols for lv in names for d in DIMS):
        arrays = {}
        for kind, key in (("t", "temporal"), ("sx", "spatial_x"), ("sy", "spatial_y")):
            a = np.ones((B, L, 7), np.int64)
            for li, lv in enumerate(names):
                for di, d in enumerate(DIMS):
                    c = cols.get(f"{kind}_{lv}_{d}")
                    if c is not None:
                        a[:, li, di] = np.nan_to_num(np.asarray(c[idx], dtype=float), nan=1).astype(np.int64)
            arrays[key] = a
        perm = np.tile(np.arange(7, dtype=np.int8), (B, L, 1))
        keep = np.ones((B, L, 3), bool)
        for li, lv in enumerate(names):
            pc, kc = cols.get(f"perm_{lv}"), cols.get(f"keep_{lv}")
            if pc is not None:
                for b, s in enumerate(pc[idx]):
                    if s:
                        try:
                            perm[b, li] = [_DIM[ch] for ch in s]
                        except KeyError:
                            raise LooplabError(f"bad permutation {s!r}", f"{where}: perm_{lv}") from None
            if kc is not None:
                for b, s in enumerate(kc[idx]):
                    keep[b, li] = [t[0] in (s or "") for t in TENSORS]
        return MappingBatch(tuple(names), arrays["temporal"], arrays["spatial_x"], arrays["spatial_y"], perm, keep)
    if "mapping_yaml" not in cols:
        raise LooplabError("no mapping columns (t_<level>_<dim>... or mapping_yaml)", where)
    return MappingBatch.from_mappings([Mapping.from_yaml(cols["mapping_yaml"][i], names) for i in idx], names)


def _read_parquet_buckets(path: Path, limit: int | None) -> list[Any]:
    """Tables of a Parquet file/folder, one per schema (families have different level columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    if not files:
        raise LooplabError("no Parquet files", str(path))
    buckets: dict[tuple, list] = defaultdict(list)
    n = 0
    for f in files:
        try:
            names = [c for c in pq.read_schema(f).names if c != "mapping_vec"]
            t = pq.read_table(f, columns=names)
        except (OSError, pa.ArrowException) as exc:
            raise LooplabError(f"cannot read Parquet: {exc}", str(f)) from None
        if limit is not None:
            t = t.slice(0, max(0, limit - n))
        n += t.num_rows
        if t.num_rows:
            buckets[tuple(names)].append(t)
        if limit is not None and n >= limit:
            break
    return [pa.concat_tables(ts) for ts in buckets.values()]


def load_parquet(path: Path, estimated_ert: bool = False, ert_dir: Path | None = None, limit: int | None = None,
                 archs: Sequence[str] | None = None) -> list[Group]:
    """Groups of a sweep dataset (looplab store folder, any Parquet folder, or one Parquet file)."""
    erts = _Erts(estimated_ert)
    arch_cache: dict[tuple, ArchSpec] = {}
    groups: list[Group] = []
    for table in _read_parquet_buckets(path, limit):
        groups += _groups_of_table(table, str(path), erts, arch_cache, ert_dir, archs)
    return groups


def _groups_of_table(table: Any, where: str, erts: _Erts, arch_cache: dict, ert_dir: Path | None,
                     archs: Sequence[str] | None) -> list[Group]:
    cols = {name: np.asarray(table.column(name).to_numpy(zero_copy_only=False)) for name in table.column_names}
    for k in ("family", "valid", "cycles", "energy_pJ", *LAYER_KEYS[:7]):
        if k not in cols:
            raise LooplabError(f"missing column {k!r}", where)
    n = table.num_rows
    arch_col = cols.get("arch", np.array([""] * n, dtype=object))
    param_cols = [c for c in cols if c.startswith("arch_") and c != "arch_origin"]
    layer_dims = np.stack([np.asarray(cols[k], dtype=float) if k in cols else np.ones(n) for k in LAYER_KEYS], 1)
    keys: dict[tuple, list[int]] = defaultdict(list)
    for i in range(n):
        if archs and arch_col[i] not in archs:
            continue
        pkey = tuple((c, cols[c][i]) for c in param_cols if cols[c][i] is not None and not _isnan(cols[c][i]))
        keys[(str(cols["family"][i]), str(arch_col[i]), pkey, tuple(layer_dims[i]))].append(i)
    groups = []
    for (family, arch_name, pkey, dims_t), rows in keys.items():
        idx = np.array(rows)
        akey = (family, pkey)
        if akey not in arch_cache:
            params = {c[len("arch_"):]: v for c, v in pkey}
            arch_cache[akey] = _arch_from_params(family, params, arch_name)
        arch = arch_cache[akey]
        ert_path = ert_dir / arch_name / "ERT.yaml" if ert_dir is not None and arch_name else None
        ert, src = erts.get(akey, arch, ert_path)
        valid = cols["valid"][idx]
        known = np.array([v is not None and not _isnan(v) for v in valid])
        idx = idx[known]
        if not len(idx):
            continue
        tv = np.asarray(cols["valid"][idx], dtype=bool)
        cyc = np.where(tv, pd_float(cols["cycles"][idx]), np.nan)
        en = np.where(tv, pd_float(cols["energy_pJ"][idx]), np.nan)
        dims = {k: int(v) for k, v in zip(LAYER_KEYS, dims_t, strict=True)}
        layer = str(cols["layer"][idx[0]]) if "layer" in cols else str(dims)
        ids = [f"{cols['task_id'][i]}:{cols['point'][i]}" if "task_id" in cols and "point" in cols else str(i)
               for i in idx]
        groups.append(Group(arch_name=arch_name or f"{family}{dict(pkey)}", family=family, arch=arch, ert=ert,
                            ert_source=src, layer=layer, dims=dims, batch=_batch_from_columns(cols, idx, arch, where),
                            ids=ids, truth_valid=tv, truth_cycles=cyc, truth_energy=en,
                            sources=[str(cols["backend"][i]) for i in idx] if "backend" in cols else []))
    return groups


def pd_float(values: np.ndarray) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def dosa_arch(params: dict[str, Any], bandwidths: dict[str, dict[str, float]],
              where: str = "DOSA row") -> tuple[str, ArchSpec]:
    """(name, architecture) of a DOSA row: looplab's Gemmini template at the row's sizes (``params`` as from
    :func:`mappers.dosa.dosa_arch_params`), with the row's ``bandwidths`` (:func:`mappers.dosa.dosa_bandwidths`)
    where they differ from the template (the name then ends in ``_bw_...``)."""
    from looplab.archspec import with_bandwidths
    from mappers.dosa import GEMMINI_LEVELS

    name = "gemmini_pe{pe_dim}_sp{sp_kib}_acc{acc_kib}".format(**params)
    arch = _arch_from_params("gemmini", params, name)
    if tuple(arch.storage_names) != GEMMINI_LEVELS:
        raise LooplabError(f"gemmini levels {arch.storage_names} differ from DOSA's {GEMMINI_LEVELS}", where)
    differ = {lv: dict(b) for lv, b in bandwidths.items()
              if any(getattr(arch.level(lv), k) != v for k, v in b.items())}
    if differ:
        arch = with_bandwidths(arch, differ)
        name += "_bw_" + "_".join(f"{lv}-" + "-".join(f"{k.split('_')[0]}{v:g}" for k, v in sorted(b.items()))
                                  for lv, b in sorted(differ.items()))
    return name, arch


def load_dosa(path: Path, estimated_ert: bool = True, limit: int | None = None) -> list[Group]:
    """Groups of a DOSA dataset CSV (Gemmini-like; every row is a valid mapping; ``target.energy`` in uJ).

    Each row's architecture is looplab's Gemmini template at the row's sizes, with the row's
    ``arch.mem<i>_*_bandwidth`` columns where they differ from the template.
    """
    from mappers.dosa import dosa_timeloop_cycles, iter_dosa_csv
    from mappers.mapping import MappingBatch

    by_key: dict[tuple, list] = defaultdict(list)
    for n, row in enumerate(iter_dosa_csv(path), start=1):
        bw = tuple(sorted((lv, tuple(sorted(b.items()))) for lv, b in row.bandwidths.items()))
        by_key[(tuple(sorted(row.arch_params.items())), bw, tuple(row.dims[k] for k in LAYER_KEYS))].append(row)
        if limit and n >= limit:
            break
    erts = _Erts(True)
    archs: dict[tuple, tuple[str, ArchSpec]] = {}
    groups = []
    for (pkey, bw, dims_t), rows in by_key.items():
        if (pkey, bw) not in archs:
            archs[(pkey, bw)] = dosa_arch(dict(pkey), {lv: dict(b) for lv, b in bw}, str(path))
        name, arch = archs[(pkey, bw)]
        ert, src = erts.get(pkey, arch, None)
        for r in rows:
            for k in ("cycle", "energy"):
                if k not in r.targets:
                    raise LooplabError(f"missing target.{k}", f"{path}: line {r.line}")
        cycles, sources = zip(*(dosa_timeloop_cycles(r.targets) for r in rows), strict=True)
        groups.append(Group(arch_name=name, family="gemmini", arch=arch, ert=ert, ert_source=src,
                            layer=str(dict(zip(LAYER_KEYS, dims_t, strict=True))),
                            dims=dict(zip(LAYER_KEYS, dims_t, strict=True)),
                            batch=MappingBatch.from_mappings([r.mapping for r in rows], arch.storage_names),
                            ids=[f"line {r.line}" for r in rows], truth_valid=np.ones(len(rows), bool),
                            truth_cycles=np.array(cycles, float),
                            truth_energy=np.array([r.targets["energy"] * 1e6 for r in rows], float),
                            sources=list(sources)))
    return groups


def load_groups(data: str | Path, estimated_ert: bool = False, ert_dir: str | Path | None = None,
                limit: int | None = None, archs: Sequence[str] | None = None) -> tuple[str, list[Group]]:
    path = Path(data)
    kind = detect_kind(path)
    if kind == "reference":
        return kind, load_reference(path, estimated_ert, limit, archs)
    if kind == "parquet":
        return kind, load_parquet(path, estimated_ert, Path(ert_dir) if ert_dir else None, limit, archs)
    return kind, load_dosa(path, True, limit)


# ----------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------
Model = Callable[[ArchSpec, Any, dict, Any], Any]


def analytical_model(build: str = "reference") -> Model:
    """The analytical model's batched entry point (``looplab.analytical.evaluate_batch``), reproducing the
    Timeloop ``build`` (:mod:`looplab.analytical.builds`)."""
    try:
        from looplab.analytical import evaluate_batch
        from looplab.analytical.builds import check_build
    except ImportError as exc:
        raise LooplabError(f"the analytical model is not available ({exc})") from None
    return functools.partial(evaluate_batch, build=check_build(build))


@dataclass
class Results:
    """Row-aligned arrays over every evaluated mapping."""

    arch: np.ndarray
    family: np.ndarray
    layer: np.ndarray
    ids: np.ndarray
    kinds: np.ndarray
    sources: np.ndarray
    ert_source: np.ndarray
    truth_valid: np.ndarray
    truth_cycles: np.ndarray
    truth_energy: np.ndarray
    pred_valid: np.ndarray
    pred_cycles: np.ndarray
    pred_energy: np.ndarray
    model_seconds: float  # time in model calls, after the start-up
    failures: list[dict]
    startup_seconds: float = 0.0  # the one-time start-up (kernel compile or cache load), timed apart

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def both_valid(self) -> np.ndarray:
        return self.truth_valid & self.pred_valid

    def metric_mask(self, name: str) -> np.ndarray:
        """Rows both call valid whose recording has the metric (a dataset may lack energy, e.g. some imports)."""
        m = self.both_valid
        if name in ("cycles", "edp"):
            m = m & np.isfinite(self.truth_cycles)
        if name in ("energy", "edp"):
            m = m & np.isfinite(self.truth_energy)
        return m

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(prediction, truth) for ``cycles``, ``energy`` or ``edp`` over the rows both call valid that have it."""
        if name not in METRICS:
            raise LooplabError(f"unknown metric {name!r} (expected one of {METRICS})")
        m = self.metric_mask(name)
        if name == "cycles":
            return self.pred_cycles[m], self.truth_cycles[m]
        if name == "energy":
            return self.pred_energy[m], self.truth_energy[m]
        if name == "edp":
            return self.pred_cycles[m] * self.pred_energy[m], self.truth_cycles[m] * self.truth_energy[m]
        raise LooplabError(f"unknown metric {name!r} (expected one of {METRICS})")


def evaluate_groups(groups: Sequence[Group], model: Model | None = None, progress: bool = True,
                    chunk: int = 65536) -> Results:
    """Run ``model(arch, ert, dims, batch)`` on every group; keep row alignment; time only the model calls."""
    model = model or analytical_model()
    total = sum(len(g) for g in groups)
    startup = warm_up(groups, model)
    from looplab.progress import Progress

    bar = Progress(total=total, unit="map", desc="analytical", enabled=progress)
    cols: dict[str, list] = defaultdict(list)
    secs = 0.0
    failures = []
    for g in groups:
        B = len(g)
        t0 = time.perf_counter()
        try:
            res = model(g.arch, g.ert, g.dims, g.batch)
        except LooplabError as exc:
            failures.append({"arch": g.arch_name, "layer": g.layer, "n": B, "error": str(exc)})
            bar.update(B)
            continue
        secs += time.perf_counter() - t0
        pv = np.asarray(res.valid, dtype=bool)
        cols["pred_valid"].append(pv)
        cols["pred_cycles"].append(np.where(pv, np.asarray(res.cycles, dtype=float), np.nan))
        cols["pred_energy"].append(np.where(pv, np.asarray(res.energy_pJ, dtype=float), np.nan))
        for k in ("truth_valid", "truth_cycles", "truth_energy"):
            cols[k].append(getattr(g, k))
        cols["arch"].append(np.full(B, g.arch_name, dtype=object))
        cols["family"].append(np.full(B, g.family, dtype=object))
        cols["layer"].append(np.full(B, g.layer, dtype=object))
        cols["ids"].append(np.array(g.ids, dtype=object))
        cols["kinds"].append(np.array(g.kinds if g.kinds else [""] * B, dtype=object))
        cols["sources"].append(np.array(g.sources if g.sources else ["unknown"] * B, dtype=object))
        cols["ert_source"].append(np.full(B, g.ert_source, dtype=object))
        bar.update(B)
    bar.close()
    keys = ("arch", "family", "layer", "ids", "kinds", "sources", "ert_source", "truth_valid", "truth_cycles",
            "truth_energy", "pred_valid", "pred_cycles", "pred_energy")
    arrays = {k: np.concatenate(cols[k]) if cols[k] else np.array([]) for k in keys}
    for k in ("truth_valid", "pred_valid"):
        arrays[k] = arrays[k].astype(bool)
    return Results(**arrays, model_seconds=secs, failures=failures, startup_seconds=startup)


#: A group at least this large runs the model's parallel launch (mappers.validity_kernel.PARALLEL_MIN_ROWS).
PARALLEL_WARM_ROWS = 4096


def warm_up(groups: Sequence[Group], model: Model) -> float:
    """Run ``model`` once on a row of the first group (and on the first rows of a group big enough for the
    parallel launch): the one-time start-up (numba's compile on first use, or its load from cache) is paid here
    and timed apart from the evaluations. Returns the seconds; failures are left to the timed run."""
    t0 = time.perf_counter()
    probes = [(groups[0], 1)] if groups else []
    big = next((g for g in groups if len(g) >= PARALLEL_WARM_ROWS), None)
    if big is not None:
        probes.append((big, PARALLEL_WARM_ROWS))
    for g, n in probes:
        try:
            model(g.arch, g.ert, g.dims, g.batch[:n])
        except LooplabError:
            pass
    return time.perf_counter() - t0


def summarize(res: Results) -> dict[str, Any]:
    """summary.json content: overall, per family and per architecture."""

    def block(mask: np.ndarray) -> dict[str, Any]:
        sub = _subset(res, mask)
        out: dict[str, Any] = {"n": len(sub), "n_valid_truth": int(sub.truth_valid.sum()),
                               "n_valid_both": int(sub.both_valid.sum()),
                               "validity": validity_summary(sub.pred_valid, sub.truth_valid)}
        for m in METRICS:
            out[m] = error_summary(*sub.metric(m))
        return out

    everything = np.ones(len(res), bool)
    out = block(everything)
    out["evaluations"] = len(res)
    out["model_seconds"] = res.model_seconds
    out["startup_seconds"] = res.startup_seconds
    out["evaluations_per_second"] = len(res) / res.model_seconds if res.model_seconds > 0 else None
    out["ert"] = {k: int(np.sum(res.ert_source == k)) for k in sorted(set(res.ert_source.tolist()))}
    out["recorded_by"] = {k: int(np.sum(res.sources == k)) for k in sorted(set(res.sources.tolist()))}
    out["by_family"] = {f: block(res.family == f) for f in sorted(set(res.family.tolist()))}
    out["by_arch"] = {a: block(res.arch == a) for a in sorted(set(res.arch.tolist()))}
    out["failed_groups"] = res.failures
    return out


def _subset(res: Results, mask: np.ndarray) -> Results:
    arrays = {k: getattr(res, k)[mask] for k in ("arch", "family", "layer", "ids", "kinds", "sources", "ert_source",
                                                  "truth_valid", "truth_cycles", "truth_energy", "pred_valid",
                                                  "pred_cycles", "pred_energy")}
    return Results(**arrays, model_seconds=res.model_seconds, failures=[], startup_seconds=res.startup_seconds)


def worst_cases(res: Results, metric: str, k: int = 10) -> list[dict[str, Any]]:
    m = np.flatnonzero(res.metric_mask(metric))
    pred, truth = res.metric(metric)
    if not len(m):
        return []
    e = relative_errors(pred, truth)
    order = np.argsort(-e)[:k]
    return [{"id": str(res.ids[m[i]]), "arch": str(res.arch[m[i]]), "layer": str(res.layer[m[i]]),
             "model": float(pred[i]), "truth": float(truth[i]), "rel_err": float(e[i])} for i in order]


def validity_disagreements(res: Results, k: int = 10) -> list[dict[str, Any]]:
    bad = np.flatnonzero(res.pred_valid != res.truth_valid)
    return [{"id": str(res.ids[i]), "arch": str(res.arch[i]), "layer": str(res.layer[i]),
             "model_valid": bool(res.pred_valid[i]), "truth_valid": bool(res.truth_valid[i])} for i in bad[:k]]


# ----------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------
def _pct(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def render_report(summary: dict[str, Any], res: Results, plots: dict[str, str]) -> str:
    s = summary
    lines = ["# Analytical model vs recorded simulator results", "",
             f"Data: `{s['data']}` ({s['data_kind']}). Model reproduces Timeloop build: "
             f"`{s.get('timeloop_build', 'reference')}`. Rows evaluated: {s['n']} "
             f"({s['n_valid_truth']} valid in the recording, {s['n_valid_both']} valid in both). "
             f"Energy tables: " + ", ".join(f"{v} rows with {k} ERT" for k, v in s["ert"].items()) + ".",
             "", f"Model time {s['model_seconds']:.3f} s → **{s['evaluations_per_second'] or 0:,.0f} "
             f"evaluations/s** (batched per (architecture, layer); timed after a one-time start-up of "
             f"{s.get('startup_seconds', 0):.1f} s -- numba compiling the kernels on first use on a machine, or "
             f"loading them from its cache -- which is not counted; wall {s['wall_seconds']:.1f} s incl. loading "
             f"and start-up).",
             "", "Recorded results produced by: " + ", ".join(f"{k} ({v} rows)" for k, v in s["recorded_by"].items())
             + ".",
             *(["", "**Warning: some recorded results come from the analytical backend itself; those rows "
                    "compare the model with itself, not with Timeloop.**"] if "analytical" in s["recorded_by"] else []),
             "", "## Validity", "",
             f"Agreement {s['validity']['agree']}/{s['validity']['n']} = "
             f"**{_pct(s['validity']['agreement'], 3)}**.", "",
             "| model \\ recorded | valid | invalid |", "|---|---|---|"]
    c = s["validity"]["confusion_model_vs_truth"]
    lines += [f"| valid | {c['valid_valid']} | {c['valid_invalid']} |",
              f"| invalid | {c['invalid_valid']} | {c['invalid_invalid']} |", "",
              "## Cycles, energy, EDP (rows valid in both)", "",
              "| metric | n | mean rel. err | median | p99 | max | within 1% | within 0.1% | exact |",
              "|---|---|---|---|---|---|---|---|---|"]
    for m in METRICS:
        e = s[m]
        lines.append(f"| {m} | {e['n']} | {_pct(e['mean'], 4)} | {_pct(e['median'], 4)} | {_pct(e['p99'], 4)} | "
                     f"{_pct(e['max'], 3)} | {_pct(e['within_1pct'], 2)} | {_pct(e['within_0.1pct'], 2)} | "
                     f"{_pct(e['exact'], 2)} |")
    lines += ["", "## Per architecture", "",
              "| arch | n | validity | cycles mean / max | energy mean / max | EDP within 1% |",
              "|---|---|---|---|---|---|"]
    for a, b in s["by_arch"].items():
        lines.append(f"| {a} | {b['n']} | {_pct(b['validity']['agreement'], 2)} | "
                     f"{_pct(b['cycles']['mean'], 4)} / {_pct(b['cycles']['max'], 3)} | "
                     f"{_pct(b['energy']['mean'], 4)} / {_pct(b['energy']['max'], 3)} | "
                     f"{_pct(b['edp']['within_1pct'], 2)} |")
    lines += ["", "## Plots", ""]
    for title, fname in plots.items():
        lines += [f"### {title}", "", f"![{title}]({fname})", ""]
    for m in METRICS:
        w = worst_cases(res, m, 5)
        if w:
            lines += [f"## Largest {m} errors", "", "| id | model | recorded | rel. err |", "|---|---|---|---|"]
            lines += [f"| `{r['id']}` | {r['model']:.6g} | {r['truth']:.6g} | {_pct(r['rel_err'], 4)} |" for r in w]
            lines.append("")
    dis = validity_disagreements(res)
    if dis:
        lines += ["## Validity disagreements (first 10)", "", "| id | model | recorded |", "|---|---|---|"]
        lines += [f"| `{r['id']}` | {'valid' if r['model_valid'] else 'invalid'} | "
                  f"{'valid' if r['truth_valid'] else 'invalid'} |" for r in dis]
        lines.append("")
    if s["failed_groups"]:
        lines += ["## Groups the model could not evaluate", ""]
        lines += [f"- {f['arch']} / {f['layer']} ({f['n']} rows): {f['error']}" for f in s["failed_groups"]]
        lines.append("")
    return "\n".join(lines)


def write_outputs(res: Results, out_dir: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    from looplab import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {**meta, **summarize(res)}
    made: dict[str, str] = {}
    for m in METRICS:
        pred, truth = res.metric(m)
        if len(pred):
            mask = res.metric_mask(m)
            made[f"{m}: model vs recorded"] = plots.scatter_loglog(pred, truth, out / f"scatter_{m}.png", m,
                                                                   arch=res.arch[mask], family=res.family[mask])
            made[f"{m}: relative error"] = plots.error_histogram(pred, truth, out / f"error_hist_{m}.png", m)
    made["validity confusion"] = plots.confusion(summary["validity"]["confusion_model_vs_truth"],
                                                 out / "validity_confusion.png")
    summary["plots"] = sorted(made.values())
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    (out / "report.md").write_text(render_report(summary, res, made))
    return summary


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer | np.floating | np.bool_):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def correlate(data_path: str | Path, out_dir: str | Path, model: Model | None = None, *, estimated_ert: bool = False,
              ert_dir: str | Path | None = None, limit: int | None = None, archs: Sequence[str] | None = None,
              progress: bool = True, timeloop_build: str = "reference") -> dict[str, Any]:
    """Evaluate the analytical model on every row of ``data_path``; write the report into ``out_dir``.

    ``timeloop_build`` picks the Timeloop build the analytical model reproduces (``reference``, or ``dosa`` for
    data labelled by DOSA's build); ignored when ``model`` is given. Returns the summary (also written to
    ``summary.json``).
    """
    t0 = time.perf_counter()
    if model is None:
        model = analytical_model(timeloop_build)
    kind, groups = load_groups(data_path, estimated_ert, ert_dir, limit, archs)
    if not groups:
        raise LooplabError("no rows to evaluate", str(data_path))
    res = evaluate_groups(groups, model, progress)
    meta = {"data": str(data_path), "data_kind": kind, "wall_seconds": time.perf_counter() - t0,
            "timeloop_build": timeloop_build}
    summary = write_outputs(res, out_dir, meta)
    if all(summary[m]["n"] == 0 for m in METRICS):
        raise LooplabError(f"nothing to compare: no row has a recorded cycles or energy value where both the model "
                           f"and the recording call the mapping valid ({summary['n']} rows, "
                           f"{summary['n_valid_truth']} valid in the recording, {summary['n_valid_both']} in both); "
                           f"the validity-only report is in {out_dir}", str(data_path))
    return summary
