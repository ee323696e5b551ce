"""The mapping model: per storage level temporal and spatial factors, loop order and keep/bypass.

Conventions used everywhere in looplab:

* ``levels`` are storage levels **innermost first** (Timeloop's order: Registers ... DRAM), one entry
  for every storage level of the architecture.
* Permutations are strings of the seven dims, **innermost loop first** (Timeloop's mapping YAML order).
* Spatial factors are split into ``spatial_x`` and ``spatial_y`` (Timeloop's ``split``: the first
  ``split`` dims of the spatial permutation go to X, the rest to Y).

:class:`MappingBatch` is the array form used on hot paths (validity, analytical model, features):
``temporal``/``spatial_x``/``spatial_y`` int64 ``[B, L, 7]``, ``perm`` int8 ``[B, L, 7]`` (dim indices,
innermost first), ``keep`` bool ``[B, L, 3]`` (Weights, Inputs, Outputs).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from looplab.archspec import DIMS, TENSORS
from looplab.errors import LooplabError
from looplab.yamlio import load_source

DIM_INDEX = {d: i for i, d in enumerate(DIMS)}
_DIM_SET = frozenset(DIMS)


def _factors(d: dict[str, int] | None) -> dict[str, int]:
    if d.__class__ is dict and tuple(d) == DIMS and all(v.__class__ is int for v in d.values()):
        return dict(d)  # already complete and in DIMS order (what parse_factors gives): a copy
    out = {k: 1 for k in DIMS}
    for k, v in (d or {}).items():
        if k not in DIM_INDEX:
            raise LooplabError(f"unknown dimension {k!r} (expected one of {''.join(DIMS)})")
        out[k] = int(v)
    return out


@dataclass
class LevelMapping:
    """Loops and keep/bypass of one storage level."""

    level: str
    temporal: dict[str, int] = field(default_factory=dict)
    permutation: str = "".join(DIMS)  # innermost first
    spatial_x: dict[str, int] = field(default_factory=dict)
    spatial_y: dict[str, int] = field(default_factory=dict)
    spatial_permutation: str | None = None  # innermost first; None: DIMS order
    keep: list[str] = field(default_factory=lambda: list(TENSORS))
    bypass: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.temporal = _factors(self.temporal)
        self.spatial_x = _factors(self.spatial_x)
        self.spatial_y = _factors(self.spatial_y)
        if len(self.permutation) != len(DIMS) or set(self.permutation) != _DIM_SET:
            raise LooplabError(f"permutation {self.permutation!r} must list each of {''.join(DIMS)} once",
                               f"mapping: {self.level}")

    @property
    def has_spatial(self) -> bool:
        return any(v > 1 for v in self.spatial_x.values()) or any(v > 1 for v in self.spatial_y.values())


@dataclass
class Mapping:
    """A full mapping: one :class:`LevelMapping` per storage level, innermost first."""

    levels: list[LevelMapping]

    def level(self, name: str) -> LevelMapping:
        for lm in self.levels:
            if lm.level == name:
                return lm
        raise LooplabError(f"mapping has no level {name!r}")

    def dim_products(self) -> dict[str, int]:
        out = {d: 1 for d in DIMS}
        for lm in self.levels:
            for d in DIMS:
                out[d] *= lm.temporal[d] * lm.spatial_x[d] * lm.spatial_y[d]
        return out

    def check_layer(self, dims: dict[str, int], where: str = "mapping") -> None:
        """Raise unless every dim's factors multiply to the layer's size."""
        prod = self.dim_products()
        bad = [f"{d}: factors give {prod[d]}, layer has {dims[d]}" for d in DIMS if prod[d] != int(dims[d])]
        if bad:
            raise LooplabError("factor products do not match the layer (" + "; ".join(bad) + ")", where)

    # ---- case-record form (reference/cases.jsonl.gz) -------------------------------------------
    @classmethod
    def from_record(cls, levels: Sequence[dict[str, Any]]) -> Mapping:
        out = []
        for rec in levels:
            out.append(LevelMapping(
                level=rec["level"], temporal=rec.get("temporal"), permutation=rec.get("permutation", "".join(DIMS)),
                spatial_x=rec.get("spatial_X"), spatial_y=rec.get("spatial_Y"),
                spatial_permutation=rec.get("spatial_permutation"),
                keep=list(rec.get("keep", TENSORS)), bypass=list(rec.get("bypass", []))))
        return cls(out)

    # ---- Timeloop mapping YAML ----------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, data: str | Path | dict | list, level_names: Sequence[str] | None = None,
                  source: str | None = None, dim_names: dict[str, str] | None = None,
                  tensor_names: dict[str, str] | None = None) -> Mapping:
        """Read Timeloop mapping YAML (``mapping: [...]`` or the bare list), in every syntax timeloop-model accepts.

        Factors as ``"C=4 M=2"``, ``"C4 M2"`` (timeloop-mapper's form) or comma-separated; permutations as strings;
        ``bypass``/``datatype`` directives with ``keep``/``bypass`` lists; ``split`` for spatial X/Y. ``dim_names``
        and ``tensor_names`` translate the problem's own names (e.g. ``M`` -> ``K``, ``A`` -> ``Weights``; see
        :mod:`looplab.interop.problem`). ``level_names`` (innermost first) fixes the level order and fills levels
        the file omits (factor 1, keeping everything, as in Timeloop); without it the order of first appearance in
        the file is kept (Timeloop files list inner to outer by custom).
        """
        data, where = load_source(data, "mapping", source, fast=read_mapping_text)
        entries = data.get("mapping") if isinstance(data, dict) else data
        if not isinstance(entries, list):
            raise LooplabError("expected a 'mapping:' list of directives", where)
        names = _NameMap(dim_names, tensor_names)
        order: list[str] = list(level_names) if level_names else []
        acc: dict[str, dict[str, Any]] = {}
        for i, e in enumerate(entries):
            w = f"{where}: entry {i}"
            if not isinstance(e, dict) or "target" not in e or "type" not in e:
                raise LooplabError("each directive needs 'target' and 'type'", w)
            unknown = set(e) - {"target", "type", "factors", "permutation", "split", "keep", "bypass"}
            if unknown:
                raise LooplabError(f"unknown keys {sorted(unknown)}", w)
            tgt, typ = str(e["target"]), e["type"]
            if level_names and tgt not in level_names and f"inter_{tgt}_spatial" in level_names:
                tgt = f"inter_{tgt}_spatial"  # a container: the front end's spatial level for it
            if level_names and tgt not in level_names:
                raise LooplabError(f"target {tgt!r} is not a storage level ({list(level_names)})", w)
            if tgt not in order:
                order.append(tgt)
            slot = acc.setdefault(tgt, {})
            if typ == "temporal":
                slot["temporal"] = parse_factors(e.get("factors", ""), w, names.dims)
                slot["permutation"] = _full_perm(str(e.get("permutation", "")), w, names.dims)
            elif typ == "spatial":
                f = parse_factors(e.get("factors", ""), w, names.dims)
                perm = _full_perm(str(e.get("permutation", "")), w, names.dims)
                split = int(e.get("split", len(DIMS)))
                xs = set(perm[:split])
                slot["spatial_x"] = {d: (v if d in xs else 1) for d, v in f.items()}
                slot["spatial_y"] = {d: (v if d not in xs else 1) for d, v in f.items()}
                slot["spatial_permutation"] = perm
                slot["split"] = split
            elif typ in ("bypass", "datatype"):
                for key in ("keep", "bypass"):
                    vals = e.get(key) or []
                    if isinstance(vals, str):
                        vals = [vals]
                    slot[key] = [names.tensor(t, key, w) for t in vals]
            else:
                raise LooplabError(f"unknown directive type {typ!r} (temporal, spatial, bypass, datatype)", w)
        levels = []
        for name in order:
            s = acc.get(name, {})
            keep = s.get("keep")
            byp = s.get("bypass", [])
            if keep is None:
                keep = [t for t in TENSORS if t not in byp]
            levels.append(LevelMapping(level=name, temporal=s.get("temporal"),
                                       permutation=s.get("permutation", "".join(DIMS)),
                                       spatial_x=s.get("spatial_x"), spatial_y=s.get("spatial_y"),
                                       spatial_permutation=s.get("spatial_permutation"),
                                       keep=keep, bypass=list(byp)))
        return cls(levels)

    def to_yaml_obj(self, spatial_levels: Iterable[str] | None = None) -> dict[str, Any]:
        """Timeloop mapping directives: per level (inner to outer) spatial, temporal; then bypass entries.

        ``spatial_levels`` forces a spatial directive (all ones) for those levels, as the reference files do
        for every fan-out level; by default a spatial directive is written where a spatial factor is > 1.
        """
        forced = set(spatial_levels or ())
        out: list[dict[str, Any]] = []
        for lm in self.levels:
            if lm.has_spatial or lm.level in forced:
                perm = lm.spatial_permutation or "".join(DIMS)
                xdims = [d for d in perm if lm.spatial_x[d] > 1]
                ydims = [d for d in perm if lm.spatial_y[d] > 1]
                if xdims and ydims:
                    rest = [d for d in perm if d not in xdims and d not in ydims]
                    perm = "".join(xdims + ydims + rest)
                    split = len(xdims)
                elif ydims:
                    split = 0
                elif xdims:
                    split = len(DIMS)
                else:
                    split = len(DIMS)
                fac = {d: lm.spatial_x[d] * lm.spatial_y[d] for d in DIMS}
                out.append({"target": lm.level, "type": "spatial", "factors": format_factors(fac),
                            "permutation": perm, "split": split})
            out.append({"target": lm.level, "type": "temporal", "factors": format_factors(lm.temporal),
                        "permutation": lm.permutation})
        for lm in self.levels:
            out.append({"target": lm.level, "type": "bypass", "keep": list(lm.keep), "bypass": list(lm.bypass)})
        return {"mapping": out}

    def to_yaml(self, spatial_levels: Iterable[str] | None = None) -> str:
        return dump_mapping_yaml(self.to_yaml_obj(spatial_levels))


# ---- lean reader for the reference layout ---------------------------------------------------------------------
# ``evaluate --batch`` reads thousands of mapping files; PyYAML builds their objects in Python (most of a batch's
# time). Files in the layout looplab and Timeloop write (``mapping:`` then a block list of flat ``key: value``
# entries, plain scalars and flow lists of names) are read line by line instead; anything else goes to YAML.

_DIRECTIVE_KEYS = frozenset({"target", "type", "factors", "permutation", "split", "keep", "bypass"})
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_=,. ]*")
_NAME = re.compile(r"[A-Za-z0-9_]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_NOT_PLAIN = object()
_RESOLVER = yaml.resolver.Resolver()
_VALUES: dict[str, Any] = {}


def _plain_scalar(text: str) -> Any:
    """What YAML's safe loader makes of the plain scalar ``text`` when that is a string or a decimal int, else
    ``_NOT_PLAIN`` (null, bool, float, octal ... are left to YAML)."""
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == "tag:yaml.org,2002:str":
        return text
    if tag == "tag:yaml.org,2002:int" and _DECIMAL.fullmatch(text):
        return int(text)
    return _NOT_PLAIN


def _value(raw: str) -> Any:
    """A directive's value text (stripped) -> its value: a plain scalar or a flow list of names; else _NOT_PLAIN."""
    got = _VALUES.get(raw, _VALUES)
    if got is not _VALUES:
        return got
    if raw[:1] == "[":
        got = _NOT_PLAIN
        if raw[-1] == "]":
            inner = raw[1:-1].strip(" ")
            items = [item.strip(" ") for item in inner.split(",")] if inner else []
            if all(_NAME.fullmatch(item) for item in items):
                got = [_plain_scalar(item) for item in items]
                if _NOT_PLAIN in got:
                    got = _NOT_PLAIN
    else:
        got = _plain_scalar(raw) if _PLAIN.fullmatch(raw) else _NOT_PLAIN
    if len(_VALUES) < 100_000:
        _VALUES[raw] = got
    return got


