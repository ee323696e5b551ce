"""Typed, validated accelerator configurations of the two families (Simba-like, Gemmini-like).

Sizes are per the reference templates (``reference/README.md``): every buffer depth derived from a KiB size must
be a whole number of rows, so a config either renders to a Timeloop architecture Accelergy accepts or raises one
:class:`LooplabError` naming the offending field.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

from looplab.errors import LooplabError

FAMILIES: tuple[str, ...] = ("simba", "gemmini")


def _is_pow2(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def _int_field(value: Any, field: str, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LooplabError(f"{field} must be an integer >= {minimum}, got {value!r}", where)
    if not float(value).is_integer():
        raise LooplabError(f"{field} must be an integer >= {minimum}, got {value!r}", where)
    value = int(value)
    if value < minimum:
        raise LooplabError(f"{field} must be an integer >= {minimum}, got {value}", where)
    return value


def _size_field(value: Any, field: str, where: str) -> int | float:
    """A positive size in KiB (fractions allowed, e.g. 1.5); integral values are stored as int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LooplabError(f"{field} must be a positive number of KiB, got {value!r}", where)
    f = float(value)
    if not math.isfinite(f) or f <= 0:
        raise LooplabError(f"{field} must be a positive number of KiB, got {value!r}", where)
    return int(f) if f.is_integer() else f


def _rows(kib: float, bits_per_row: int, field: str, where: str) -> int:
    """Depth (rows) of a buffer of ``kib`` KiB with ``bits_per_row``-bit rows; must be a whole number >= 1."""
    bits = kib * 1024 * 8
    rows = bits / bits_per_row
    if not float(rows).is_integer() or rows < 1:
        raise LooplabError(f"{field}={kib} KiB is not a whole number of {bits_per_row}-bit rows "
                           f"({rows:g} rows)", where)
    return int(rows)


class _Config:
    """Shared behaviour: ``family``, ``name``, ``to_params()``, ``replace()``, ``render()``."""

    family: ClassVar[str]
    PARAM_KEYS: ClassVar[tuple[str, ...]]

    def to_params(self) -> dict[str, int | float]:
        """The template parameters with the keys of the reference ``params.json`` files."""
        return {k: getattr(self, k) for k in self.PARAM_KEYS}

    def replace(self, **changes: Any) -> Any:
        """A copy with some parameters (or the name) changed, validated again."""
        unknown = set(changes) - set(self.PARAM_KEYS) - {"name"}
        if unknown:
            raise LooplabError(f"unknown parameter(s) {sorted(unknown)} (expected {', '.join(self.PARAM_KEYS)})",
                               f"{self.family} config")
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def render(self, technology: str = "45nm", cycle_seconds: float = 1e-9) -> str:
        """Timeloop v0.4 architecture YAML (classic ``subtree``/``local`` tree) through
        ``templates/arch/<family>.yaml.j2``. String attributes (technology, DRAM type) are double-quoted:
        Accelergy 0.4 evaluates unquoted scalars."""
        from looplab.render import render_template

        return render_template(f"arch/{self.family}.yaml.j2", technology=technology, cycle_seconds=cycle_seconds,
                               **self.template_context())

    @property
    def where(self) -> str:
        return f"{self.family} config {self.name!r}" if getattr(self, "name", "") else f"{self.family} config"


