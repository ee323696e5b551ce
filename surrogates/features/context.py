"""Per-row arrays that every feature set is computed from: the mappings, the layer and the accelerator.

A :class:`Design` holds ``B`` rows of one family (one list of storage levels, innermost first); every array
has the rows on axis 0, so one batch may mix accelerators and layers (a dataset part) or repeat one
(accelerator, layer) for a :class:`~mappers.mapping.MappingBatch` (:func:`design_for`). The accelerator is read
from its :class:`~looplab.archspec.ArchSpec` with Timeloop's own rules (:func:`mappers.validity.capacity`,
:func:`mappers.validity.mesh`), so any architecture file with the family's levels works, not only generated ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from looplab.archspec import DIMS, ArchSpec
from looplab.errors import LooplabError
from mappers.families import rules_for
from mappers.mapping import MappingBatch
from mappers.validity import capacity, fanouts, mesh

CONV_KEYS = ("Wstride", "Hstride", "Wdilation", "Hdilation")


@dataclass(frozen=True)
class ArchArrays:
    """One accelerator as numbers, storage levels innermost first."""

    family: str
    level_names: tuple[str, ...]
    cap: np.ndarray  # float64 [L] capacity in words (inf: unbounded)
    inst: np.ndarray  # float64 [L] instances
    mx: np.ndarray  # float64 [L] Timeloop meshX
    my: np.ndarray  # float64 [L] meshY
    fan: np.ndarray  # float64 [L] fan-out to the next inner level (X * Y)
    bw: np.ndarray  # float64 [L] shared bandwidth in words/cycle per instance (inf: unlimited)
    arith: np.ndarray  # float64 [3] arithmetic instances, meshX, meshY
    spatial_levels: tuple[int, ...]  # indices of the levels the family maps spatial loops to


def arch_arrays(arch: ArchSpec) -> ArchArrays:
    caps, bws = [], []
    for lv in arch.storage:
        c, _ = capacity(lv)
        caps.append(np.inf if c is None else float(c))
        bw = lv.shared_bandwidth or lv.read_bandwidth
        bws.append(np.inf if not bw else float(bw))
    meshes = [mesh(lv) for lv in arch.storage]
    fan = [fx * fy for fx, fy in fanouts(arch)]
    cmx, cmy = mesh(arch.compute)
    rules = rules_for(arch)
    spatial = tuple(sorted({s.index for s in rules.spatial}))
    return ArchArrays(rules.family, tuple(arch.storage_names), np.array(caps),
                      np.array([float(lv.instances) for lv in arch.storage]),
                      np.array([float(m[0]) for m in meshes]), np.array([float(m[1]) for m in meshes]),
                      np.array(fan, np.float64), np.array(bws),
                      np.array([arch.compute.instances, cmx, cmy], np.float64), spatial)


@dataclass
class Design:
    """``B`` (accelerator, layer, mapping) rows of one family as arrays (rows on axis 0)."""

    family: str
    level_names: tuple[str, ...]
    spatial_levels: tuple[int, ...]  # levels with spatial loops (the family's fan-outs)
    bounded: tuple[int, ...]  # levels with a finite capacity
    t: np.ndarray  # int64 [B, L, 7] temporal factors
    sx: np.ndarray  # int64 [B, L, 7]
    sy: np.ndarray  # int64 [B, L, 7]
    perm: np.ndarray  # int64 [B, L, 7] loop order (dim indices, innermost first)
    keep: np.ndarray  # bool [B, L, 3]
    size: np.ndarray  # int64 [B, 7] layer dims R..N
    conv: np.ndarray  # int64 [B, 4] Wstride, Hstride, Wdilation, Hdilation
    cap: np.ndarray  # float64 [B, L]
    inst: np.ndarray  # float64 [B, L]
    mx: np.ndarray
    my: np.ndarray
    fan: np.ndarray
    bw: np.ndarray
    arith: np.ndarray  # float64 [B, 3]

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @staticmethod
    def concat(parts: Sequence[Design]) -> Design:
        if not parts:
            raise LooplabError("no rows to build features from")
        first = parts[0]
        for p in parts[1:]:
            if p.level_names != first.level_names:
                raise LooplabError(f"cannot mix level lists {first.level_names} and {p.level_names}")
        kw: dict[str, Any] = {"family": first.family, "level_names": first.level_names,
                              "spatial_levels": first.spatial_levels, "bounded": first.bounded}
        for f in fields(Design):
            if f.name not in kw:
                kw[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
        return Design(**kw)


def _layer(dims: dict[str, Any], where: str = "layer") -> tuple[np.ndarray, np.ndarray]:
    try:
        size = np.array([int(dims[d]) for d in DIMS], np.int64)
    except KeyError as exc:
        raise LooplabError(f"layer dims lack {exc.args[0]!r} (need {''.join(DIMS)})", where) from None
    conv = np.array([int(dims.get(k, 1)) for k in CONV_KEYS], np.int64)
    return size, conv


def design_rows(aa: ArchArrays, size: np.ndarray, conv: np.ndarray, batch: MappingBatch,
                arch_index: np.ndarray | None = None, archs: Sequence[ArchArrays] | None = None) -> Design:
    """Rows of ``batch`` with per-row layer arrays ``size`` [B, 7], ``conv`` [B, 4]; the accelerator is ``aa``
    for every row, or ``archs[arch_index[b]]`` per row."""
    b = batch.reordered(aa.level_names)
    B = len(b)
    if archs is None:
        def rep(v: np.ndarray) -> np.ndarray:
            return np.broadcast_to(v, (B, *v.shape)).copy()
        arr = {k: rep(getattr(aa, k)) for k in ("cap", "inst", "mx", "my", "fan", "bw", "arith")}
    else:
        arr = {k: np.stack([getattr(a, k) for a in archs])[arch_index] for k in
               ("cap", "inst", "mx", "my", "fan", "bw", "arith")}
    bounded = tuple(i for i, c in enumerate(aa.cap) if np.isfinite(c))
    return Design(aa.family, aa.level_names, aa.spatial_levels, bounded, b.temporal.astype(np.int64),
                  b.spatial_x.astype(np.int64), b.spatial_y.astype(np.int64), b.perm.astype(np.int64),
                  b.keep.astype(bool),
                  np.asarray(size, np.int64).reshape(B, 7), np.asarray(conv, np.int64).reshape(B, 4), **arr)


def design_for(arch: ArchSpec | ArchArrays, dims: dict[str, Any], batch: MappingBatch) -> Design:
    """The rows of a :class:`MappingBatch` of one (accelerator, layer)."""
    aa = arch if isinstance(arch, ArchArrays) else arch_arrays(arch)
    size, conv = _layer(dims)
    B = len(batch)
    return design_rows(aa, np.tile(size, (B, 1)), np.tile(conv, (B, 1)), batch)