def read_mapping_text(text: str) -> dict[str, list[dict[str, Any]]] | None:
    """``yaml.safe_load(text)`` for mapping YAML in the reference layout, else None (not that layout: YAML reads it).

    The layout: ``mapping:``, then ``- key: value`` entries with ``key: value`` lines under them, the keys
    directive keys, each value a plain string, a decimal integer or a ``[name, ...]`` flow list; blank lines
    anywhere. Comments, quotes, anchors, tabs, nested blocks, other keys or scalars that YAML reads as anything but a
    string or a decimal integer all give None."""
    lines = text.split("\n")
    i, n = 0, len(lines)
    while i < n and not lines[i].rstrip("\r").strip(" "):
        i += 1
    if i == n or lines[i].rstrip("\r").rstrip(" ") != "mapping:":
        return None
    entries: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}
    indent = -1  # of the entries' dashes
    for line in lines[i + 1:]:
        if line[-1:] == "\r":
            line = line[:-1]
        body = line.lstrip(" ")
        if not body:
            continue
        at = len(line) - len(body)
        if body[:2] == "- ":
            if indent < 0:
                indent = at
            elif at != indent:
                return None
            body = body[2:]
            cur = {}
            entries.append(cur)
        elif indent < 0 or at != indent + 2:
            return None
        key, sep, raw = body.partition(": ")
        if not sep or key not in _DIRECTIVE_KEYS:
            return None
        value = _value(raw.strip(" "))
        if value is _NOT_PLAIN:
            return None
        cur[key] = value.copy() if isinstance(value, list) else value
    return {"mapping": entries} if entries else None


