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

import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np

from looplab.archspec import DIMS, ArchSpec, Level
from looplab.errors import LooplabError
from mappers.mapping import Mapping, MappingBatch

R, S, P, Q, C, K, N = range(7)
CAPACITY, FANOUT, FACTORS = "capacity", "fanout", "factors"


@dataclass(frozen=True)
class Check:
    """One of Timeloop's checks: the level it names, the failure kind and the text after the level name
    (``{v}`` is the mapped value of the failing mapping)."""

    level: str | None
    kind: str
    template: str


class Validity:
    """Per-mapping verdicts of :func:`check_batch` (every array has length ``B``).

    Stored as numbers (``code``: index of the first failing :class:`Check`, -1 when valid; ``value``: the mapped
    value it failed on); the per-row texts ``failed_level``, ``kind`` and ``reason`` are built on first access,
    so hot loops that need only the verdict (sampling, batched evaluation) never format a string.
    """

    def __init__(self, valid: np.ndarray, code: np.ndarray, value: np.ndarray, checks: tuple[Check, ...],
                 text: dict[int, str] | None = None) -> None:
        self.valid = valid
        self.code = code
        self.value = value
        self.checks = checks
        self.text = text or {}  # row -> full reason, for checks whose text is not one value (factor products)
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def from_codes(cls, pl: Plan, code: np.ndarray, value: np.ndarray, t: np.ndarray, sx: np.ndarray,
                   sy: np.ndarray) -> Validity:
        """The verdicts of a check over ``pl`` (``code``/``value`` per row; ``t``/``sx``/``sy`` the batch's
        factors, for the texts of factor-product failures)."""
        return cls(code < 0, code, value, pl.checks, factor_texts(pl, t, sx, sy, np.flatnonzero(code == 0)))

    @classmethod
    def all_valid(cls, n: int) -> Validity:
        return cls(np.ones(n, bool), np.full(n, -1, np.int32), np.zeros(n, np.int64), ())

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    def _column(self, name: str) -> np.ndarray:
        if name in self._cache:
            return self._cache[name]
        n = len(self)
        if name == "reason":
            out = np.full(n, None, object)
            for c, chk in enumerate(self.checks):
                rows = np.flatnonzero(self.code == c)
                if len(rows):
                    out[rows] = [self.text.get(int(i)) or chk.template.format(v=v)
                                 for i, v in zip(rows.tolist(), self.value[rows].tolist(), strict=True)]
        else:
            table = np.array([getattr(c, "level" if name == "failed_level" else "kind") for c in self.checks]
                             + [None], object)
            out = table[np.where(self.code < 0, len(self.checks), self.code)]
        self._cache[name] = out
        return out

    @property
    def failed_level(self) -> np.ndarray:
        """object[B]: the level name as Timeloop names it, or None."""
        return self._column("failed_level")

    @property
    def kind(self) -> np.ndarray:
        """object[B]: "capacity" | "fanout" | "factors" | None."""
        return self._column("kind")

    @property
    def reason(self) -> np.ndarray:
        """object[B]: Timeloop's text after "couldn't map level X: ", or None."""
        return self._column("reason")

    def take(self, idx: np.ndarray) -> Validity:
        """The verdicts of rows ``idx``."""
        idx = np.asarray(idx)
        rows = np.arange(len(self))[idx]
        text = {j: self.text[int(i)] for j, i in enumerate(rows.tolist()) if int(i) in self.text} if self.text else {}
        return Validity(self.valid[idx], self.code[idx], self.value[idx], self.checks, text)

    @staticmethod
    def concat(parts: list[Validity]) -> Validity:
        """Rows of ``parts`` one after the other (their check tables are merged)."""
        checks: list[Check] = []
        index: dict[Check, int] = {}
        codes, text, off = [], {}, 0
        for p in parts:
            remap = np.empty(len(p.checks) + 1, np.int32)
            remap[-1] = -1
            for c, chk in enumerate(p.checks):
                if chk not in index:
                    index[chk] = len(checks)
                    checks.append(chk)
                remap[c] = index[chk]
            codes.append(remap[p.code])  # code -1 picks remap[-1] = -1
            text.update({off + i: t for i, t in p.text.items()})
            off += len(p)
        if not parts:
            return Validity.all_valid(0)
        return Validity(np.concatenate([p.valid for p in parts]), np.concatenate(codes),
                        np.concatenate([p.value for p in parts]), tuple(checks), text)

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
    word_bits = int(_attr(a, "word-bits", "word_bits", "word_width", "datawidth") or level.datawidth)
    block = _attr(a, "block-size", "block_size", "n_words")
    width = _attr(a, "width", "memory_width", "data_storage_width")
    if block is None:
        block = 1
        if width is not None:
            cluster = _attr(a, "cluster-size", "cluster_size")
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
    mb = float(_attr(a, "multiple-buffering", "multiple_buffering") or 1.0)
    return int(size // mb), float(_attr(a, "min-utilization", "min_utilization") or 0.0)


def _layer(dims: dict[str, Any]) -> tuple[np.ndarray, dict[str, int]]:
    try:
        size = np.array([int(dims[d]) for d in DIMS], np.int64)
    except KeyError as exc:
        raise LooplabError(f"layer dims lack {exc.args[0]!r}", "dims") from None
    conv = {k: int(dims.get(k, 1)) for k in ("Wstride", "Hstride", "Wdilation", "Hdilation")}
    conv["depthwise"] = int(dims.get("depthwise", 0))
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
    outputs = cum[..., P] * cum[..., Q] * cum[..., C if conv.get("depthwise") else K] * cum[..., N]
    return np.stack([weights, inputs, outputs], axis=-1)


@dataclass(frozen=True)
class Plan:
    """Timeloop's checks for one (architecture, layer), in the order Timeloop runs them, as numbers.

    ``checks[0]`` is the factor-product check, ``checks[1:4]`` the arithmetic level's; ``code[l]`` holds the
    indices of storage level ``l``'s capacity, minimum-utilization, instances, X and Y checks (-1: not checked).
    ``pdim``/``pcoef`` [3, 4, 2]: per data space and tile axis the (up to two) dims and coefficients of its extent.
    """

    checks: tuple[Check, ...]
    size: np.ndarray  # int64 [7]
    conv: dict[str, int]
    pdim: np.ndarray
    pcoef: np.ndarray
    arith: np.ndarray  # int64 [3]: instances, meshX, meshY of the arithmetic level
    cap: np.ndarray  # int64 [L]
    floor: np.ndarray  # float64 [L]
    inst: np.ndarray  # int64 [L]
    mx: np.ndarray  # int64 [L]
    my: np.ndarray  # int64 [L]
    code: np.ndarray  # int32 [L, 5]


def plan(arch: ArchSpec, dims: dict[str, Any]) -> Plan:
    """The :class:`Plan` of ``arch`` and layer ``dims``."""
    size, conv = _layer(dims)
    comp = arch.compute
    cmx, cmy = mesh(comp)
    checks = [Check(None, FACTORS, "factor products do not match the layer"),
              Check(comp.name, FANOUT, f"mapped max Arithmetic instances {{v}} exceeds hardware instances "
                                       f"{comp.instances}"),
              Check(comp.name, FANOUT, f"mapped max Arithmetic X expansion {{v}} exceeds hardware instances {cmx}"),
              Check(comp.name, FANOUT, f"mapped max Arithmetic Y expansion {{v}} exceeds hardware instances {cmy}")]
    L = len(arch.storage)
    cap_a, floor_a = np.zeros(L, np.int64), np.zeros(L)
    inst_a, mx_a, my_a = np.zeros(L, np.int64), np.zeros(L, np.int64), np.zeros(L, np.int64)
    code = np.full((L, 5), -1, np.int32)

    def add(chk: Check) -> int:
        checks.append(chk)
        return len(checks) - 1

    for i, lvl in enumerate(arch.storage):
        cap, min_util = capacity(lvl)
        if cap is not None:
            cap_a[i] = cap
            code[i, 0] = add(Check(lvl.name, CAPACITY, f"mapped tile size {{v}} exceeds buffer capacity {cap}"))
            if min_util > 0:
                floor_a[i] = cap * min_util
                code[i, 1] = add(Check(lvl.name, CAPACITY, f"mapped tile size {{v}} is less than constrained minimum "
                                                           f"utilization {floor_a[i]:g}"))
        bmx, bmy = mesh(lvl)
        inst_a[i], mx_a[i], my_a[i] = lvl.instances, bmx, bmy
        code[i, 2] = add(Check(lvl.name, FANOUT, f"mapped instances {{v}} exceeds available hardware instances "
                                                 f"{lvl.instances}"))
        for j, (axis, m) in enumerate((("X", bmx), ("Y", bmy))):
            code[i, 3 + j] = add(Check(lvl.name, FANOUT,
                                       f"mapped {axis} expansion {{v}} exceeds available hardware instances {m}"))
    # Tile axes: Weights (R, S, C, K); Inputs (C, N, W = P*Wstride + R*Wdilation, H = Q*Hstride + S*Hdilation);
    # Outputs (P, Q, K, N).
    pdim = np.full((3, 4, 2), -1, np.int64)
    pcoef = np.zeros((3, 4, 2), np.int64)
    axes = [[[(R, 1)], [(S, 1)], [(C, 1)], [(K, 1)]],
            [[(C, 1)], [(N, 1)], [(P, conv["Wstride"]), (R, conv["Wdilation"])],
             [(Q, conv["Hstride"]), (S, conv["Hdilation"])]],
            [[(P, 1)], [(Q, 1)], [(C if conv.get("depthwise") else K, 1)], [(N, 1)]]]
    for pv, tensor in enumerate(axes):
        for a, terms in enumerate(tensor):
            for q, (d, c) in enumerate(terms):
                pdim[pv, a, q], pcoef[pv, a, q] = d, c
    return Plan(tuple(checks), size, conv, pdim, pcoef, np.array([comp.instances, cmx, cmy], np.int64),
                cap_a, floor_a, inst_a, mx_a, my_a, code)


def _check_numpy(pl: Plan, t: np.ndarray, sx: np.ndarray, sy: np.ndarray,
                 keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code, value) per row, with numpy arrays over the batch (the reference for the compiled path)."""
    B = t.shape[0]
    valid = np.ones(B, bool)
    code = np.full(B, -1, np.int32)
    value = np.zeros(B, np.int64)

    def fail(mask: np.ndarray, c: int, mapped: np.ndarray | None) -> None:
        hit = mask & valid
        if c < 0 or not hit.any():
            return
        valid[hit] = False
        code[hit] = c
        if mapped is not None:
            value[hit] = mapped[hit]

    cum = np.cumprod(t * sx * sy, axis=1)  # [B, L, 7] factors at this level and below
    fail((cum[:, -1] != pl.size).any(axis=1), 0, None)
    # Spatial extent per level: product over dims of the X / Y factors; cumulative from the outside in.
    rx = np.cumprod(sx.prod(axis=2)[:, ::-1], axis=1)[:, ::-1]
    ry = np.cumprod(sy.prod(axis=2)[:, ::-1], axis=1)[:, ::-1]
    # above_x[:, i] = product of X factors of levels strictly outside level i.
    above_x = np.concatenate([rx[:, 1:], np.ones((B, 1), np.int64)], axis=1)
    above_y = np.concatenate([ry[:, 1:], np.ones((B, 1), np.int64)], axis=1)
    all_x, all_y = rx[:, 0], ry[:, 0]
    fail(all_x * all_y > pl.arith[0], 1, all_x * all_y)
    fail(all_x > pl.arith[1], 2, all_x)
    fail(all_y > pl.arith[2], 3, all_y)
    need = (tile_sizes(cum, pl.conv) * keep).sum(axis=2)  # [B, L]
    for i in range(t.shape[1]):
        if not valid.any():
            break
        col = need[:, i]
        fail(col > pl.cap[i], int(pl.code[i, 0]), col)
        fail(col < pl.floor[i], int(pl.code[i, 1]), col)
        ux, uy = above_x[:, i], above_y[:, i]
        fail(ux * uy > pl.inst[i], int(pl.code[i, 2]), ux * uy)
        fail(ux > pl.mx[i], int(pl.code[i, 3]), ux)
        fail(uy > pl.my[i], int(pl.code[i, 4]), uy)
    return code, value


def factor_texts(pl: Plan, t: np.ndarray, sx: np.ndarray, sy: np.ndarray, rows: np.ndarray) -> dict[int, str]:
    """The reason of each factor-product failure among ``rows``."""
    if len(rows) == 0:
        return {}
    prod = (t[rows] * sx[rows] * sy[rows]).prod(axis=1)
    out = {}
    for j, i in enumerate(rows.tolist()):
        parts = [f"{d}: factors give {prod[j, k]}, layer has {pl.size[k]}" for k, d in enumerate(DIMS)
                 if prod[j, k] != pl.size[k]]
        out[i] = "factor products do not match the layer (" + "; ".join(parts) + ")"
    return out


#: Batches at least this large take the compiled path when numba is installed (both give the same verdicts).
KERNEL_MIN_ROWS = 256


def kernel_available() -> bool:
    """Whether the compiled kernels can run (numba installed); numba itself is imported on first use."""
    return importlib.util.find_spec("numba") is not None


def check_batch(arch: ArchSpec, dims: dict[str, Any], batch: MappingBatch,
                use_kernel: bool | None = None, checks: Plan | None = None) -> Validity:
    """Timeloop's verdict, first failing level, failure kind and reason for every mapping of ``batch``.

    ``use_kernel`` (default: numba installed and at least :data:`KERNEL_MIN_ROWS` rows) runs the compiled
    :mod:`mappers.validity_kernel`; the numpy path gives the same verdicts. ``checks``: the :func:`plan` of
    (arch, dims) when the caller already has it.
    """
    pl = checks if checks is not None else plan(arch, dims)
    t, sx, sy, keep = _align(arch, batch)
    B = t.shape[0]
    if use_kernel is None:
        use_kernel = B >= KERNEL_MIN_ROWS and kernel_available()
    if B == 0:
        code, value = np.zeros(0, np.int32), np.zeros(0, np.int64)
    elif use_kernel:
        from looplab.numba_setup import announce_compile
        from mappers import validity_kernel as vk

        code, value = np.empty(B, np.int32), np.empty(B, np.int64)
        nchunk = vk.chunks(B)
        run = vk.check_rows if nchunk > 1 else vk.check_rows_serial
        announce_compile(run, "the validity kernel" + (" (parallel)" if nchunk > 1 else ""))
        with vk.KERNEL_LOCK:
            run(t, sx, sy, keep, pl.size, pl.pdim, pl.pcoef, pl.arith, pl.cap, pl.floor, pl.inst, pl.mx, pl.my,
                pl.code, nchunk, code, value)
    else:
        code, value = _check_numpy(pl, t, sx, sy, keep)
    return Validity.from_codes(pl, code, value, t, sx, sy)


def check(arch: ArchSpec, dims: dict[str, Any], mapping: Mapping) -> tuple[bool, str | None, str | None, str | None]:
    """``(valid, failed_level, kind, reason)`` of one mapping."""
    v = check_batch(arch, dims, MappingBatch.from_mappings([mapping], arch.storage_names))
    return bool(v.valid[0]), v.failed_level[0], v.kind[0], v.reason[0]
