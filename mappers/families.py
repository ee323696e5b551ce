"""Per-family mapping rules: which tensors each level keeps, and where spatial loops may go.

The two families of looplab follow the reference tables (reference/README.md):

* Simba-like: keeps DRAM W,I,O; GlobalBuffer I,O; InputBuffer I; WeightBuffer W; AccumulationBuffer O;
  Registers W. Spatial: any dimension at GlobalBuffer (X), InputBuffer (Y) and AccumulationBuffer (Y).
* Gemmini-like: keeps DRAM W,I,O; Scratchpad W,I; Accumulator O; Registers W. Spatial: K at Scratchpad (X),
  C at Accumulator (Y).

Any other architecture gets the generic rules: every level keeps every tensor (a ``dummy_storage`` level
none), and every level that fans out
(Timeloop's meshes, :func:`mappers.validity.fanouts`) may hold spatial loops of any dimension on the axis that
fans out.
"""

from __future__ import annotations

from dataclasses import dataclass

from looplab.archspec import DIMS, TENSORS, ArchSpec
from looplab.errors import LooplabError
from mappers.validity import fanouts

SIMBA_LEVELS = frozenset({"DRAM", "GlobalBuffer", "InputBuffer", "WeightBuffer", "AccumulationBuffer", "Registers"})
GEMMINI_LEVELS = frozenset({"DRAM", "Scratchpad", "Accumulator", "Registers"})

_KEEPS = {
    "simba": {"DRAM": ("Weights", "Inputs", "Outputs"), "GlobalBuffer": ("Inputs", "Outputs"),
              "InputBuffer": ("Inputs",), "WeightBuffer": ("Weights",), "AccumulationBuffer": ("Outputs",),
              "Registers": ("Weights",)},
    "gemmini": {"DRAM": ("Weights", "Inputs", "Outputs"), "Scratchpad": ("Weights", "Inputs"),
                "Accumulator": ("Outputs",), "Registers": ("Weights",)},
}
_SPATIAL = {
    "simba": (("GlobalBuffer", "X", DIMS), ("InputBuffer", "Y", DIMS), ("AccumulationBuffer", "Y", DIMS)),
    "gemmini": (("Scratchpad", "X", ("K",)), ("Accumulator", "Y", ("C",))),
}


@dataclass(frozen=True)
class SpatialSlot:
    """Spatial loops allowed at storage level ``level`` (index ``index``, innermost = 0) on ``axis``."""

    level: str
    index: int
    axis: str  # "X" | "Y"
    dims: tuple[str, ...]


@dataclass(frozen=True)
class FamilyRules:
    family: str  # "simba" | "gemmini" | "generic"
    level_names: tuple[str, ...]  # storage levels, innermost first
    keep: tuple[tuple[str, ...], ...]  # kept tensors per level (same order)
    spatial: tuple[SpatialSlot, ...]

    def keep_mask(self) -> list[list[bool]]:
        return [[t in k for t in TENSORS] for k in self.keep]

    def spatial_slots_for(self, dim: str) -> list[SpatialSlot]:
        return [s for s in self.spatial if dim in s.dims]


def detect_family(arch: ArchSpec) -> str:
    names = set(arch.storage_names)
    if names == SIMBA_LEVELS:
        return "simba"
    if names == GEMMINI_LEVELS:
        return "gemmini"
    return "generic"


def rules_for(arch: ArchSpec, family: str | None = None) -> FamilyRules:
    """The mapping rules for ``arch`` (``family`` None: recognised from the level names)."""
    fam = family or detect_family(arch)
    names = tuple(arch.storage_names)
    if fam in _KEEPS:
        missing = [n for n in _KEEPS[fam] if n not in names]
        if missing:
            raise LooplabError(f"architecture lacks the {fam} levels {missing} (levels: {list(names)})",
                               arch.source or "architecture")
        keep = tuple(_KEEPS[fam].get(n, TENSORS) for n in names)
        slots = tuple(SpatialSlot(lv, names.index(lv), ax, dims) for lv, ax, dims in _SPATIAL[fam])
        return FamilyRules(fam, names, keep, slots)
    if fam != "generic":
        raise LooplabError(f"unknown family {fam!r} (simba, gemmini, generic)", "family")
    slots = []
    for i, (lvl, (fx, fy)) in enumerate(zip(arch.storage, fanouts(arch), strict=True)):
        if fx > 1:
            slots.append(SpatialSlot(lvl.name, i, "X", DIMS))
        if fy > 1:
            slots.append(SpatialSlot(lvl.name, i, "Y", DIMS))
    keep = tuple(() if lvl.is_dummy else TENSORS for lvl in arch.storage)  # dummy_storage: spatial only
    return FamilyRules("generic", names, keep, tuple(slots))
