"""What ``looplab emit`` and ``looplab sample`` call: architecture configs from presets and ``--set`` values,
problem YAML of workload layers, mapping YAML from files or per-level descriptions.

It sits above the families (:mod:`arch_gen`), the workloads and the mapping model (:mod:`mappers`), which all
render through :mod:`looplab.render`; nothing below imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from looplab.errors import LooplabError
from looplab.yamlio import load_source

if TYPE_CHECKING:
    from arch_gen import Config
    from looplab.archspec import ArchSpec
    from looplab.workloads import Layer
    from mappers.mapping import Mapping


def parse_value(text: str, key: str) -> int | float:
    """``"16"`` -> 16, ``"1.5"`` -> 1.5; anything else raises naming ``key``."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise LooplabError(f"value {text!r} is not a number", key) from None


def parse_assignments(items: Iterable[str] | None, what: str = "--set") -> dict[str, int | float]:
    """``["pes=16", "macs=1024"]`` -> dict; a malformed item raises naming it."""
    out: dict[str, int | float] = {}
    for item in items or ():
        for tok in str(item).replace(",", " ").split():
            if "=" not in tok:
                raise LooplabError(f"expected KEY=VALUE, got {tok!r}", what)
            k, v = tok.split("=", 1)
            out[k.strip()] = parse_value(v.strip(), f"{what} {k.strip()}")
    return out


def arch_config(family: str | None = None, preset: str | None = None,
                params: dict[str, Any] | None = None, name: str | None = None) -> Config:
    """A family config from a preset and/or parameter overrides.

    Without ``preset`` the family's baseline preset (``simba_final`` / ``gemmini_default``) supplies the
    parameters not given; ``family`` may be omitted when ``preset`` is given. Unknown keys raise naming them.
    """
    import arch_gen

    if preset is not None:
        base = arch_gen.get_preset(preset)
        if family is not None and family != base.family:
            raise LooplabError(f"preset {preset!r} is a {base.family} accelerator, not {family}", "--family")
        family = base.family
    elif family is None:
        raise LooplabError("give --family or --preset", "arch")
    else:
        arch_gen.config_class(family)  # validates the family name
        base = arch_gen.get_preset(arch_gen.DEFAULT_PRESET[family])
    params = dict(params or {})
    merged = {**base.to_params(), **params}
    if not params:
        default_name = base.name
    elif preset is not None:
        default_name = f"{preset}_custom"
    else:
        default_name = f"{family}_custom"
    return arch_gen.config_from_params(family, merged, name=name or default_name)


def emit_arch(family: str | None = None, preset: str | None = None, params: dict[str, Any] | None = None,
              out: str | Path | None = None, name: str | None = None) -> str:
    """Architecture YAML text for a preset/params (written to ``out`` when given)."""
    from arch_gen import render_arch

    text = render_arch(arch_config(family, preset, params, name))
    if out is not None:
        write_text(out, text)
    return text


def select_layers(workload: str | None = None, layer: str | None = None,
                  dims: dict[str, Any] | None = None, name: str | None = None) -> list[Layer]:
    """Layers from a shipped workload (all, or one by name), or one layer from explicit dims."""
    from looplab.workloads import Layer, get_layer, load_workload

    if workload and dims:
        raise LooplabError("give either a workload or explicit dimensions, not both", "--set")
    if workload:
        return [get_layer(workload, layer)] if layer else load_workload(workload)
    if layer:
        raise LooplabError("--layer needs --workload", "--layer")
    if not dims:
        raise LooplabError("give --workload NAME or the layer's dimensions (--set R=3 S=3 ...)", "problem")
    return [Layer.from_dims(dict(dims), name=name or "layer", where="--set")]


def emit_problems(workload: str | None = None, layer: str | None = None, dims: dict[str, Any] | None = None,
                  out_dir: str | Path | None = None, name: str | None = None) -> dict[str, str]:
    """Problem YAML per layer (``{layer name: text}``); with ``out_dir`` written as ``<name>.yaml`` there."""
    texts = {lay.name: lay.to_problem_yaml() for lay in select_layers(workload, layer, dims, name)}
    if out_dir is not None:
        for lname, text in texts.items():
            write_text(Path(out_dir) / f"{lname}.yaml", text)
    return texts


_DESC_KEYS = {"level", "temporal", "permutation", "spatial_X", "spatial_x", "spatial_Y", "spatial_y",
              "spatial_permutation", "keep", "bypass"}