class _NameMap:
    """The problem's own dimension and data-space names -> looplab's (identity when none are given)."""

    def __init__(self, dims: dict[str, str] | None, tensors: dict[str, str] | None) -> None:
        self.dims = dims or None
        self.tensors = tensors or {}

    def tensor(self, name: Any, key: str, where: str) -> str:
        name = str(name)
        if name in self.tensors:
            return self.tensors[name]
        if name in TENSORS:
            return name
        known = list(self.tensors) or list(TENSORS)
        raise LooplabError(f"unknown data space {name!r} in {key} (expected one of {known})", where)


_FACTOR = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*?)=?(-?\d+)$")


def _dim(name: str, where: str, dim_names: dict[str, str] | None, what: str) -> str:
    if dim_names is not None:
        if name in dim_names:
            return dim_names[name]
        raise LooplabError(f"unknown dimension {name!r} in {what} (the problem's dimensions: "
                           f"{', '.join(dim_names)})", where)
    if name not in DIM_INDEX:
        raise LooplabError(f"unknown dimension {name!r} in {what}", where)
    return name


def parse_factors(text: str | dict, where: str = "mapping", dim_names: dict[str, str] | None = None) -> dict[str, int]:
    """``"R=1 S=3 P=7"``, ``"R1 S3 P7"`` or ``"R=1,S=3"`` -> dict of looplab dims (missing dims are 1).

    ``dim_names`` translates the problem's own dimension names (``{"M": "K", ...}``).
    """
    if isinstance(text, dict):
        return _factors({_dim(str(k), where, dim_names, "factors"): int(v) for k, v in text.items()})
    if dim_names is None and text.__class__ is str:
        got = _PARSED_FACTORS.get(text)
        if got is None:
            got = _parse_factors_text(text, where, None)
            if len(_PARSED_FACTORS) < 100_000:
                _PARSED_FACTORS[text] = got
        return dict(got)
    return _parse_factors_text(text, where, dim_names)