@dataclass(frozen=True)
class SimbaConfig(_Config):
    """Simba-like accelerator: DRAM -> GlobalBuffer -> PE[pes]: InputBuffer -> lanes L: WeightBuffer,
    AccumulationBuffer -> vector V: Registers -> MACC.

    ``macs`` is the total MAC count; ``macs/pes = 2^k`` gives ``L = 2^floor(k/2)`` lanes and
    ``V = 2^ceil(k/2)`` vector width per PE. Buffer sizes are KiB per PE (global: total).
    """

    pes: int
    macs: int
    accum_kib_per_pe: float
    weight_kib_per_pe: float
    input_kib_per_pe: float
    global_kib: float
    name: str = ""

    family: ClassVar[str] = "simba"
    PARAM_KEYS: ClassVar[tuple[str, ...]] = ("pes", "macs", "accum_kib_per_pe", "weight_kib_per_pe",
                                             "input_kib_per_pe", "global_kib")

    def __post_init__(self) -> None:
        w = self.where
        pes = _int_field(self.pes, "pes", w)
        macs = _int_field(self.macs, "macs", w)
        if macs % pes:
            raise LooplabError(f"macs={macs} must be a multiple of pes={pes}", w)
        if not _is_pow2(macs // pes):
            raise LooplabError(f"macs/pes = {macs // pes} must be a power of two (macs={macs}, pes={pes})", w)
        object.__setattr__(self, "pes", pes)
        object.__setattr__(self, "macs", macs)
        for f in ("accum_kib_per_pe", "weight_kib_per_pe", "input_kib_per_pe", "global_kib"):
            object.__setattr__(self, f, _size_field(getattr(self, f), f, w))
        # Depths must be whole rows (raises naming the field otherwise).
        _ = self.global_depth, self.input_depth, self.weight_depth, self.accum_depth

    @property
    def macs_per_pe(self) -> int:
        return self.macs // self.pes

    @property
    def lanes(self) -> int:
        """L: WeightBuffer/AccumulationBuffer lanes per PE."""
        k = self.macs_per_pe.bit_length() - 1
        return 2 ** (k // 2)

    @property
    def vector(self) -> int:
        """V: MACs per lane."""
        k = self.macs_per_pe.bit_length() - 1
        return 2 ** (k - k // 2)

    @property
    def global_depth(self) -> int:
        return _rows(self.global_kib, 64, "global_kib", self.where)

    @property
    def input_depth(self) -> int:
        return _rows(self.input_kib_per_pe, 64, "input_kib_per_pe", self.where)

    @property
    def weight_depth(self) -> int:
        return _rows(self.weight_kib_per_pe, 64 * self.lanes, "weight_kib_per_pe", self.where)

    @property
    def accum_depth(self) -> int:
        return _rows(self.accum_kib_per_pe, 24 * self.lanes, "accum_kib_per_pe", self.where)

    def template_context(self) -> dict[str, Any]:
        return {"cfg": self, "pes": self.pes, "L": self.lanes, "V": self.vector,
                "global_depth": self.global_depth, "input_depth": self.input_depth,
                "weight_depth": self.weight_depth, "accum_depth": self.accum_depth,
                "n_weight": self.pes * self.lanes, "n_mac": self.macs}


@dataclass(frozen=True)
class GemminiConfig(_Config):
    """Gemmini-like systolic array (after DOSA): DRAM -> Scratchpad -> PECols[pe_dim]: Accumulator ->
    PERows[pe_dim]: Registers + MACC. ``sp_kib`` and ``acc_kib`` are totals in KiB.
    """

    pe_dim: int
    sp_kib: float
    acc_kib: float
    name: str = ""

    family: ClassVar[str] = "gemmini"
    PARAM_KEYS: ClassVar[tuple[str, ...]] = ("pe_dim", "sp_kib", "acc_kib")

    def __post_init__(self) -> None:
        w = self.where
        object.__setattr__(self, "pe_dim", _int_field(self.pe_dim, "pe_dim", w))
        object.__setattr__(self, "sp_kib", _size_field(self.sp_kib, "sp_kib", w))
        object.__setattr__(self, "acc_kib", _size_field(self.acc_kib, "acc_kib", w))
        _ = self.sp_depth, self.acc_depth

    @property
    def sp_depth(self) -> int:
        """Scratchpad rows of ``8*pe_dim`` bits (one row feeds the whole array)."""
        return _rows(self.sp_kib, 8 * self.pe_dim, "sp_kib", self.where)

    @property
    def acc_depth(self) -> int:
        """Accumulator rows of one 32-bit word per PE column instance."""
        return _rows(self.acc_kib, 32 * self.pe_dim, "acc_kib", self.where)

    def template_context(self) -> dict[str, Any]:
        return {"cfg": self, "pe": self.pe_dim, "sp_depth": self.sp_depth, "acc_depth": self.acc_depth,
                "sp_width": 8 * self.pe_dim, "sp_bandwidth": 2 * self.pe_dim, "n_mac": self.pe_dim ** 2}


CONFIG_CLASSES: dict[str, type[SimbaConfig] | type[GemminiConfig]] = {"simba": SimbaConfig,
                                                                      "gemmini": GemminiConfig}
Config = SimbaConfig | GemminiConfig


def config_class(family: str) -> type[SimbaConfig] | type[GemminiConfig]:
    try:
        return CONFIG_CLASSES[family]
    except KeyError:
        raise LooplabError(f"unknown family {family!r} (expected one of {', '.join(FAMILIES)})",
                           "family") from None


def config_from_params(family: str, params: dict[str, Any], name: str | None = None) -> Config:
    """Build a config from exactly the keys of a reference ``params.json`` ``params`` block.

    An unknown key, a missing key or a bad value raises one :class:`LooplabError` naming it.
    """
    cls = config_class(family)
    where = f"{family} params"
    if not isinstance(params, dict):
        raise LooplabError(f"expected a mapping of parameters, got {type(params).__name__}", where)
    unknown = [k for k in params if k not in cls.PARAM_KEYS]
    if unknown:
        raise LooplabError(f"unknown parameter(s) {unknown} (expected {', '.join(cls.PARAM_KEYS)})", where)
    missing = [k for k in cls.PARAM_KEYS if k not in params]
    if missing:
        raise LooplabError(f"missing parameter(s) {missing}", where)
    return cls(**{k: params[k] for k in cls.PARAM_KEYS}, name=name or "")
