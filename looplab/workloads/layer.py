"""The validated, immutable :class:`Layer` (a 7-dimensional conv/GEMM problem) and Timeloop problem YAML I/O."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError
from looplab.yamlio import is_path, load_source

#: The seven loop dimensions of a conv layer (Timeloop's cnn_layer shape).
LOOP_DIMS: tuple[str, ...] = ("R", "S", "P", "Q", "C", "K", "N")
#: Every entry of a Timeloop cnn_layer problem instance, in the reference files' order.
PROBLEM_DIMS: tuple[str, ...] = LOOP_DIMS + ("Wstride", "Hstride", "Wdilation", "Hdilation")
_DEFAULT_ONE = ("N", "Wstride", "Hstride", "Wdilation", "Hdilation")


def _positive_int(value: Any, field: str, where: str) -> int:
    """``value`` as an int >= 1, or a LooplabError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
            value = int(value)
        else:
            raise LooplabError(f"{field} must be a positive integer, got {value!r}", where)
    value = int(value)
    if value < 1:
        raise LooplabError(f"{field} must be a positive integer, got {value}", where)
    return value


@dataclass(frozen=True)
class Layer:
    """One conv/GEMM layer: Timeloop's cnn_layer dims plus a name and a repeat count in its network.

    A matrix multiply ``[M x K] @ [K x N]`` is the 1x1 conv ``R=S=Q=1, P=M, C=K, K=N``.
    Every dimension, stride, dilation and the count must be a positive integer (integral floats are accepted
    and stored as int); anything else raises :class:`LooplabError` naming the field.
    """

    R: int
    S: int
    P: int
    Q: int
    C: int
    K: int
    N: int = 1
    Wstride: int = 1
    Hstride: int = 1
    Wdilation: int = 1
    Hdilation: int = 1
    name: str = ""
    count: int = 1
    alias: str = ""  # a readable second name (e.g. the torch module path ``layer1.0.conv2``), accepted like name

    def __post_init__(self) -> None:
        where = f"layer {self.name!r}" if self.name else "layer"
        for f in PROBLEM_DIMS + ("count",):
            object.__setattr__(self, f, _positive_int(getattr(self, f), f, where))
        for f in ("name", "alias"):
            if not isinstance(getattr(self, f), str):
                raise LooplabError(f"{f} must be a string, got {getattr(self, f)!r}", where)

    def names(self, workload: str = "") -> tuple[str, ...]:
        """Every name the layer answers to: its name, the name without ``<workload>.``, its alias."""
        out = [self.name]
        if workload and self.name.startswith(f"{workload}."):
            out.append(self.name[len(workload) + 1:])
        if self.alias:
            out.append(self.alias)
        return tuple(dict.fromkeys(out))

    def label(self, workload: str = "") -> str:
        """The readable name: the alias, else the name without ``<workload>.``."""
        return self.alias or self.names(workload)[-1]

    # ---- views ---------------------------------------------------------------------------------
    @property
    def dims(self) -> dict[str, int]:
        """The 11 problem-instance entries (R..N, strides, dilations)."""
        return {d: getattr(self, d) for d in PROBLEM_DIMS}

    @property
    def loop_dims(self) -> dict[str, int]:
        """The seven loop bounds R, S, P, Q, C, K, N."""
        return {d: getattr(self, d) for d in LOOP_DIMS}

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one instance of the layer."""
        return math.prod(self.loop_dims.values())

    @property
    def input_size(self) -> tuple[int, int]:
        """Input (width, height) the layer reads: ``(P-1)*Wstride + (R-1)*Wdilation + 1`` and likewise for H."""
        return ((self.P - 1) * self.Wstride + (self.R - 1) * self.Wdilation + 1,
                (self.Q - 1) * self.Hstride + (self.S - 1) * self.Hdilation + 1)

    def with_(self, **changes: Any) -> Layer:
        """A copy with some fields changed (validated again)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(changes) - set(data)
        if unknown:
            raise LooplabError(f"unknown layer field(s) {sorted(unknown)}", "layer")
        data.update(changes)
        return Layer(**data)

    def shape_key(self) -> tuple[int, ...]:
        """Hashable identity of the computation (dims only; name and count ignored)."""
        return tuple(self.dims.values())

    # ---- dict form -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        if self.alias:
            d["alias"] = self.alias
        return {**d, "count": self.count, "dims": self.dims}

    @classmethod
    def from_dims(cls, dims: dict[str, Any], name: str = "", count: int = 1, where: str | None = None) -> Layer:
        """Build from a problem-instance dict; unknown keys and missing R..K raise naming the key.

        ``N``, strides and dilations default to 1 (as in Timeloop).
        """
        where = where or (f"layer {name!r}" if name else "layer")
        if not isinstance(dims, dict):
            raise LooplabError(f"expected a mapping of dimensions, got {type(dims).__name__}", where)
        unknown = [k for k in dims if k not in PROBLEM_DIMS]
        if unknown:
            raise LooplabError(f"unknown dimension(s) {unknown} (expected {', '.join(PROBLEM_DIMS)})", where)
        missing = [d for d in PROBLEM_DIMS if d not in dims and d not in _DEFAULT_ONE]
        if missing:
            raise LooplabError(f"missing dimension(s) {missing}", where)
        vals = {d: dims.get(d, 1) for d in PROBLEM_DIMS}
        for d, v in vals.items():
            _positive_int(v, d, where)  # name the place before the constructor does
        _positive_int(count, "count", where)
        return cls(**vals, name=name, count=count)

    @classmethod
    def from_dict(cls, rec: dict[str, Any], where: str | None = None) -> Layer:
        """Catalog record ``{name, [alias], count, dims: {...}}`` (descriptive keys ``source``/``note`` allowed)."""
        where = where or f"layer {rec.get('name', '')!r}"
        unknown = set(rec) - {"name", "alias", "count", "dims", "source", "note"}
        if unknown:
            raise LooplabError(f"unknown key(s) {sorted(unknown)} (expected name, alias, count, dims, source, "
                               "note)", where)
        if "dims" not in rec:
            raise LooplabError("missing 'dims'", where)
        layer = cls.from_dims(rec["dims"], name=str(rec.get("name", "")), count=rec.get("count", 1), where=where)
        return layer.with_(alias=str(rec["alias"])) if rec.get("alias") else layer

    # ---- Timeloop problem YAML -----------------------------------------------------------------
    def to_problem_yaml(self) -> str:
        """Timeloop problem YAML (``problem: {version: 0.4, shape: cnn_layer, instance: {...}}``)."""
        from looplab.render import render_template

        return render_template("problem.yaml.j2", dims=self.dims)

    @classmethod
    def from_problem_yaml(cls, source: str | Path | dict, name: str | None = None, count: int = 1) -> Layer:
        """Read a Timeloop problem (path, YAML text or parsed dict).

        Accepts v0.4 (``shape: cnn_layer``), v0.3 files (``shape: {name: CNN-Layer, ...}``), the legacy format
        (dims directly under ``problem``) and any explicit shape whose dimensions map onto the conv dims by role
        (:mod:`looplab.interop.problem`: the front end's ``M``, GEMMs, ...). The name defaults to the file's stem.
        """
        if name is None and is_path(source):
            name = Path(source).stem
        source, where = load_source(source, "problem")
        from looplab.interop.problem import read_problem_spec

        spec = read_problem_spec(source, where)
        if spec.dims.get("depthwise"):
            raise LooplabError("a depthwise convolution has no Layer (catalog) form; evaluate its problem file "
                               "directly (looplab evaluate / sample --problem)", where)
        return cls.from_dims(spec.dims, name=name or "", count=count, where=f"{where}: problem.instance")


def write_problem_yaml(layer: Layer, path: str | Path) -> Path:
    """Write ``layer`` as a Timeloop problem file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(layer.to_problem_yaml())
    return path