#: factor strings already parsed (looplab dims): thousands of mapping files repeat the same few hundred
_PARSED_FACTORS: dict[str, dict[str, int]] = {}


def _parse_factors_text(text: Any, where: str, dim_names: dict[str, str] | None) -> dict[str, int]:
    out = {d: 1 for d in DIMS}
    for tok in str(text).replace(",", " ").split():
        m = _FACTOR.match(tok)
        if not m:
            raise LooplabError(f"bad factor {tok!r} (expected DIM=N or DIMN)", where)
        k = _dim(m[1], where, dim_names, "factors")
        n = int(m[2])
        if n < 1:
            raise LooplabError(f"factor {tok!r} must be >= 1 (0 means 'any' only in mapper constraints)", where)
        out[k] = n
    return out


def format_factors(f: dict[str, int]) -> str:
    return " ".join(f"{d}={int(f.get(d, 1))}" for d in DIMS)


def _full_perm(perm: str, where: str, dim_names: dict[str, str] | None = None) -> str:
    """Complete a (possibly partial) permutation: missing dims are appended (outermost)."""
    if dim_names is None and len(perm) == len(DIMS) and set(perm) == _DIM_SET:
        return perm  # already complete: each dim once
    perm = "".join(perm.split())
    if len(set(perm)) != len(perm):
        raise LooplabError(f"bad permutation {perm!r} (a dimension repeats)", where)
    perm = "".join(_dim(c, where, dim_names, f"permutation {perm!r}") for c in perm)
    return perm + "".join(d for d in DIMS if d not in perm)


