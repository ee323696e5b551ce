"""Typed view of a Timeloop architecture YAML (classic ``subtree``/``local`` tree, v0.3 or v0.4).

An :class:`ArchSpec` lists the storage levels innermost first (Timeloop's own order: level 0 is the
arithmetic unit, storage levels follow), with what every model in looplab needs: capacity in words, block
size, instances, mesh, fan-out to the next inner level, bandwidths, and the full Accelergy path used as the
ERT table name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError
from looplab.yamlio import is_path, load_source

DIMS: tuple[str, ...] = ("R", "S", "P", "Q", "C", "K", "N")
TENSORS: tuple[str, ...] = ("Weights", "Inputs", "Outputs")
COMPUTE_CLASSES = {"intmac", "fpmac", "mac", "compute"}
#: Timeloop's own classification of a component by its class name (``model/topology.hpp``): a name containing one of
#: ``BUFFER_CLASS_KEYS`` is a storage level, else one containing ``COMPUTE_CLASS_KEYS`` is the arithmetic level, else
#: a network class is a network; anything else is ignored by Timeloop (and by looplab).
BUFFER_CLASS_KEYS = ("DRAM", "SRAM", "regfile", "smartbuffer", "storage")
COMPUTE_CLASS_KEYS = ("mac", "compute")
NETWORK_CLASSES = ("XY_NoC", "Legacy", "ReductionTree", "SimpleMulticast")
#: Architecture versions of the classic tree Timeloop reads.
ARCH_VERSIONS = ("0.2", "0.3", "0.4")
_RANGE = re.compile(r"^(?P<base>.*)\[(?P<lo>\d+)\.\.(?P<hi>\d+)\]$")


@dataclass(frozen=True)
class Level:
    """One storage level (or the arithmetic level) of the architecture."""

    name: str
    cls: str
    path: str  # Accelergy/ERT name, e.g. System.Chip.PE[0..15].InputBuffer
    instances: int
    mesh_x: int
    attributes: dict[str, Any] = field(default_factory=dict)
    # Filled for storage levels only:
    datawidth: int = 8
    width: int = 8
    depth: int | None = None  # None: unbounded (DRAM)
    block_size: int = 1
    shared_bandwidth: float | None = None
    read_bandwidth: float | None = None
    write_bandwidth: float | None = None
    multiple_buffering: float = 1.0  # Timeloop's effective capacity is floor(size / multiple_buffering)
    entries: int | None = None  # capacity in words when given as ``entries`` (legacy format)
    # Fan-out from this level to the next inner level (1 for the arithmetic level):
    fanout_x: int = 1
    fanout_y: int = 1

    @property
    def is_compute(self) -> bool:
        return component_kind(self.cls) == "compute"

    @property
    def is_dummy(self) -> bool:
        """A ``dummy_storage`` level (the front end's spatial-only level: keeps nothing, costs nothing)."""
        return "dummy" in self.cls

    @property
    def capacity_words(self) -> int | None:
        """Timeloop's effective capacity: ``floor(depth * block_size / multiple_buffering)`` words (None when
        unbounded)."""
        if self.depth is None:
            return None
        size = self.entries if self.entries is not None else self.depth * self.block_size
        return size if self.multiple_buffering == 1 else int(math.floor(size / self.multiple_buffering))

    @property
    def mesh_y(self) -> int:
        return max(1, self.instances // max(1, self.mesh_x))

    @property
    def fanout(self) -> int:
        return self.fanout_x * self.fanout_y


@dataclass(frozen=True)
class ArchSpec:
    """Architecture: ``compute`` plus ``storage`` levels innermost first."""

    compute: Level
    storage: tuple[Level, ...]
    attributes: dict[str, Any] = field(default_factory=dict)  # root attributes (technology, ...)
    source: str | None = None

    @property
    def storage_names(self) -> list[str]:
        return [lvl.name for lvl in self.storage]

    def level(self, name: str) -> Level:
        for lvl in (self.compute, *self.storage):
            if lvl.name == name:
                return lvl
        raise LooplabError(f"no level named {name!r} (levels: {self.storage_names})", self.source)

    def index(self, name: str) -> int:
        """Index of a storage level in ``storage`` (innermost = 0)."""
        for i, lvl in enumerate(self.storage):
            if lvl.name == name:
                return i
        raise LooplabError(f"no storage level named {name!r} (levels: {self.storage_names})", self.source)


def _num(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise LooplabError(f"expected a number, got {value!r}", where) from None
    return value


def component_kind(cls: str) -> str:
    """``"storage"``, ``"compute"``, ``"network"`` or ``"ignored"``: how Timeloop treats a component class."""
    if any(k in cls for k in BUFFER_CLASS_KEYS):
        return "storage"
    if any(k in cls for k in COMPUTE_CLASS_KEYS):
        return "compute"
    if cls in NETWORK_CLASSES or "network" in cls.lower() or "noc" in cls.lower():
        return "network"
    return "ignored"


def _walk(node: dict, prefix: str, mult: int, attrs: dict, out: list, where: str) -> None:
    if not isinstance(node, dict):
        raise LooplabError(f"expected a subtree node (a mapping), got {node!r}", where)
    name = str(node.get("name", ""))
    m = _RANGE.match(name)
    count = int(m["hi"]) - int(m["lo"]) + 1 if m else 1
    path = f"{prefix}.{name}" if prefix else name
    inherited = {**attrs, **(node.get("attributes") or {})}
    mult *= count
    for comp in node.get("local") or []:
        if not isinstance(comp, dict):
            raise LooplabError(f"expected a component (a mapping) in {path}.local, got {comp!r}", where)
        if comp.get("enabled", True) is False:
            continue
        cname = str(comp.get("name", ""))
        cm = _RANGE.match(cname)
        ccount = int(cm["hi"]) - int(cm["lo"]) + 1 if cm else 1
        cattrs = {**inherited, **(comp.get("attributes") or {})}
        if comp.get("subclass") is not None:
            cattrs.setdefault("subclass", comp["subclass"])  # v0.4 `class: storage, subclass: smartbuffer_RF`
        out.append((f"{path}.{cname}", cname if not cm else cm["base"], comp.get("class"), cattrs, mult * ccount))
    for child in node.get("subtree") or []:
        _walk(child, path, mult, inherited, out, where)


def _attr(attrs: dict, *names: str) -> Any:
    """The first of ``names`` (Timeloop's aliases of one attribute) present in ``attrs``."""
    for n in names:
        if n in attrs and attrs[n] is not None:
            return attrs[n]
    return None


_TFE_TAG = re.compile(r"^\s*(-\s+)?(\w+:\s+)?!(Container|Component|Hierarchical|Parallel|Pipelined|Nothing|Arch)\b",
                      re.MULTILINE)


def parse_arch(data: dict | str | Path, source: str | None = None) -> ArchSpec:
    """Parse an architecture given as YAML text, a file path, or the loaded mapping.

    Reads Timeloop's classic tree (``architecture: {version: 0.2|0.3|0.4, subtree: [...local...]}``, also the
    front end's processed form with ``[1..N]`` ranges, ``meshX``/``meshY``, ``dummy_storage`` levels and
    ``class: storage, subclass: ...``), Timeloop's legacy ``arch: {storage: [...], arithmetic: {...}}`` format and,
    when ``pytimeloop.timeloopfe`` is importable, the front end's v0.4 ``!Container``/``!Component`` specs.
    """
    from looplab.interop.arch_formats import legacy_arch, read_timeloopfe, tfe_text

    text_src = data
    if is_path(data):
        source = source or str(data)
        try:
            text_src = Path(data).read_text()
        except OSError as exc:
            raise LooplabError(f"cannot read architecture file: {exc.strerror or exc}", source) from None
    if isinstance(text_src, str) and _TFE_TAG.search(text_src):
        return parse_arch(read_timeloopfe(text_src, source), source=source)
    data, where = load_source(text_src, "architecture", source)
    if isinstance(data, dict) and "architecture" not in data and "arch" in data:
        old = data["arch"]
        if not (isinstance(old, dict) and isinstance(old.get("storage"), list) and "arithmetic" in old):
            raise LooplabError("missing top-level 'architecture' key; found 'arch:', Timeloop's legacy format, which "
                               "needs 'arch.storage' (a list, innermost first) and 'arch.arithmetic'; or write the "
                               "classic tree (architecture: {version: 0.4, subtree: [...]})", where)
        data = {"architecture": legacy_arch(old, where)}
    if not isinstance(data, dict) or "architecture" not in data:
        keys = sorted(data)[:6] if isinstance(data, dict) else type(data).__name__
        raise LooplabError(f"missing top-level 'architecture' key (found {keys}); expected a Timeloop architecture "
                           "(architecture: {version: 0.4, subtree: [...]})", where)
    arch = data["architecture"]
    if isinstance(arch, dict) and "version" in arch:
        version = str(arch["version"]).strip().strip("'\"")
        if version not in ARCH_VERSIONS:
            raise LooplabError(f"architecture version {arch['version']!r} is not one Timeloop reads "
                               f"({', '.join(ARCH_VERSIONS)})", f"{where}: architecture.version")
    if not isinstance(arch, dict) or "subtree" not in arch:
        if isinstance(arch, dict) and "nodes" in arch:
            return parse_arch(read_timeloopfe(tfe_text(data), source), source=source)
        raise LooplabError("architecture has no 'subtree' (Timeloop's classic tree: subtree/local)", where)
    comps: list = []
    for top in arch["subtree"]:
        _walk(top, "", 1, {}, comps, where)
    if not comps:
        raise LooplabError("architecture has no components", where)
    root_attrs = dict(arch["subtree"][0].get("attributes") or {})

    levels: list[Level] = []
    for path, name, cls, attrs, mult in comps:
        w = f"{where}: {name}"
        if cls is None:
            raise LooplabError("component has no 'class'", w)
        cls = str(cls)
        kind = component_kind(cls)
        if kind == "network":
            raise LooplabError(f"network component of class {cls!r}: explicit network models are not modelled "
                               "(remove it to use Timeloop's default legacy network)", w)
        if kind == "ignored":
            continue
        levels.append(_level(path, name, cls, attrs, mult, kind, w))

    computes = [lv for lv in levels if lv.is_compute]
    if len(computes) != 1:
        raise LooplabError(f"expected exactly one arithmetic component, found {len(computes)}", where)
    compute = computes[0]
    # Storage levels are listed outer -> inner in the tree; Timeloop numbers them inner -> outer.
    storage = [lv for lv in levels if not lv.is_compute][::-1]
    # Fan-out of each level to the next inner one (the arithmetic level for the innermost).
    fixed: list[Level] = []
    inner = compute
    for lv in storage:
        fan = inner.instances // lv.instances if lv.instances else 1
        if lv.instances * fan != inner.instances:
            raise LooplabError(f"instances {inner.instances} of {inner.name} not a multiple of {lv.instances}",
                               f"{where}: {lv.name}.instances")
        fx = max(1, inner.mesh_x // max(1, lv.mesh_x))
        fy = max(1, fan // fx)
        fixed.append(_replace(lv, fanout_x=fx, fanout_y=fy))
        inner = lv
    return ArchSpec(compute=compute, storage=tuple(fixed), attributes=root_attrs, source=source)


#: Attributes whose non-default values change what Timeloop computes in a way looplab does not model.
_UNMODELLED = {"allow_overbooking": False, "reduction_supported": True}


def _level(path: str, name: str, cls: str, attrs: dict, mult: int, kind: str, w: str) -> Level:
    instances = int(_num(_attr(attrs, "instances") or mult, f"{w}.instances"))
    # Timeloop's default mesh is one row: meshX = instances.
    mesh_x = int(_num(_attr(attrs, "meshX", "mesh_x") or instances, f"{w}.meshX"))
    mesh_y = _attr(attrs, "meshY", "mesh_y")
    if mesh_y is not None and mesh_x * int(_num(mesh_y, f"{w}.meshY")) != instances:
        raise LooplabError(f"meshX {mesh_x} x meshY {mesh_y} != instances {instances}", w)
    if kind == "compute":
        return Level(name, cls, path, instances, mesh_x, attrs, datawidth=int(_num(attrs.get("datawidth", 8), w)),
                     width=int(_num(attrs.get("width", 8), w)))
    for key, ok in _UNMODELLED.items():
        v = attrs.get(key)
        if v is not None and not (v == ok or str(v).lower() == str(ok).lower()):
            raise LooplabError(f"{key}: {v!r} is not modelled (only {ok!r})", f"{w}.{key}")
    gating = attrs.get("has_power_gating")
    if gating is not None and str(gating).lower() not in ("false", "0"):
        raise LooplabError("has_power_gating: true is not modelled (Timeloop's power-gated leakage)",
                           f"{w}.has_power_gating")
    datawidth = int(_num(_attr(attrs, "datawidth", "word-bits", "word_bits") or 8, f"{w}.datawidth"))
    width = int(_num(_attr(attrs, "width", "memory_width", "memory-width") or datawidth, f"{w}.width"))
    if datawidth <= 0 or width <= 0:
        raise LooplabError("width and datawidth must be positive", w)
    cluster = _attr(attrs, "cluster_size", "cluster-size")
    per_word = datawidth * (int(_num(cluster, f"{w}.cluster_size")) if cluster is not None else 1)
    block = int(_num(_attr(attrs, "block_size", "block-size", "n_words") or max(1, width // per_word),
                     f"{w}.block_size"))
    depth = _attr(attrs, "depth", "memory_depth", "memory-depth")
    entries = _attr(attrs, "entries")
    size_kb = _attr(attrs, "sizeKB", "size_kb")
    depth_v: int | None
    if cls == "DRAM" or (depth is None and entries is None and size_kb is None):
        depth_v = None
    elif depth is not None:
        depth_v = int(_num(depth, f"{w}.depth"))
    elif entries is not None:
        depth_v = -(-int(_num(entries, f"{w}.entries")) // block)
    else:
        depth_v = -(-int(_num(size_kb, f"{w}.sizeKB") * 1024 * 8 // datawidth) // block)
    if depth_v is not None and depth_v <= 0:
        raise LooplabError(f"depth must be positive, got {depth_v}", w)
    mb = _attr(attrs, "multiple_buffering", "multiple-buffering")
    multiple_buffering = 1.0 if mb is None else float(_num(mb, f"{w}.multiple_buffering"))
    if multiple_buffering <= 0:
        raise LooplabError(f"multiple_buffering must be positive, got {mb!r}", w)

    def bw(*keys: str) -> float | None:
        v = _attr(attrs, *keys)
        return None if v is None else _num(v, f"{w}.{keys[0]}")

    return Level(name, cls, path, instances, mesh_x, attrs, datawidth=datawidth, width=width, depth=depth_v,
                 block_size=block, shared_bandwidth=bw("shared_bandwidth", "shared-bandwidth"),
                 read_bandwidth=bw("read_bandwidth", "read-bandwidth"),
                 write_bandwidth=bw("write_bandwidth", "write-bandwidth"),
                 multiple_buffering=multiple_buffering,
                 entries=None if entries is None or depth is not None else int(_num(entries, w)))


BANDWIDTH_FIELDS = ("shared_bandwidth", "read_bandwidth", "write_bandwidth")


def with_bandwidths(arch: ArchSpec, bandwidths: dict[str, dict[str, float | None]]) -> ArchSpec:
    """``arch`` with the bandwidths of some storage levels replaced: ``{level: {"read_bandwidth": 1, ...}}``.

    A level given only a read and/or write bandwidth loses its shared bandwidth, as in a Timeloop architecture
    that states ``read_bandwidth``/``write_bandwidth`` and no ``shared_bandwidth``.
    """
    names = arch.storage_names
    for name, bw in bandwidths.items():
        if name not in names:
            raise LooplabError(f"no storage level {name!r} (levels: {', '.join(names)})", "bandwidths")
        bad = set(bw) - set(BANDWIDTH_FIELDS)
        if bad:
            raise LooplabError(f"unknown bandwidth field(s) {sorted(bad)} for level {name!r}", "bandwidths")
    storage = []
    for lv in arch.storage:
        bw = bandwidths.get(lv.name)
        if bw:
            kw = dict(bw)
            if "shared_bandwidth" not in kw:
                kw["shared_bandwidth"] = None
            lv = _replace(lv, **kw)
        storage.append(lv)
    return replace(arch, storage=tuple(storage))


def _replace(lv: Level, **kw: Any) -> Level:
    return replace(lv, **kw)


def log2_int(x: int) -> int:
    """Exact base-2 log of a power of two (raises otherwise)."""
    k = int(round(math.log2(x)))
    if 2**k != x:
        raise ValueError(f"{x} is not a power of two")
    return k
