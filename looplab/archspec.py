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
from looplab.yamlio import load_source

DIMS: tuple[str, ...] = ("R", "S", "P", "Q", "C", "K", "N")
TENSORS: tuple[str, ...] = ("Weights", "Inputs", "Outputs")
COMPUTE_CLASSES = {"intmac", "fpmac", "mac", "compute"}
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
    # Fan-out from this level to the next inner level (1 for the arithmetic level):
    fanout_x: int = 1
    fanout_y: int = 1

    @property
    def is_compute(self) -> bool:
        return self.cls in COMPUTE_CLASSES

    @property
    def capacity_words(self) -> int | None:
        """Timeloop's capacity: ``depth * block_size`` words (None when unbounded)."""
        return None if self.depth is None else self.depth * self.block_size

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


def _walk(node: dict, prefix: str, mult: int, attrs: dict, out: list, where: str) -> None:
    name = str(node.get("name", ""))
    m = _RANGE.match(name)
    count = int(m["hi"]) - int(m["lo"]) + 1 if m else 1
    path = f"{prefix}.{name}" if prefix else name
    inherited = {**attrs, **(node.get("attributes") or {})}
    mult *= count
    for comp in node.get("local") or []:
        cname = str(comp.get("name", ""))
        cm = _RANGE.match(cname)
        ccount = int(cm["hi"]) - int(cm["lo"]) + 1 if cm else 1
        cattrs = {**inherited, **(comp.get("attributes") or {})}
        out.append((f"{path}.{cname}", cname if not cm else cm["base"], comp.get("class"), cattrs, mult * ccount))
    for child in node.get("subtree") or []:
        _walk(child, path, mult, inherited, out, where)


def parse_arch(data: dict | str | Path, source: str | None = None) -> ArchSpec:
    """Parse an architecture given as YAML text, a file path, or the loaded mapping."""
    data, where = load_source(data, "architecture", source)
    if not isinstance(data, dict) or "architecture" not in data:
        raise LooplabError("missing top-level 'architecture' key", where)
    arch = data["architecture"]
    if not isinstance(arch, dict) or "subtree" not in arch:
        if isinstance(arch, dict) and "nodes" in arch:
            raise LooplabError("the v0.4 'nodes' (timeloopfe) format is not supported; use the subtree/local tree",
                               where)
        raise LooplabError("architecture has no 'subtree'", where)
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
        instances = int(_num(attrs.get("instances", mult), f"{w}.instances"))
        # Timeloop's default mesh is one row: meshX = instances.
        mesh_x = int(_num(attrs.get("meshX", instances), f"{w}.meshX"))
        if cls in COMPUTE_CLASSES:
            levels.append(Level(name, cls, path, instances, mesh_x, attrs,
                                datawidth=int(attrs.get("datawidth", 8)), width=int(attrs.get("width", 8))))
            continue
        datawidth = int(_num(attrs.get("datawidth", attrs.get("word-bits", 8)), f"{w}.datawidth"))
        width = int(_num(attrs.get("width", datawidth), f"{w}.width"))
        if datawidth <= 0 or width <= 0:
            raise LooplabError("width and datawidth must be positive", w)
        block = int(attrs.get("block_size", attrs.get("block-size", max(1, width // datawidth))))
        depth = attrs.get("depth")
        if cls == "DRAM" or depth is None:
            depth_v = None
        else:
            depth_v = int(_num(depth, f"{w}.depth"))
            if depth_v <= 0:
                raise LooplabError(f"depth must be positive, got {depth_v}", w)

        def bw(key: str, attrs: dict = attrs, w: str = w) -> float | None:
            v = attrs.get(key)
            return None if v is None else _num(v, f"{w}.{key}")

        levels.append(Level(name, cls, path, instances, mesh_x, attrs, datawidth=datawidth, width=width,
                            depth=depth_v, block_size=block, shared_bandwidth=bw("shared_bandwidth"),
                            read_bandwidth=bw("read_bandwidth"), write_bandwidth=bw("write_bandwidth")))

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
