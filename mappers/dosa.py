"""DOSA mapping strings and DOSA dataset CSVs (Gemmini-like family).

A DOSA mapping string lists the levels outer to inner, separated by `` - ``; each level is ``L<i>[<kept>]``
followed by its loops outer to inner, ``X`` marking a spatial loop::

    L3[WIO] P28 R7 Q56 K8 - L2[WI] N1 K4X - L1[O] K2 S7 Q2 P2 C3X - L0[W] P2

``L<i>`` is storage level ``i`` counted from the innermost (Gemmini: L0 Registers, L1 Accumulator,
L2 Scratchpad, L3 DRAM); ``[WIO]`` names the kept tensors (Weights, Inputs, Outputs). DOSA writes ``N1`` for a
level without temporal loops and puts the spatial loops last; :func:`format_dosa_mapping` does the same, so
DOSA's strings round-trip exactly. Spatial loops at the Scratchpad go to X (K across PE columns) and at the
Accumulator to Y (C across PE rows), as in the Gemmini template.

DOSA CSV columns used: ``mapping.mapping``, ``prob.<dim>``, ``target.*`` and the ``arch.*`` hardware columns.
``arch.mem<i>_{shared,read,write}_bandwidth`` are kept per level (:func:`dosa_bandwidths`); the sizes are
converted to looplab's Gemmini parameters: ``pe_dim = arch.meshX`` (``arch.pe = pe_dim**2``), scratchpad
``sp_kib = mem2_depth * mem2_width / 8 / 1024``, accumulator ``acc_kib = mem1_depth * mem1_width *
mem1_instances / 8 / 1024`` -- the inverse of the template's ``depth = sp_kib*1024/pe_dim`` (width
``8*pe_dim``) and ``depth = acc_kib*1024/(4*pe_dim)`` (32-bit words, ``pe_dim`` instances).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looplab.archspec import DIMS, TENSORS
from looplab.errors import LooplabError
from mappers.mapping import LevelMapping, Mapping

GEMMINI_LEVELS: tuple[str, ...] = ("Registers", "Accumulator", "Scratchpad", "DRAM")  # L0 .. L3
GEMMINI_SPATIAL_AXIS: dict[str, str] = {"Scratchpad": "X", "Accumulator": "Y"}
_LETTER = {"W": "Weights", "I": "Inputs", "O": "Outputs"}
_TENSOR_LETTER = {v: k for k, v in _LETTER.items()}
_LEVEL = re.compile(r"^L(?P<idx>\d+)\[(?P<keep>[A-Z]*)\](?P<loops>.*)$")
_LOOP = re.compile(r"^(?P<dim>[A-Z])(?P<n>\d+)(?P<x>X?)$")
PROBLEM_KEYS = ("R", "S", "P", "Q", "C", "K", "N", "Wstride", "Hstride", "Wdilation", "Hdilation")


def parse_dosa_mapping(text: str, level_names: Sequence[str] = GEMMINI_LEVELS,
                       spatial_axis: dict[str, str] | None = None, where: str = "DOSA mapping") -> Mapping:
    """DOSA string -> :class:`Mapping` (levels innermost first, as everywhere in looplab)."""
    axes = GEMMINI_SPATIAL_AXIS if spatial_axis is None else spatial_axis
    parts = [p.strip() for p in str(text).strip().split(" - ")]
    seen: dict[int, LevelMapping] = {}
    for part in parts:
        m = _LEVEL.match(part)
        if not m:
            raise LooplabError(f"bad level {part!r} (expected 'L<i>[WIO] loops...')", where)
        idx = int(m["idx"])
        if idx >= len(level_names):
            raise LooplabError(f"level L{idx} does not exist (levels L0..L{len(level_names) - 1}: "
                               f"{list(level_names)})", where)
        if idx in seen:
            raise LooplabError(f"level L{idx} appears twice", where)
        bad = [c for c in m["keep"] if c not in _LETTER]
        if bad:
            raise LooplabError(f"L{idx}: unknown tensor letter(s) {bad} (W, I, O)", where)
        name = level_names[idx]
        temporal = dict.fromkeys(DIMS, 1)
        spatial = dict.fromkeys(DIMS, 1)
        t_order: list[str] = []  # outer to inner
        s_order: list[str] = []
        for tok in m["loops"].split():
            lm = _LOOP.match(tok)
            if not lm or lm["dim"] not in DIMS:
                raise LooplabError(f"L{idx}: bad loop {tok!r} (expected e.g. 'K8' or 'C3X')", where)
            d, n = lm["dim"], int(lm["n"])
            if n < 1:
                raise LooplabError(f"L{idx}: loop {tok!r} must have a bound >= 1", where)
            target, order = (spatial, s_order) if lm["x"] else (temporal, t_order)
            if d in order:
                raise LooplabError(f"L{idx}: dimension {d} appears twice in the {'spatial' if lm['x'] else 'temporal'}"
                                   " loops", where)
            target[d] = n
            order.append(d)
        keep = [_LETTER[c] for c in "WIO" if c in m["keep"]]
        perm = _perm_from_outer(t_order)
        sperm = _perm_from_outer(s_order)
        axis = axes.get(name, "X")
        sx = spatial if axis == "X" else {}
        sy = spatial if axis == "Y" else {}
        seen[idx] = LevelMapping(level=name, temporal=temporal, permutation=perm, spatial_x=sx, spatial_y=sy,
                                 spatial_permutation=sperm if s_order else None, keep=keep,
                                 bypass=[t for t in TENSORS if t not in keep])
    levels = [seen.get(i) or LevelMapping(level=n) for i, n in enumerate(level_names)]
    return Mapping(levels)


def _perm_from_outer(outer_to_inner: list[str]) -> str:
    """Innermost-first permutation string: the listed loops, then the unlisted dims (outermost)."""
    inner_first = list(reversed(outer_to_inner))
    return "".join(inner_first + [d for d in DIMS if d not in inner_first])


def format_dosa_mapping(mapping: Mapping, level_names: Sequence[str] | None = None) -> str:
    """:class:`Mapping` -> DOSA string (levels outer to inner, loops outer to inner, spatial loops last)."""
    levels = mapping.levels if level_names is None else [mapping.level(n) for n in level_names]
    out = []
    for idx in range(len(levels) - 1, -1, -1):
        lm = levels[idx]
        keep = "".join(_TENSOR_LETTER[t] for t in TENSORS if t in lm.keep)
        loops = [f"{d}{lm.temporal[d]}" for d in reversed(lm.permutation) if lm.temporal[d] > 1]
        if not loops:
            loops = ["N1"]
        sperm = lm.spatial_permutation or "".join(DIMS)
        for d in reversed(sperm):
            n = lm.spatial_x[d] * lm.spatial_y[d]
            if n > 1:
                loops.append(f"{d}{n}X")
        out.append(f"L{idx}[{keep}] " + " ".join(loops))
    return " - ".join(out)


# ---- DOSA dataset CSV ---------------------------------------------------------------------------------


@dataclass
class DosaRow:
    """One row of a DOSA dataset CSV, in looplab terms."""

    arch_params: dict[str, Any]  # GemminiConfig params: pe_dim, sp_kib, acc_kib
    dims: dict[str, int]  # the 11 problem dims
    mapping: Mapping
    targets: dict[str, float]  # DOSA's target.* columns (cycle, energy, edp, area, ...) as in the file
    mapping_text: str
    line: int = 0
    extra: dict[str, str] = field(default_factory=dict)  # arch.* columns as read
    bandwidths: dict[str, dict[str, float]] = field(default_factory=dict)  # level -> *_bandwidth from the columns


def _num(row: dict[str, str], key: str, where: str) -> float:
    if key not in row or row[key] in ("", None):
        raise LooplabError(f"missing column {key!r}", where)
    try:
        return float(row[key])
    except ValueError:
        raise LooplabError(f"column {key!r} is not a number: {row[key]!r}", where) from None


def _int_or_float(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def dosa_arch_params(row: dict[str, str], where: str = "DOSA row") -> dict[str, Any]:
    """Gemmini parameters (``pe_dim``, ``sp_kib``, ``acc_kib``) from DOSA's ``arch.*`` columns, checked for
    consistency (``pe = meshX**2``, accumulator instances = meshX, entries = depth*width/word-bits)."""
    name = row.get("arch.name", "gemmini")
    if name and name != "gemmini":
        raise LooplabError(f"arch.name is {name!r}; only DOSA's gemmini architecture is supported", where)
    pe_dim = int(_num(row, "arch.meshX", where))
    pe = int(_num(row, "arch.pe", where))
    if pe != pe_dim * pe_dim:
        raise LooplabError(f"arch.pe {pe} is not arch.meshX**2 ({pe_dim}**2)", where)
    acc_inst = int(_num(row, "arch.mem1_instances", where))
    if acc_inst != pe_dim:
        raise LooplabError(f"arch.mem1_instances {acc_inst} differs from arch.meshX {pe_dim}", where)
    bits = {}
    for mem in ("mem1", "mem2"):
        depth = _num(row, f"arch.{mem}_depth", where)
        width = _num(row, f"arch.{mem}_width", where)
        wb = _num(row, f"arch.{mem}_word-bits", where)
        entries = row.get(f"arch.{mem}_entries")
        if entries not in (None, "") and float(entries) * wb != depth * width:
            raise LooplabError(f"arch.{mem}_entries {entries} != depth*width/word-bits "
                               f"({depth:g}*{width:g}/{wb:g})", where)
        bits[mem] = depth * width
    sp_kib = bits["mem2"] * _num(row, "arch.mem2_instances", where) / 8 / 1024
    acc_kib = bits["mem1"] * acc_inst / 8 / 1024
    return {"pe_dim": pe_dim, "sp_kib": _int_or_float(sp_kib), "acc_kib": _int_or_float(acc_kib)}


DOSA_MEMS: dict[str, str] = {"mem1": "Accumulator", "mem2": "Scratchpad"}
BANDWIDTH_KINDS = ("shared", "read", "write")


def dosa_bandwidths(row: dict[str, str], where: str = "DOSA row") -> dict[str, dict[str, float]]:
    """Per Gemmini level, the ``shared_bandwidth`` / ``read_bandwidth`` / ``write_bandwidth`` (words per cycle) that
    the row's ``arch.mem<i>_<kind>_bandwidth`` columns give (DOSA's timeloop dataset has ``shared``, its FireSim
    training set ``read`` and ``write``). Levels without such columns are left out."""
    out: dict[str, dict[str, float]] = {}
    for mem, level in DOSA_MEMS.items():
        for kind in BANDWIDTH_KINDS:
            key = f"arch.{mem}_{kind}_bandwidth"
            if row.get(key) not in (None, ""):
                v = _num(row, key, where)
                if not v > 0:
                    raise LooplabError(f"column {key!r} must be > 0, got {row[key]!r}", where)
                out.setdefault(level, {})[f"{kind}_bandwidth"] = v
    return out


#: ``target.cycle`` of DOSA's FireSim training CSV is the measured RTL cycle count (it equals
#: ``target.gemmini_cycle`` on every row); its ``target.edp`` is still Timeloop's (energy in uJ x cycles / 1e6).
FIRESIM_SOURCE = "dosa-csv (target.cycle is FireSim's; Timeloop cycles = target.edp / target.energy * 1e6)"


def dosa_timeloop_cycles(targets: dict[str, float]) -> tuple[float, str]:
    """Timeloop's cycle count of a DOSA row and where it came from.

    ``target.cycle`` normally is Timeloop's. When the row also has ``target.gemmini_cycle`` equal to it (DOSA's
    ``firesim_training.csv``), ``target.cycle`` is the FireSim measurement, and Timeloop's count is recovered from
    ``target.edp = target.energy [uJ] * cycles / 1e6``, which DOSA wrote from Timeloop's cycles (on its Timeloop
    dataset sample ``edp / energy * 1e6`` equals ``target.cycle`` to 3e-6).
    """
    cyc = targets["cycle"]
    fs = targets.get("gemmini_cycle")
    if fs is not None and fs == cyc and targets.get("edp") and targets.get("energy"):
        return targets["edp"] / targets["energy"] * 1e6, FIRESIM_SOURCE
    return cyc, "dosa-csv"


def iter_dosa_csv(path: str | Path, check_factors: bool = True) -> Iterator[DosaRow]:
    """Rows of a DOSA dataset CSV (``firesim_training.csv``, ``timeloop_dataset_sample.csv``, ...)."""
    path = Path(path)
    if not path.exists():
        raise LooplabError("file not found", str(path))
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "mapping.mapping" not in reader.fieldnames:
            raise LooplabError("not a DOSA dataset CSV (no 'mapping.mapping' column)", str(path))
        for i, row in enumerate(reader, start=2):
            where = f"{path}: line {i}"
            dims = {}
            for k in PROBLEM_KEYS:
                v = _num(row, f"prob.{k}", where)
                if not v.is_integer() or v < 1:
                    raise LooplabError(f"prob.{k} must be a positive integer, got {row[f'prob.{k}']!r}", where)
                dims[k] = int(v)
            text = row["mapping.mapping"]
            mapping = parse_dosa_mapping(text, where=f"{where}: mapping.mapping")
            if check_factors:
                mapping.check_layer(dims, where=f"{where}: mapping.mapping")
            targets = {k.split(".", 1)[1]: float(v) for k, v in row.items()
                       if k and k.startswith("target.") and v not in ("", None)}
            yield DosaRow(arch_params=dosa_arch_params(row, where), dims=dims, mapping=mapping, targets=targets,
                          mapping_text=text, line=i,
                          extra={k: v for k, v in row.items() if k and k.startswith("arch.")},
                          bandwidths=dosa_bandwidths(row, where))


def read_dosa_csv(path: str | Path, check_factors: bool = True) -> list[DosaRow]:
    """All rows of a DOSA dataset CSV (see :func:`iter_dosa_csv`)."""
    return list(iter_dosa_csv(path, check_factors))
