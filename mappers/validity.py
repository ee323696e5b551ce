"""Mapping validity with Timeloop's own rules, vectorised over a :class:`MappingBatch`.

Timeloop (``Engine::Evaluate`` with ``break_on_failure``) checks the arithmetic level first and then the
storage levels from the innermost outward, and reports only the first failure:

* arithmetic level (``MACC``): the spatial extent of the whole mapping, ``X`` = product of every spatial-X
  factor, ``Y`` = product of every spatial-Y factor; ``X*Y`` against its instances, then ``X`` against its
  meshX, then ``Y`` against its meshY (``mapped max Arithmetic instances|X expansion|Y expansion N exceeds
  hardware instances M``);
* each storage level: the sum over the data spaces it keeps of the tile it holds (every temporal and spatial
  factor at this level and below; inputs use the sliding-window extent ``(P-1)*Wstride + (R-1)*Wdilation + 1``
  and ``(Q-1)*Hstride + (S-1)*Hdilation + 1``) against ``depth * block`` words (``mapped tile size N exceeds
  buffer capacity M``); then the instances used (product of the spatial factors of the levels above it)
  against its instances, the cumulative X extent against its meshX and the Y extent against its meshY
  (``mapped instances|X expansion|Y expansion N exceeds available hardware instances M``).

The mesh is Timeloop's: ``meshX`` as given (``instances`` when absent, with ``meshY = 1``), ``meshY`` as given
or ``instances / meshX``. Everything here is a pure function of (architecture, layer dims, mappings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from looplab.archspec import DIMS, ArchSpec, Level
from looplab.errors import LooplabError
from mappers.mapping import Mapping, MappingBatch

R, S, P, Q, C, K, N = range(7)
CAPACITY, FANOUT, FACTORS = "capacity", "fanout", "factors"


@dataclass
class Validity:
    """Per-mapping verdicts of :func:`check_batch` (all arrays have length ``B``)."""

    valid: np.ndarray  # bool
    failed_level: np.ndarray  # object: level name as Timeloop names it, or None
    kind: np.ndarray  # object: "capacity" | "fanout" | "factors" | None
    reason: np.ndarray  # object: Timeloop's text after "couldn't map level X: ", or None

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    def error_line(self, i: int) -> str | None:
        """The line timeloop-model prints for mapping ``i`` (None when it is valid)."""
        if self.valid[i]:
            return None
        if self.failed_level[i] is None:
            return f"ERROR: {self.reason[i]}"
        return f"ERROR: couldn't map level {self.failed_level[i]}: {self.reason[i]}"


def mesh(level: Level) -> tuple[int, int]:
    """Timeloop's (meshX, meshY) of a level (``BufferLevel::ValidateTopology``)."""
    attrs = level.attributes or {}
    inst = int(level.instances)
    mx, my = attrs.get("meshX"), attrs.get("meshY")
    if mx is not None and my is not None:
        return int(mx), int(my)
    if mx is not None:
        return int(mx), max(1, inst // max(1, int(mx)))
    if my is not None:
        return max(1, inst // max(1, int(my))), int(my)
    return inst, 1


def fanouts(arch: ArchSpec) -> list[tuple[int, int]]:
    """(X, Y) fan-out of every storage level (innermost first) to the next inner level, from Timeloop's meshes
    (unlike ``Level.fanout_x``/``fanout_y``, a level without ``meshX`` counts as a row of ``instances`` along X)."""
    out = []
    inner = mesh(arch.compute)
    for lvl in arch.storage:
        mx, my = mesh(lvl)
        out.append((max(1, inner[0] // max(1, mx)), max(1, inner[1] // max(1, my))))
        inner = (mx, my)
    return out


def _attr(attrs: dict, *keys: str) -> Any:
    for k in keys:
        if attrs.get(k) is not None:
            return attrs[k]
    return None


def capacity(level: Level) -> tuple[int | None, float]:
    """Timeloop's ``(effective_size, min_utilization)`` of a storage level (``BufferLevel::ParseSpecs``).

    Size: ``entries``; else ``depth * block`` with block = ``block-size`` (or, from ``width``, ``width /
    cluster-size / word bits`` or ``width / word bits``); else ``sizeKB * 8192 / word bits``; None when none is
    given (DRAM). Effective size = ``floor(size / multiple-buffering)``.
    """
    a = level.attributes or {}
    word_bits = int(_attr(a, "word-bits", "word_width", "datawidth") or level.datawidth)
    block = _attr(a, "block-size", "block_size", "n_words")
    width = _attr(a, "width", "memory_width", "data_storage_width")
    if block is None:
        block = 1
        if width is not None:
            cluster = _attr(a, "cluster-size")
            block = int(width) // int(cluster) // word_bits if cluster is not None else int(width) // word_bits
    size = None
    if _attr(a, "entries") is not None:
        size = int(a["entries"])
    elif _attr(a, "depth", "memory_depth", "data_storage_depth") is not None:
        size = int(_attr(a, "depth", "memory_depth", "data_storage_depth")) * int(block)
    elif _attr(a, "sizeKB") is not None:
        size = int(float(a["sizeKB"]) * 1024 * 8 / word_bits)
    if size is None:
        return None, 0.0
    mb = float(_attr(a, "multiple-buffering") or 1.0)
    return int(size // mb), float(_attr(a, "min-utilization") or 0.0)


def _layer(dims: dict[str, Any]) -> tuple[np.ndarray, dict[str, int]]:
    try:
        size = np.array([int(dims[d]) for d in DIMS], np.int64)
    except KeyError as exc:
        raise LooplabError(f"layer dims lack {exc.args[0]!r}", "dims") from None
    conv = {k: int(dims.get(k, 1)) for k in ("Wstride", "Hstride", "Wdilation", "Hdilation")}
    return size, conv


def _align(arch: ArchSpec, batch: MappingBatch) -> tuple[np.ndarray, ...]:
    """The batch's arrays re-ordered to the architecture's storage levels (absent levels: ones, keep all)."""
    names = arch.storage_names
    unknown = [n for n in batch.level_names if n not in names]
    if unknown:
        raise LooplabError(f"mapping targets {unknown} are not storage levels of the architecture ({names})",
                           "mapping")
    if tuple(batch.level_names) == tuple(names):
        return batch.temporal, batch.spatial_x, batch.spatial_y, batch.keep
    B, L = len(batch), len(names)
    t = np.ones((B, L, 7), np.int64)
    sx = np.ones((B, L, 7), np.int64)
    sy = np.ones((B, L, 7), np.int64)
    keep = np.ones((B, L, 3), bool)
    for j, n in enumerate(batch.level_names):
        i = names.index(n)
        t[:, i], sx[:, i], sy[:, i], keep[:, i] = (batch.temporal[:, j], batch.spatial_x[:, j],
                                                   batch.spatial_y[:, j], batch.keep[:, j])
    return t, sx, sy, keep


def tile_sizes(cum: np.ndarray, conv: dict[str, int]) -> np.ndarray:
    """Tile words per data space ``[..., 3]`` (Weights, Inputs, Outputs) from cumulative factors ``[..., 7]``."""
    w = (cum[..., P] - 1) * conv["Wstride"] + (cum[..., R] - 1) * conv["Wdilation"] + 1
    h = (cum[..., Q] - 1) * conv["Hstride"] + (cum[..., S] - 1) * conv["Hdilation"] + 1
    weights = cum[..., R] * cum[..., S] * cum[..., C] * cum[..., K]
    inputs = cum[..., C] * cum[..., N] * w * h
    outputs = cum[..., P] * cum[..., Q] * cum[..., K] * cum[..., N]
    return np.stack([weights, inputs, outputs], axis=-1)


def check_batch(arch: ArchSpec, dims: dict[str, Any], batch: MappingBatch) -> Validity:
    """Timeloop's verdict, first failing level, failure kind and reason for every mapping of ``batch``."""
    size, conv = _layer(dims)
    t, sx, sy, keep = _align(arch, batch)
    B = t.shape[0]
    valid = np.ones(B, bool)
    failed = np.full(B, None, object)
    kind = np.full(B, None, object)
    reason = np.full(B, None, object)
    if B == 0:
        return Validity(valid, failed, kind, reason)

    def fail(mask: np.ndarray, level: str | None, k: str, texts: Any) -> None:
        hit = mask & valid
        if not hit.any():
            return
        valid[hit] = False
        failed[hit] = level
        kind[hit] = k
        if isinstance(texts, str):
            reason[hit] = texts
        else:
            reason[hit] = [texts(i) for i in np.flatnonzero(hit)]

    # Factor products must equal the layer (Timeloop refuses such a mapping before evaluating it).
    cum = np.cumprod(t * sx * sy, axis=1)  # [B, L, 7] factors at this level and below
    prod = cum[:, -1]  # [B, 7]
    bad = (prod != size).any(axis=1)
    if bad.any():
        def factor_text(i: int) -> str:
            parts = [f"{d}: factors give {prod[i, j]}, layer has {size[j]}" for j, d in enumerate(DIMS)
                     if prod[i, j] != size[j]]
            return "factor products do not match the layer (" + "; ".join(parts) + ")"
        fail(bad, None, FACTORS, factor_text)

    # Spatial extent per level: product over dims of the X / Y factors; cumulative from the outside in.
    lx = sx.prod(axis=2)  # [B, L]
    ly = sy.prod(axis=2)
    # above_x[:, i] = product of X factors of levels strictly outside level i.
    rx = np.cumprod(lx[:, ::-1], axis=1)[:, ::-1]
    ry = np.cumprod(ly[:, ::-1], axis=1)[:, ::-1]
    above_x = np.concatenate([rx[:, 1:], np.ones((B, 1), np.int64)], axis=1)
    above_y = np.concatenate([ry[:, 1:], np.ones((B, 1), np.int64)], axis=1)
    all_x, all_y = rx[:, 0], ry[:, 0]

    # 1. Arithmetic level.
    comp = arch.compute
    mx, my = mesh(comp)
    inst = all_x * all_y
    fail(inst > comp.instances, comp.name, FANOUT,
         lambda i: f"mapped max Arithmetic instances {inst[i]} exceeds hardware instances {comp.instances}")
    fail(all_x > mx, comp.name, FANOUT,
         lambda i: f"mapped max Arithmetic X expansion {all_x[i]} exceeds hardware instances {mx}")
    fail(all_y > my, comp.name, FANOUT,
         lambda i: f"mapped max Arithmetic Y expansion {all_y[i]} exceeds hardware instances {my}")

    # 2. Storage levels, innermost first.
    tiles = tile_sizes(cum, conv)  # [B, L, 3]
    need = (tiles * keep).sum(axis=2)  # [B, L]
    for i, lvl in enumerate(arch.storage):
        if not valid.any():
            break
        cap, min_util = capacity(lvl)
        if cap is not None:
            col = need[:, i]
            fail(col > cap, lvl.name, CAPACITY,
                 lambda b, col=col, cap=cap: f"mapped tile size {col[b]} exceeds buffer capacity {cap}")
            if min_util > 0:
                floor_ = cap * min_util
                fail(col < floor_, lvl.name, CAPACITY,
                     lambda b, col=col, f=floor_: f"mapped tile size {col[b]} is less than constrained minimum "
                                                  f"utilization {f:g}")
        ux, uy = above_x[:, i], above_y[:, i]
        used = ux * uy
        bmx, bmy = mesh(lvl)
        fail(used > lvl.instances, lvl.name, FANOUT,
             lambda b, used=used, n=lvl.instances: f"mapped instances {used[b]} exceeds available hardware "
                                                   f"instances {n}")
        fail(ux > bmx, lvl.name, FANOUT,
             lambda b, ux=ux, m=bmx: f"mapped X expansion {ux[b]} exceeds available hardware instances {m}")
        fail(uy > bmy, lvl.name, FANOUT,
             lambda b, uy=uy, m=bmy: f"mapped Y expansion {uy[b]} exceeds available hardware instances {m}")
    return Validity(valid, failed, kind, reason)


def check(arch: ArchSpec, dims: dict[str, Any], mapping: Mapping) -> tuple[bool, str | None, str | None, str | None]:
    """``(valid, failed_level, kind, reason)`` of one mapping."""
    v = check_batch(arch, dims, MappingBatch.from_mappings([mapping], arch.storage_names))
    return bool(v.valid[0]), v.failed_level[0], v.kind[0], v.reason[0]
