"""Sweep specification (YAML) with validation, and the deterministic plan of tasks it expands to.

A sweep = accelerators x layers x sampled mappings. The spec is expanded into an ordered list of
:class:`Task` (one accelerator, one layer, one seed-derived sampler batch). The list depends only on the
spec, so a resumed sweep recomputes exactly the same tasks; the task id names the Parquet part file.

Example (``sweeps/default.yaml``)::

    name: presets-resnet50
    seed: 0
    out: out/sweeps/presets-resnet50     # relative to the current directory
    backend: analytical                  # analytical | timeloop | pytimeloop
    accelerators:
      presets: [simba_final, arch0]      # arch_gen presets
      grid: {family: simba, limit: 16}   # the 2,304-config Simba grid (limit/stride optional)
      random: [{family: gemmini, n: 4, seed: 1}]
      files: [{arch: eyeriss_like/arch.yaml, ert: eyeriss_like/ERT.yaml}]   # any Timeloop architecture file
    workloads:
      - resnet50                         # every layer of a catalog workload
      - {workload: resnet50, layers: [resnet50._outputs_input.2, 0]}   # names or indices
    mappings: {valid: 10, invalid: 100}  # sampler quotas per (accelerator, layer)
    points_per_task: 8192                # task size (default 8192 analytical, 32 Timeloop): bounds memory
    execution: {workers: 0, max_attempts: 2, timeout_s: 120, energy: auto, kernel: auto}
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from looplab.errors import LooplabError

BACKENDS = ("analytical", "timeloop", "pytimeloop")
ENERGY_SOURCES = ("auto", "accelergy", "estimator")
KERNELS = ("auto", "numba", "numpy")
FAMILIES = ("simba", "gemmini")
CLUSTER_TYPES = ("slurm", "pbs", "sge", "lsf", "htcondor", "moab", "oar")

_TOP_KEYS = {"name", "seed", "out", "backend", "accelerators", "workloads", "mappings", "points_per_task",
             "execution", "cluster", "store"}


@dataclass(frozen=True)
class RandomAccels:
    family: str
    n: int
    seed: int


@dataclass(frozen=True)
class GridAccels:
    family: str = "simba"
    limit: int | None = None
    stride: int = 1


@dataclass(frozen=True)
class WorkloadSel:
    workload: str
    layers: tuple[str | int, ...] | None = None  # None: every layer


@dataclass(frozen=True)
class Execution:
    workers: int = 0  # 0: one per CPU core
    max_attempts: int = 2
    timeout_s: float = 120.0
    energy: str = "auto"  # ERT source: accelergy (ensure_ert), estimator, auto (accelergy when found)
    kernel: str = "auto"  # analytical model path: numba (compiled, fast, ~30 s JIT per process), numpy, auto


@dataclass(frozen=True)
class StoreOptions:
    mapping_yaml: bool | None = None  # store each point's mapping YAML; None (auto): for the Timeloop backends

    def with_yaml(self, backend: str) -> bool:
        return self.mapping_yaml if self.mapping_yaml is not None else backend != "analytical"
    compression: str = "lz4"  # fast; zstd: ~40% smaller files, slower to write


@dataclass(frozen=True)
class SweepSpec:
    name: str
    out: Path
    seed: int = 0
    backend: str = "analytical"
    presets: tuple[str, ...] = ()
    grid: GridAccels | None = None
    random: tuple[RandomAccels, ...] = ()
    files: tuple[tuple[str, str | None], ...] = ()  # (architecture file, its ERT or None), absolute paths
    workloads: tuple[WorkloadSel, ...] = ()
    n_valid: int = 10
    n_invalid: int = 100
    points_per_task: int = 8192
    execution: Execution = field(default_factory=Execution)
    store: StoreOptions = field(default_factory=StoreOptions)
    cluster: dict[str, Any] | None = None  # dask-jobqueue cluster spec (type + class kwargs)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        d.pop("source")
        return d

    def plan_dict(self) -> dict[str, Any]:
        """What determines the task list and the rows (not where it runs): hashed to guard resume."""
        d = self.to_dict()
        for k in ("out", "execution", "cluster"):
            d.pop(k)
        d["timeout_s"] = self.execution.timeout_s
        d["energy"] = self.execution.energy
        d["kernel"] = self.execution.kernel
        return d

    @property
    def plan_hash(self) -> str:
        text = json.dumps(self.plan_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- parsing / validation -------------------------------------------------------------------------------------


def _int(v: Any, where: str, lo: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise LooplabError(f"expected an integer, got {v!r}", where)
    if v < lo:
        raise LooplabError(f"must be >= {lo}, got {v}", where)
    return v


def _keys(d: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(d, dict):
        raise LooplabError(f"expected a mapping, got {type(d).__name__}", where)
    bad = sorted(set(d) - allowed)
    if bad:
        raise LooplabError(f"unknown keys {bad} (allowed: {sorted(allowed)})", where)
    return d


def _family(v: Any, where: str) -> str:
    if v not in FAMILIES:
        raise LooplabError(f"unknown family {v!r} (expected one of {list(FAMILIES)})", where)
    return str(v)


def parse_spec(data: str | Path | dict, source: str | None = None, out: str | Path | None = None,
               backend: str | None = None) -> SweepSpec:
    """Read and validate a sweep spec (a YAML path, YAML text or a dict); ``out``/``backend`` override the spec's."""
    one_line = isinstance(data, str) and "\n" not in data.strip()
    if isinstance(data, Path) or (one_line and (data.endswith((".yaml", ".yml")) or Path(data).exists())):
        path = Path(data)
        source = source or str(path)
        if path.is_dir():
            raise LooplabError("is a directory; expected a sweep spec file", source)
        if not path.is_file():
            raise LooplabError("no such sweep spec file", source)
        data = path.read_text()
        one_line = False
    where = source or "sweep spec"
    if isinstance(data, str):
        try:
            loaded = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise LooplabError(f"not valid YAML: {exc}", where) from None
        if one_line and not isinstance(loaded, dict):  # a path that does not exist, not one-line YAML
            raise LooplabError("no such sweep spec file (a spec is a YAML file, YAML text or a dict)", data.strip())
        data = loaded
    d = _keys(data, _TOP_KEYS, where)
    name = str(d.get("name") or (Path(source).stem if source else "sweep"))
    out_v = out if out is not None else d.get("out")
    if not out_v:
        raise LooplabError("missing 'out' (the dataset folder)", where)
    seed = _int(d.get("seed", 0), f"{where}: seed")
    backend = backend or d.get("backend", "analytical")
    if backend not in BACKENDS:
        raise LooplabError(f"unknown backend {backend!r} (expected one of {list(BACKENDS)})", f"{where}: backend")

    acc = _keys(d.get("accelerators"), {"presets", "grid", "random", "files"}, f"{where}: accelerators")
    presets = acc.get("presets") or []
    if isinstance(presets, str):
        presets = [presets]
    if not isinstance(presets, list) or not all(isinstance(p, str) for p in presets):
        raise LooplabError("expected a list of preset names", f"{where}: accelerators.presets")
    if len(set(presets)) != len(presets):
        raise LooplabError("preset listed twice", f"{where}: accelerators.presets")
    grid = None
    g = acc.get("grid")
    if g is True or g == "simba":
        grid = GridAccels()
    elif isinstance(g, dict):
        gw = f"{where}: accelerators.grid"
        _keys(g, {"family", "limit", "stride"}, gw)
        fam = _family(g.get("family", "simba"), f"{gw}.family")
        if fam != "simba":
            raise LooplabError("only the Simba grid (2,304 configurations) exists", f"{gw}.family")
        limit = g.get("limit")
        grid = GridAccels(fam, None if limit is None else _int(limit, f"{gw}.limit", 1),
                          _int(g.get("stride", 1), f"{gw}.stride", 1))
    elif g not in (None, False):
        raise LooplabError(f"expected true or a mapping, got {g!r}", f"{where}: accelerators.grid")
    rnd = acc.get("random") or []
    if isinstance(rnd, dict):
        rnd = [rnd]
    randoms = []
    for i, r in enumerate(rnd):
        rw = f"{where}: accelerators.random[{i}]"
        _keys(r, {"family", "n", "seed"}, rw)
        randoms.append(RandomAccels(_family(r.get("family"), f"{rw}.family"), _int(r.get("n"), f"{rw}.n", 1),
                                    _int(r.get("seed", seed + i), f"{rw}.seed")))
    files = _files(acc.get("files"), Path(source).parent if source and Path(source).is_file() else Path.cwd(),
                   f"{where}: accelerators.files")
    if not presets and grid is None and not randoms and not files:
        raise LooplabError("no accelerators (give presets, grid, random or files)", f"{where}: accelerators")

    wl = d.get("workloads")
    if isinstance(wl, str | dict):
        wl = [wl]
    if not isinstance(wl, list) or not wl:
        raise LooplabError("expected a non-empty list of workloads", f"{where}: workloads")
    sels = []
    for i, w in enumerate(wl):
        ww = f"{where}: workloads[{i}]"
        if isinstance(w, str):
            sels.append(WorkloadSel(w))
            continue
        _keys(w, {"workload", "layers"}, ww)
        if not isinstance(w.get("workload"), str):
            raise LooplabError("missing 'workload' name", ww)
        layers = w.get("layers")
        if layers is not None:
            if not isinstance(layers, list) or not layers or not all(
                    isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool)) for x in layers):
                raise LooplabError("'layers' must be a non-empty list of layer names or indices", ww)
            layers = tuple(layers)
        sels.append(WorkloadSel(w["workload"], layers))

    m = _keys(d.get("mappings", {}), {"valid", "invalid"}, f"{where}: mappings")
    n_valid = _int(m.get("valid", 10), f"{where}: mappings.valid")
    n_invalid = _int(m.get("invalid", 100), f"{where}: mappings.invalid")
    if n_valid + n_invalid == 0:
        raise LooplabError("quotas are both zero", f"{where}: mappings")
    ppt = _int(d.get("points_per_task", 8192 if backend == "analytical" else 32), f"{where}: points_per_task", 1)

    e = _keys(d.get("execution", {}), {"workers", "max_attempts", "timeout_s", "energy", "kernel"},
              f"{where}: execution")
    timeout = e.get("timeout_s", 120.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise LooplabError(f"expected a positive number, got {timeout!r}", f"{where}: execution.timeout_s")
    energy = e.get("energy", "auto")
    if energy not in ENERGY_SOURCES:
        raise LooplabError(f"expected one of {list(ENERGY_SOURCES)}, got {energy!r}", f"{where}: execution.energy")
    kernel = e.get("kernel", "auto")
    if kernel not in KERNELS:
        raise LooplabError(f"expected one of {list(KERNELS)}, got {kernel!r}", f"{where}: execution.kernel")
    execution = Execution(_int(e.get("workers", 0), f"{where}: execution.workers"),
                          _int(e.get("max_attempts", 2), f"{where}: execution.max_attempts", 1),
                          float(timeout), energy, kernel)
    s = _keys(d.get("store", {}), {"mapping_yaml", "compression"}, f"{where}: store")
    my = s.get("mapping_yaml", "auto")
    if my not in ("auto", True, False):
        raise LooplabError(f"expected true, false or auto, got {my!r}", f"{where}: store.mapping_yaml")
    store = StoreOptions(None if my == "auto" else my, str(s.get("compression", "lz4")))
    if store.compression not in ("zstd", "snappy", "gzip", "none", "lz4", "brotli"):
        raise LooplabError(f"unknown compression {store.compression!r}", f"{where}: store.compression")

    cluster = d.get("cluster")
    if cluster is not None:
        cluster = parse_cluster(cluster, f"{where}: cluster")
    return SweepSpec(name=name, out=Path(out_v), seed=seed, backend=backend, presets=tuple(presets), grid=grid,
                     random=tuple(randoms), files=files, workloads=tuple(sels), n_valid=n_valid, n_invalid=n_invalid,
                     points_per_task=ppt, execution=execution, store=store, cluster=cluster, source=source)


def _files(v: Any, base: Path, where: str) -> tuple[tuple[str, str | None], ...]:
    """``files: [ARCH.yaml, {arch: ARCH.yaml, ert: ERT.yaml}, ...]`` (paths relative to the spec's folder)."""
    if v is None:
        return ()
    if isinstance(v, str | dict):
        v = [v]
    if not isinstance(v, list):
        raise LooplabError("expected a list of architecture files", where)
    out = []
    for i, f in enumerate(v):
        w = f"{where}[{i}]"
        if isinstance(f, str):
            f = {"arch": f}
        f = _keys(f, {"arch", "ert"}, w)
        paths = []
        for key in ("arch", "ert"):
            if f.get(key) is None:
                paths.append(None)
                continue
            p = Path(str(f[key])).expanduser()
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                raise LooplabError(f"{key} file not found: {p}", f"{w}.{key}")
            paths.append(str(p.resolve()))
        if paths[0] is None:
            raise LooplabError("missing 'arch' (the architecture file)", w)
        out.append((paths[0], paths[1]))
    if len({a for a, _ in out}) != len(out):
        raise LooplabError("architecture file listed twice", where)
    return tuple(out)


def parse_cluster(c: Any, where: str) -> dict[str, Any]:
    """A dask-jobqueue cluster spec: ``{type: slurm|pbs|..., jobs: N, <kwargs of the jobqueue cluster class>}``."""
    if not isinstance(c, dict):
        raise LooplabError("expected a mapping with 'type' (slurm, pbs, ...) and cluster options", where)
    if c.get("type") not in CLUSTER_TYPES:
        raise LooplabError(f"'type' must be one of {list(CLUSTER_TYPES)}, got {c.get('type')!r}", where)
    if "jobs" in c:
        _int(c["jobs"], f"{where}.jobs", 1)
    return dict(c)


# ---- the plan --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccelRef:
    """One accelerator of the sweep: family + the template parameters (keys of reference params.json)."""

    name: str
    family: str
    params: dict[str, Any]
    origin: str  # preset | grid | random | file
    source: str | None = None  # the architecture file (origin "file")
    ert: str | None = None  # its ERT, when given


@dataclass(frozen=True)
class LayerRef:
    name: str
    workload: str
    dims: dict[str, int]  # the 11 problem dims
    count: int = 1


@dataclass(frozen=True)
class Unit:
    """One sampler batch: one accelerator, one layer, quotas, and the seed the sampler gets."""

    accel_index: int
    accel: AccelRef
    layer_index: int
    layer: LayerRef
    chunk: int
    n_valid: int
    n_invalid: int
    seed: int

    @property
    def n_points(self) -> int:
        return self.n_valid + self.n_invalid


@dataclass(frozen=True)
class Task:
    """One unit of work: consecutive sampler batches (same family) of at most ``points_per_task`` points in all.
    ``id`` names its Parquet part file."""

    id: str
    family: str
    units: tuple[Unit, ...]

    @property
    def n_points(self) -> int:
        return sum(u.n_points for u in self.units)

    @staticmethod
    def _span(names: list[str], what: str) -> str:
        names = list(dict.fromkeys(names))
        return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]} ({len(names)} {what})"

    @property
    def accel_names(self) -> str:
        return self._span([u.accel.name for u in self.units], "accelerators")

    @property
    def layer_names(self) -> str:
        return self._span([u.layer.name for u in self.units], "layers")


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from names (stable across Python versions and processes, unlike ``hash``)."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def split_quota(n: int, chunks: int) -> list[int]:
    return [n // chunks + (1 if c < n % chunks else 0) for c in range(chunks)]


def plan_tasks(spec: SweepSpec, accels: list[AccelRef], layers: list[LayerRef]) -> Iterator[Task]:
    """The sweep's tasks, in a fixed order (accelerator-major).

    Per (accelerator, layer) the quotas are split into sampler batches of at most ``points_per_task`` points;
    consecutive batches of the same family are then packed, in order, into tasks of at most ``points_per_task``
    points (big tasks keep the per-task costs -- a Parquet file, a worker round trip -- small).
    """
    total = spec.n_valid + spec.n_invalid
    ppt = spec.points_per_task
    n_chunks = max(1, math.ceil(total / ppt))
    qv, qi = split_quota(spec.n_valid, n_chunks), split_quota(spec.n_invalid, n_chunks)
    k = 0
    cur: list[Unit] = []
    for ai, acc in enumerate(accels):
        pkey = json.dumps(acc.params, sort_keys=True)
        for li, layer in enumerate(layers):
            for c in range(n_chunks):
                u = Unit(ai, acc, li, layer, c, qv[c], qi[c], derive_seed(spec.seed, acc.family, pkey, layer.name, c))
                if cur and (cur[0].accel.family != acc.family or sum(x.n_points for x in cur) + u.n_points > ppt):
                    yield Task(f"t{k:06d}", cur[0].accel.family, tuple(cur))
                    k += 1
                    cur = []
                cur.append(u)
    if cur:
        yield Task(f"t{k:06d}", cur[0].accel.family, tuple(cur))
