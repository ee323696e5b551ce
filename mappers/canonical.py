"""Semantic identity of mappings, and mapping YAML in the reference layout for a given architecture.

Two mappings are *semantically equal* when they describe the same loop nest: the same temporal and spatial
(X/Y) factors per level, the same order of the loops whose factor is > 1 (temporal and spatial), and the same
kept tensors. Loops of bound 1 -- and so the whole spatial permutation of a level without spatial factors --
do not change what Timeloop evaluates.
"""

from __future__ import annotations

from typing import Any

from looplab.archspec import DIMS, TENSORS, ArchSpec
from mappers.mapping import Mapping, dump_mapping_yaml, rename_yaml_obj
from mappers.validity import fanouts


def semantic_key(mapping: Mapping) -> tuple[Any, ...]:
    """Hashable key: equal keys <=> semantically equal mappings (see module docstring)."""
    out = []
    for lm in mapping.levels:
        spatial = {d: lm.spatial_x[d] * lm.spatial_y[d] for d in DIMS}
        sperm = lm.spatial_permutation or "".join(DIMS)
        out.append((
            lm.level,
            tuple(lm.temporal[d] for d in DIMS),
            tuple(lm.spatial_x[d] for d in DIMS),
            tuple(lm.spatial_y[d] for d in DIMS),
            "".join(d for d in lm.permutation if lm.temporal[d] > 1),
            "".join(d for d in sperm if spatial[d] > 1),
            tuple(t in lm.keep for t in TENSORS),
        ))
    return tuple(out)


def semantically_equal(a: Mapping, b: Mapping) -> bool:
    return semantic_key(a) == semantic_key(b)


def fanout_axes(arch: ArchSpec) -> dict[str, str]:
    """Fan-out levels and their axis ("X" when the level fans out along X, else "Y")."""
    return {lv.name: ("X" if fx > 1 else "Y") for lv, (fx, fy) in zip(arch.storage, fanouts(arch), strict=True)
            if fx * fy > 1}


def to_yaml_obj(mapping: Mapping, arch: ArchSpec) -> dict[str, Any]:
    """Directives in the reference layout: a spatial directive at every fan-out level (``split: 7`` for X,
    ``0`` for Y when the level has no spatial factor), then temporal, then the bypass directives."""
    axes = fanout_axes(arch)
    obj = mapping.to_yaml_obj(spatial_levels=list(axes))
    by_level = {lm.level: lm for lm in mapping.levels}
    for e in obj["mapping"]:
        if e["type"] == "spatial" and not by_level[e["target"]].has_spatial:
            e["split"] = 7 if axes.get(e["target"], "X") == "X" else 0
    return obj


def mapping_to_yaml(mapping: Mapping, arch: ArchSpec, dim_names: dict[str, str] | None = None,
                    tensor_names: dict[str, str] | None = None) -> str:
    """Timeloop mapping YAML for ``arch`` in the layout of the reference files (byte-identical for them); with
    ``dim_names``/``tensor_names`` (a problem's own names -> looplab's) in that problem's names."""
    return dump_mapping_yaml(rename_yaml_obj(to_yaml_obj(mapping, arch), dim_names, tensor_names))
