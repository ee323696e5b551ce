"""Timeloop problems with any explicit ``shape``, mapped onto looplab's seven conv dimensions by role.

A Timeloop problem names its dimensions, coefficients and data spaces freely (the front end's ``conv2D`` calls
output channels ``M``; ``gemm_ABZ`` has ``M, N, K`` and data spaces ``A, B, Z``). looplab's model works on the
``cnn_layer`` shape (R, S, P, Q, C, K, N; Weights, Inputs, Outputs), so each dimension is given the role it plays in
the projections, never by its letter:

* the data space with ``read_write: true`` is Outputs; of the other two, the one whose projection has compound
  (sliding-window) terms is Inputs (else the one named Inputs, else the second); the remaining one is Weights;
* a dimension in Weights and Inputs but not Outputs is C (a reduction), in Weights and Outputs K, in Inputs and
  Outputs N when it indexes an axis of its own; in a compound Inputs axis ``a*F + b*O`` the dimension also in
  Weights is the filter (R on the first such axis, S on the second) with dilation ``a`` and the one in Outputs the
  output position (P, Q) with stride ``b``.

A dimension indexing all three data spaces is the channel dimension of a depthwise convolution (role C, with
``dims["depthwise"] = 1``: Outputs are indexed by C instead of K), or ignored when its size is 1 (a grouped
convolution with one group). Anything else (grouped convolutions with more than one group, a dimension in one data
space only, more axes than the cnn_layer has, non-unit coefficients outside a sliding window) is refused with a
message naming it, as are sparse densities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from looplab.errors import LooplabError

CANONICAL_DIMS = ("R", "S", "P", "Q", "C", "K", "N")
CANONICAL_TENSORS = ("Weights", "Inputs", "Outputs")
COEFFICIENTS = ("Wstride", "Hstride", "Wdilation", "Hdilation")
#: Instance keys the front end adds that Timeloop ignores (input size and padding, derived from the others).
DERIVED_KEYS = frozenset({"H", "W", "Hpad", "Wpad", "Hin", "Win"})

_CNN = {"dimensions": list(CANONICAL_DIMS),
        "coefficients": [{"name": c, "default": 1} for c in COEFFICIENTS],
        "data_spaces": [
            {"name": "Weights", "projection": [[["C"]], [["K"]], [["R"]], [["S"]]]},
            {"name": "Inputs", "projection": [[["N"]], [["C"]], [["R", "Wdilation"], ["P", "Wstride"]],
                                               [["S", "Hdilation"], ["Q", "Hstride"]]]},
            {"name": "Outputs", "projection": [[["N"]], [["K"]], [["Q"]], [["P"]]], "read_write": True}]}
_GEMM = {"dimensions": ["M", "N", "K"],
         "data_spaces": [{"name": "A", "projection": [[["M"]], [["K"]]]},
                         {"name": "B", "projection": [[["N"]], [["K"]]]},
                         {"name": "Z", "projection": [[["M"]], [["N"]]], "read_write": True}]}
#: Shapes Timeloop finds by name in its problem-shapes folder.
NAMED_SHAPES = {"cnn_layer": _CNN, "cnn-layer": _CNN, "gemm_abz": _GEMM, "gemm-abz": _GEMM}


@dataclass(frozen=True)
class ProblemSpec:
    """A problem read from Timeloop YAML: the seven conv dims + strides/dilations and the name translations."""

    dims: dict[str, int]  # R..N, Wstride, Hstride, Wdilation, Hdilation (+ depthwise: 1 for that shape)
    dim_names: dict[str, str] = field(default_factory=dict)  # the file's dimension name -> R..N
    tensor_names: dict[str, str] = field(default_factory=dict)  # the file's data-space name -> Weights/...
    shape_name: str = "cnn_layer"

    @property
    def is_canonical(self) -> bool:
        return (set(self.dim_names) == set(CANONICAL_DIMS) and all(k == v for k, v in self.dim_names.items())
                and all(k == v for k, v in self.tensor_names.items()))


def _shape(prob: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    shape = prob.get("shape", "cnn_layer")
    if isinstance(shape, str):
        key = shape.strip().lower().removesuffix(".yaml")
        if key not in NAMED_SHAPES:
            raise LooplabError(f"problem shape {shape!r} is not one looplab knows by name ({', '.join(NAMED_SHAPES)}); "
                               "give the shape inline (dimensions, coefficients, data_spaces)", f"{where}.shape")
        return NAMED_SHAPES[key], key
    if not isinstance(shape, dict):
        raise LooplabError(f"expected a shape name or mapping, got {shape!r}", f"{where}.shape")
    shape = {k.replace("-", "_"): v for k, v in shape.items()}  # v0.3 files write data-spaces, read-write
    name = str(shape.get("name", "custom"))
    if "data_spaces" not in shape:
        key = name.strip().lower().replace("-", "_")
        if key in ("cnn_layer", "conv2d"):
            return _CNN, key
        if key in ("gemm_abz", "gemm"):
            return _GEMM, key
        raise LooplabError(f"shape {name!r} has no data_spaces", f"{where}.shape")
    return shape, name


def _terms(axis: Any, where: str) -> list[tuple[str, str | int]]:
    """One projection axis as ``[(dim, coefficient name or 1), ...]``."""
    if not isinstance(axis, list) or not axis:
        raise LooplabError(f"bad projection axis {axis!r}", where)
    out = []
    for term in axis:
        if isinstance(term, str):
            term = [term]
        if not isinstance(term, list) or not 1 <= len(term) <= 2:
            raise LooplabError(f"bad projection term {term!r} (expected [dim] or [dim, coefficient])", where)
        out.append((str(term[0]), term[1] if len(term) == 2 else 1))
    return out


def problem_spec(prob: dict[str, Any], where: str = "problem") -> ProblemSpec:
    """Map the ``problem:`` mapping of a Timeloop problem file onto the cnn_layer dims (see the module doc)."""
    shape, shape_name = _shape(prob, where)
    inst = prob.get("instance")
    if inst is None:  # legacy format: the dims directly under problem
        inst = {k: v for k, v in prob.items() if k not in ("shape", "version")}
    if not isinstance(inst, dict):
        raise LooplabError("problem.instance must be a mapping", where)
    iw = f"{where}.instance"
    dims_decl = [str(d) for d in shape.get("dimensions") or []]
    coef_decl = {str(c["name"]): c.get("default", 1) for c in shape.get("coefficients") or [] if isinstance(c, dict)}
    dens = inst.get("densities")
    if dens:
        sparse = {k: v for k, v in dens.items() if not _dense(v)} if isinstance(dens, dict) else dens
        if sparse:
            raise LooplabError(f"sparse densities {sparse} are not modelled (sparsity): looplab models dense tensors "
                               "only", f"{iw}.densities")
    known = set(dims_decl) | set(coef_decl) | DERIVED_KEYS | {"densities"}
    unknown = [k for k in inst if k not in known]
    if unknown:
        raise LooplabError(f"unknown dimension(s) {unknown} (the shape's dimensions are {', '.join(dims_decl)}; its "
                           f"coefficients {', '.join(coef_decl) or 'none'})", iw)
    missing = [d for d in dims_decl if d not in inst and d != "N"]
    if missing:
        raise LooplabError(f"missing dimension(s) {missing}", iw)

    def value(name: str | int, what: str) -> int:
        if isinstance(name, int | float) and not isinstance(name, bool):
            v = name
        elif name in inst:
            v = inst[name]
        elif name in coef_decl:
            v = coef_decl[name]
        elif name in dims_decl:
            v = 1
        else:
            raise LooplabError(f"{what}: {name!r} is neither a dimension nor a coefficient of the shape", where)
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < 1:
            raise LooplabError(f"{name} must be a positive integer, got {v!r}", iw)
        return int(v)

    spaces = shape.get("data_spaces")
    if not isinstance(spaces, list) or len(spaces) != 3:
        n = len(spaces) if isinstance(spaces, list) else 0
        raise LooplabError(f"shape {shape_name!r} has {n} data spaces; looplab models problems with exactly three "
                           "(two operands and one output)", f"{where}.shape")
    parsed = []
    for i, ds in enumerate(spaces):
        w = f"{where}.shape.data_spaces[{i}]"
        if isinstance(ds, dict):
            ds = {k.replace("-", "_"): v for k, v in ds.items()}
        if not isinstance(ds, dict) or "name" not in ds or not isinstance(ds.get("projection"), list):
            raise LooplabError("a data space needs a name and a projection list", w)
        parsed.append((str(ds["name"]), [_terms(a, w) for a in ds["projection"]], bool(ds.get("read_write", False))))
    outs = [i for i, p in enumerate(parsed) if p[2]]
    if len(outs) != 1:
        raise LooplabError(f"shape {shape_name!r} has {len(outs)} read-write data spaces; looplab models exactly "
                           "one output", f"{where}.shape")
    o = outs[0]
    rest = [i for i in range(3) if i != o]
    compound = [i for i in rest if any(len(a) > 1 for a in parsed[i][1])]
    if len(compound) == 2:
        raise LooplabError("both operands have sliding-window (compound) projections: not a convolution looplab "
                           "models", f"{where}.shape")
    if compound:
        inp = compound[0]
    elif parsed[rest[0]][0] == "Inputs" or parsed[rest[1]][0] == "Weights":
        inp = rest[0]
    else:
        inp = rest[1]
    wgt = rest[0] if inp == rest[1] else rest[1]
    tensors = {parsed[wgt][0]: "Weights", parsed[inp][0]: "Inputs", parsed[o][0]: "Outputs"}
    member = {d: (d in _dims_of(parsed[wgt][1]), d in _dims_of(parsed[inp][1]), d in _dims_of(parsed[o][1]))
              for d in dims_decl}
    for d in _dims_of(parsed[0][1]) | _dims_of(parsed[1][1]) | _dims_of(parsed[2][1]):
        if d not in member:
            raise LooplabError(f"projection uses {d!r}, which is not among the shape's dimensions {dims_decl}",
                               f"{where}.shape")

    roles: dict[str, str] = {}
    conv = {c: 1 for c in COEFFICIENTS}
    depthwise = False

    def assign(d: str, role: str) -> None:
        if role in roles.values():
            raise LooplabError(f"dimension {d!r} would take role {role} a second time "
                               f"({_role_text(member[d])}); shape {shape_name!r} is not a convolution/GEMM looplab "
                               "models", f"{where}.shape")
        roles[d] = role

    for (wd, pd, cw, cp), (fr, orr, dil, stride) in zip(_windows(parsed[inp][1], member, where),
                                                        (("R", "P", "Wdilation", "Wstride"),
                                                         ("S", "Q", "Hdilation", "Hstride")), strict=False):
        assign(wd, fr)
        assign(pd, orr)
        conv[dil], conv[stride] = value(cw, "coefficient"), value(cp, "coefficient")
    if len(_windows(parsed[inp][1], member, where)) > 2:
        raise LooplabError("more than two sliding-window axes (a 3-D convolution) are not modelled", where)
    for name, axes in ((parsed[wgt][0], parsed[wgt][1]), (parsed[o][0], parsed[o][1]), (parsed[inp][0],
                                                                                          parsed[inp][1])):
        for a in axes:
            if len(a) == 1 and value(a[0][1], "coefficient") != 1:
                raise LooplabError(f"data space {name!r}: a scaled index {a[0][0]}*{a[0][1]} is not modelled",
                                   f"{where}.shape")
    for d in dims_decl:
        if d in roles:
            continue
        inw, ini, ino = member[d]
        if inw and ini and not ino:
            assign(d, "C")
        elif inw and ino and not ini:
            assign(d, "K")
        elif ini and ino and not inw:
            assign(d, next((r for r in ("N", "P", "Q") if r not in roles.values()), "N"))
        elif not (inw or ini or ino) or (inw and ini and ino and value(d, "dimension") == 1):
            if value(d, "dimension") != 1:
                raise LooplabError(f"dimension {d!r} indexes no data space", f"{where}.shape")
        elif inw and ini and ino and _plain(d, parsed) and "C" not in roles.values() and not any(
                member[e][0] and member[e][2] and not member[e][1] and value(e, "dimension") > 1
                for e in dims_decl):
            assign(d, "C")  # depthwise: the channels index weights, inputs and outputs
            depthwise = True
        else:
            raise LooplabError(f"dimension {d!r} appears in {_role_text(member[d])}: no role in a "
                               "convolution/GEMM looplab models (depthwise and grouped convolutions, where one "
                               "dimension indexes weights, inputs and outputs, are not modelled yet)",
                               f"{where}.shape")
    dims = {r: 1 for r in CANONICAL_DIMS}
    for d, r in roles.items():
        dims[r] = value(d, "dimension")
    dims.update(conv)
    if depthwise:
        if dims["K"] != 1:
            raise LooplabError("a grouped convolution (a dimension indexing weights, inputs and outputs besides "
                               "output channels) is not modelled", f"{where}.shape")
        dims["depthwise"] = 1
    return ProblemSpec(dims, roles, tensors, shape_name)


def _plain(d: str, parsed: list) -> bool:
    """``d`` indexes an axis of its own (coefficient 1) in every data space."""
    return all(any(len(a) == 1 and a[0][0] == d for a in axes) for _, axes, _ in parsed)


def _dense(v: Any) -> bool:
    if isinstance(v, dict):
        return str(v.get("distribution", "fixed")).lower() in ("fixed", "fixed-structured") and \
            float(v.get("density", 1.0)) == 1.0
    try:
        return float(v) == 1.0
    except (TypeError, ValueError):
        return False


def _dims_of(axes: list[list[tuple[str, Any]]]) -> set[str]:
    return {d for a in axes for d, _ in a}


def _role_text(m: tuple[bool, bool, bool]) -> str:
    names = [n for n, f in zip(CANONICAL_TENSORS, m, strict=True) if f]
    return " and ".join(names) if names else "no data space"


def _windows(axes: list, member: dict, where: str) -> list[tuple[str, str, Any, Any]]:
    """Compound Inputs axes as ``(filter dim, output dim, filter coefficient, output coefficient)``."""
    out = []
    for a in axes:
        if len(a) == 1:
            continue
        if len(a) != 2:
            raise LooplabError(f"an input axis of {len(a)} terms is not modelled (at most a filter and an output "
                               "position)", where)
        (d1, c1), (d2, c2) = a
        f1, f2 = member[d1][0] and not member[d1][2], member[d2][0] and not member[d2][2]
        o1, o2 = member[d1][2] and not member[d1][0], member[d2][2] and not member[d2][0]
        if f1 and o2:
            out.append((d1, d2, c1, c2))
        elif f2 and o1:
            out.append((d2, d1, c2, c1))
        else:
            raise LooplabError(f"input axis {d1}+{d2} is not a sliding window (one term must index Weights, the other "
                               "Outputs)", where)
    return out


def read_problem_spec(source: Any, where: str = "problem") -> ProblemSpec:
    """:class:`ProblemSpec` of a problem file's loaded YAML (``{problem: {...}}``; other top-level keys ignored)."""
    if not isinstance(source, dict) or not isinstance(source.get("problem"), dict):
        raise LooplabError("missing top-level 'problem' mapping", where)
    prob = source["problem"]
    if "version" in prob and str(prob["version"]).strip("'\"") not in ("0.2", "0.3", "0.4"):
        raise LooplabError(f"problem version {prob['version']!r} is not one Timeloop reads (0.2, 0.3, 0.4)",
                           f"{where}: problem.version")
    unknown = set(prob) - {"version", "shape", "instance"}
    if "instance" in prob and unknown:
        raise LooplabError(f"unknown key(s) {sorted(unknown)} under 'problem'", where)
    return problem_spec(prob, f"{where}: problem")