def mapping_from_description(data: Any, level_names: list[str] | None = None, family: str | None = None,
                             where: str = "mapping") -> Mapping:
    """A :class:`mappers.mapping.Mapping` from a plain per-level description.

    ``data`` is ``{"levels": [...]}`` or the bare list; each entry has ``level`` and optionally ``temporal`` and
    ``spatial_X``/``spatial_Y`` (``{dim: factor}`` or ``"P=2 Q=7"``), ``permutation`` and ``spatial_permutation``
    (innermost first; dims left out are appended outermost), ``keep``/``bypass``. With ``level_names``
    (innermost first) the levels are put in that order and missing levels are filled with unit factors; keep
    lists default to the family's fixed bypass (``arch_gen.DEFAULT_KEEP``) or to all tensors.
    """
    from looplab.archspec import DIMS, TENSORS
    from mappers.mapping import LevelMapping, Mapping, parse_factors

    entries = data.get("levels") if isinstance(data, dict) else data
    if isinstance(data, dict) and set(data) - {"levels"}:
        raise LooplabError(f"unknown key(s) {sorted(set(data) - {'levels'})} (expected 'levels')", where)
    if not isinstance(entries, list) or not entries:
        raise LooplabError("expected a non-empty 'levels' list", where)
    keep_default: dict[str, list[str]] = {}
    if family:
        from arch_gen import DEFAULT_KEEP

        keep_default = DEFAULT_KEEP.get(family, {})
    by_name: dict[str, LevelMapping] = {}
    for i, e in enumerate(entries):
        w = f"{where}: levels[{i}]"
        if not isinstance(e, dict) or "level" not in e:
            raise LooplabError("each level needs a 'level' name", w)
        unknown = set(e) - _DESC_KEYS
        if unknown:
            raise LooplabError(f"unknown key(s) {sorted(unknown)} (expected {', '.join(sorted(_DESC_KEYS))})", w)
        lname = str(e["level"])
        w = f"{where}: level {lname}"
        if level_names is not None and lname not in level_names:
            raise LooplabError(f"not a storage level of the architecture ({', '.join(level_names)})", w)
        if lname in by_name:
            raise LooplabError("level listed twice", w)

        def perm(key: str, w: str = w, e: dict = e) -> str | None:
            if key not in e or e[key] is None:
                return None
            p = str(e[key]).strip()
            if any(c not in DIMS for c in p) or len(set(p)) != len(p):
                raise LooplabError(f"bad {key} {p!r} (letters of {''.join(DIMS)}, each at most once)", w)
            return p + "".join(d for d in DIMS if d not in p)

        keep = e.get("keep")
        byp = e.get("bypass")
        for key, vals in (("keep", keep), ("bypass", byp)):
            bad = [t for t in (vals or []) if t not in TENSORS]
            if bad:
                raise LooplabError(f"unknown data space(s) {bad} in {key} (expected {', '.join(TENSORS)})", w)
        if keep is None:
            keep = [t for t in keep_default.get(lname, TENSORS) if t not in (byp or [])]
        if byp is None:
            byp = [t for t in TENSORS if t not in keep]
        by_name[lname] = LevelMapping(
            level=lname,
            temporal=parse_factors(e.get("temporal") or {}, w),
            permutation=perm("permutation") or "".join(DIMS),
            spatial_x=parse_factors(e.get("spatial_X", e.get("spatial_x")) or {}, w),
            spatial_y=parse_factors(e.get("spatial_Y", e.get("spatial_y")) or {}, w),
            spatial_permutation=perm("spatial_permutation"),
            keep=list(keep), bypass=list(byp))
    if level_names is None:
        return Mapping(list(by_name.values()))
    levels = []
    for lname in level_names:
        if lname in by_name:
            levels.append(by_name[lname])
        else:
            keep = list(keep_default.get(lname, TENSORS))
            levels.append(LevelMapping(level=lname, keep=keep, bypass=[t for t in TENSORS if t not in keep]))
    return Mapping(levels)


def _read_mapping_source(source: str | Path | dict | list) -> tuple[Any, str]:
    return load_source(source, "mapping")


def _is_timeloop_mapping(data: Any) -> bool:
    return (isinstance(data, dict) and "mapping" in data) or (
        isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "target" in data[0])


def load_mapping(source: str | Path | dict | list, arch: ArchSpec | None = None,
                 family: str | None = None) -> Mapping:
    """A Mapping from Timeloop mapping YAML or a per-level description (file path, YAML/JSON text or data).

    ``arch`` (an :class:`~looplab.archspec.ArchSpec`) fixes level order and names.
    """
    data, where = _read_mapping_source(source)
    return _mapping_from_data(data, where, arch, family)


def _mapping_from_data(data: Any, where: str, arch: ArchSpec | None, family: str | None) -> Mapping:
    from mappers.mapping import Mapping

    names = arch.storage_names if arch is not None else None
    if _is_timeloop_mapping(data):
        return Mapping.from_yaml(data, names, source=where)
    return mapping_from_description(data, names, family, where)


def render_mapping(mapping: Mapping, arch: ArchSpec | None = None) -> str:
    """Mapping YAML in the reference layout.

    With ``arch`` every fan-out level gets a spatial directive (``split: 7`` for an X fan-out, ``0`` for Y when
    it has no spatial factor), as in the reference files (:func:`mappers.canonical.mapping_to_yaml`);
    without it a spatial directive is written only where a spatial factor is > 1.
    """
    if arch is None:
        return mapping.to_yaml()
    from mappers.canonical import mapping_to_yaml

    return mapping_to_yaml(mapping, arch)


def emit_mapping(source: str | Path | dict | list, arch: ArchSpec | None = None, family: str | None = None,
                 layer: Layer | None = None, out: str | Path | None = None) -> str:
    """Normalised mapping YAML from a mapping file or a per-level description.

    With ``layer`` (a :class:`~looplab.workloads.Layer`) the factor products are checked against its dims.
    A reference mapping file normalised against its architecture comes back byte-identical.
    """
    mapping = load_mapping(source, arch, family)
    if layer is not None:
        mapping.check_layer(layer.dims, where=f"mapping vs layer {layer.name!r}")
    text = render_mapping(mapping, arch)
    if out is not None:
        write_text(out, text)
    return text


def write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise LooplabError(f"cannot write: {exc}", str(path)) from None
    return path