def rename_yaml_obj(obj: dict[str, Any], dim_names: dict[str, str] | None,
                    tensor_names: dict[str, str] | None) -> dict[str, Any]:
    """Directives of :meth:`Mapping.to_yaml_obj` in a problem's own names (``dim_names``/``tensor_names`` map the
    problem's names to looplab's, as :mod:`looplab.interop.problem` gives them); looplab dims the problem lacks
    (always factor 1) are left out, as Timeloop rejects dimensions its problem shape does not have."""
    if not dim_names and not tensor_names:
        return obj
    inv_d = {v: k for k, v in (dim_names or {d: d for d in DIMS}).items()}
    inv_t = {v: k for k, v in (tensor_names or {t: t for t in TENSORS}).items()}
    out = []
    for e in obj["mapping"]:
        e = dict(e)
        if "factors" in e:
            f = parse_factors(e["factors"])
            e["factors"] = " ".join(f"{inv_d[d]}={f[d]}" for d in DIMS if d in inv_d)
        if "permutation" in e:
            e["permutation"] = "".join(inv_d[d] for d in e["permutation"] if d in inv_d)
            if e.get("type") == "spatial" and "split" in e:
                e["split"] = min(int(e["split"]), len(e["permutation"]))
        for k in ("keep", "bypass"):
            if k in e:
                e[k] = [inv_t.get(x, x) for x in e[k]]
        out.append(e)
    return {**obj, "mapping": out}


class _Dumper(yaml.SafeDumper):
    pass


def _flow_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def dump_mapping_yaml(obj: dict[str, Any]) -> str:
    """YAML text in the reference layout (keep/bypass as flow lists), rendered by ``templates/mapping.yaml.j2``.

    ``obj`` is ``{"mapping": [directive, ...]}`` as :meth:`Mapping.to_yaml_obj` builds it; the output is
    byte-identical to the recorded reference mapping files.
    """
    from looplab.render import render_template

    return render_template("mapping.yaml.j2", entries=obj["mapping"])


# ---- batch (array) form ------------------------------------------------------------------------------


@dataclass
class MappingBatch:
    """``B`` mappings of one (architecture, layer) as arrays; level axis innermost first."""

    level_names: tuple[str, ...]
    temporal: np.ndarray  # int64 [B, L, 7]
    spatial_x: np.ndarray  # int64 [B, L, 7]
    spatial_y: np.ndarray  # int64 [B, L, 7]
    perm: np.ndarray  # int8 [B, L, 7], dim indices innermost first
    keep: np.ndarray  # bool [B, L, 3]
    sperm: np.ndarray | None = None  # int8 [B, L, 7] spatial permutation (None: DIMS order)

    def __len__(self) -> int:
        return int(self.temporal.shape[0])

    def reordered(self, names: Sequence[str]) -> MappingBatch:
        """The same mappings with the level axis in the order ``names`` (the same set of levels)."""
        names = tuple(names)
        if self.level_names == names:
            return self
        if sorted(self.level_names) != sorted(names):
            raise LooplabError(f"mapping levels {list(self.level_names)} do not match the architecture {list(names)}",
                               "mapping")
        idx = [self.level_names.index(n) for n in names]
        return MappingBatch(names, self.temporal[:, idx], self.spatial_x[:, idx], self.spatial_y[:, idx],
                            self.perm[:, idx], self.keep[:, idx], None if self.sperm is None else self.sperm[:, idx])

    @classmethod
    def from_mappings(cls, mappings: Sequence[Mapping], level_names: Sequence[str] | None = None) -> MappingBatch:
        if not mappings:
            raise LooplabError("empty batch of mappings")
        names = tuple(level_names or [lm.level for lm in mappings[0].levels])
        B, L = len(mappings), len(names)
        by_dim = operator.itemgetter(*DIMS)
        index = DIM_INDEX.__getitem__
        ones, order, all_kept = (1,) * len(DIMS), tuple(range(len(DIMS))), (True,) * len(TENSORS)
        t: list[tuple] = []
        sx: list[tuple] = []
        sy: list[tuple] = []
        p: list[tuple] = []
        k: list[tuple] = []
        sp: list[tuple] = []
        for m in mappings:  # rows built as tuples, each array made at once (a numpy write per row is slower)
            by = {lm.level: lm for lm in m.levels}
            for name in names:
                lm = by.get(name)
                if lm is None:  # a level the mapping leaves out: factor 1, keeps everything
                    for rows, row in ((t, ones), (sx, ones), (sy, ones), (p, order), (k, all_kept), (sp, order)):
                        rows.append(row)
                    continue
                t.append(by_dim(lm.temporal))
                sx.append(by_dim(lm.spatial_x))
                sy.append(by_dim(lm.spatial_y))
                p.append(tuple(map(index, lm.permutation)))
                k.append(tuple(tn in lm.keep for tn in TENSORS))
                sp.append(tuple(map(index, lm.spatial_permutation)) if lm.spatial_permutation else order)

        def arr(rows: list[tuple], dtype: Any, width: int) -> np.ndarray:
            return np.array(rows, dtype).reshape(B, L, width)

        return cls(names, arr(t, np.int64, 7), arr(sx, np.int64, 7), arr(sy, np.int64, 7), arr(p, np.int8, 7),
                   arr(k, bool, 3), arr(sp, np.int8, 7))

    def to_mappings(self) -> list[Mapping]:
        """Every row as a :class:`Mapping` (for one row use :meth:`mapping`)."""
        return [self.mapping(b) for b in range(len(self))]

    def mapping(self, i: int) -> Mapping:
        """Row ``i`` as a :class:`Mapping` (negative ``i`` counts from the end)."""
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"row {i} out of range for a batch of {n}")
        b = int(i) % n
        sp = None if self.sperm is None else self.sperm[0 if self.sperm.shape[0] == 1 else b]
        levels = []
        for li, name in enumerate(self.level_names):
            keep = [tn for j, tn in enumerate(TENSORS) if self.keep[b, li, j]]
            levels.append(LevelMapping(
                level=name,
                temporal={d: int(self.temporal[b, li, i]) for i, d in enumerate(DIMS)},
                permutation="".join(DIMS[int(i)] for i in self.perm[b, li]),
                spatial_x={d: int(self.spatial_x[b, li, i]) for i, d in enumerate(DIMS)},
                spatial_y={d: int(self.spatial_y[b, li, i]) for i, d in enumerate(DIMS)},
                spatial_permutation=None if sp is None else "".join(DIMS[int(i)] for i in sp[li]),
                keep=keep, bypass=[tn for tn in TENSORS if tn not in keep]))
        return Mapping(levels)

    def __getitem__(self, idx: Any) -> MappingBatch:
        if isinstance(idx, int | np.integer):
            idx = slice(int(idx), int(idx) + 1)
        return MappingBatch(self.level_names, self.temporal[idx], self.spatial_x[idx], self.spatial_y[idx],
                            self.perm[idx], self.keep[idx], None if self.sperm is None else self.sperm[idx])

    @staticmethod
    def concat(batches: Sequence[MappingBatch]) -> MappingBatch:
        names = batches[0].level_names
        arrays = [np.concatenate([getattr(b, f) for b in batches])
                  for f in ("temporal", "spatial_x", "spatial_y", "perm", "keep")]
        sperm = None if any(b.sperm is None for b in batches) else np.concatenate([b.sperm for b in batches])
        return MappingBatch(names, *arrays, sperm)


def prime_factors(n: int) -> list[int]:
    """Prime factors with multiplicity, ascending."""
    out, d = [], 2
    n = int(n)
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1
    if n > 1:
        out.append(n)
    return out


def total_factor(m: Mapping) -> int:
    return math.prod(m.dim_products().values())
