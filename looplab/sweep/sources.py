"""Where a sweep's accelerators, layers, architecture and problem YAML come from.

The generators live in ``arch_gen`` (presets, the Simba grid, random configs, rendering) and
``looplab.workloads`` (layer catalogs). When one of them is not importable, the recorded reference set of a
checkout (``tests/data/reference``: the 9 preset architectures and the 24 ResNet-50 layers) is used for what
it covers, and anything else raises a :class:`LooplabError` saying what is missing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError
from looplab.sweep.spec import AccelRef, LayerRef, SweepSpec

LAYER_KEYS = ("R", "S", "P", "Q", "C", "K", "N", "Wstride", "Hstride", "Wdilation", "Hdilation")


def reference_dir() -> Path | None:
    """The recorded real-Timeloop set: shipped in the package data, or ``tests/data/reference`` of a checkout."""
    from looplab.paths import data_dir

    root = Path(__file__).resolve().parents[2]
    for cand in (data_dir() / "reference", root / "tests" / "data" / "reference", root / "tests" / "data" /
                 "reference_small"):
        if (cand / "archs").is_dir():
            return cand
    return None


def _arch_gen():
    try:
        import arch_gen
    except ImportError:  # pragma: no cover - arch_gen is part of the distribution
        return None
    return arch_gen if hasattr(arch_gen, "render_arch") else None


@lru_cache(maxsize=1)
def _reference_archs() -> dict[str, dict[str, Any]]:
    ref = reference_dir()
    out: dict[str, dict[str, Any]] = {}
    if ref is None:
        return out
    for pj in sorted((ref / "archs").glob("*/params.json")):
        p = json.loads(pj.read_text())
        out[pj.parent.name] = {"family": p["family"], "params": p["params"], "arch_yaml": pj.parent / "arch.yaml"}
    return out


def resolve_accelerators(spec: SweepSpec) -> list[AccelRef]:
    """Presets, then the grid, then random configs, in spec order; names are unique."""
    ag = _arch_gen()
    where = spec.source or "sweep spec"
    out: list[AccelRef] = []
    for name in spec.presets:
        if ag is not None and hasattr(ag, "get_preset"):
            try:
                cfg = ag.get_preset(name)
            except (KeyError, LooplabError, ValueError) as exc:
                raise LooplabError(f"unknown preset {name!r} ({exc})", f"{where}: accelerators.presets") from None
            out.append(AccelRef(name, cfg.family, dict(cfg.to_params()), "preset"))
            continue
        ref = _reference_archs().get(name)
        if ref is None:
            raise LooplabError(f"unknown preset {name!r} (known: {sorted(_reference_archs())})",
                               f"{where}: accelerators.presets")
        out.append(AccelRef(name, ref["family"], dict(ref["params"]), "preset"))
    if spec.grid is not None:
        if ag is None or not hasattr(ag, "simba_grid"):
            raise LooplabError("the Simba grid needs arch_gen.simba_grid, which is not available",
                               f"{where}: accelerators.grid")
        grid = list(ag.simba_grid())[:: spec.grid.stride]
        if spec.grid.limit is not None:
            grid = grid[: spec.grid.limit]
        for i, cfg in enumerate(grid):
            out.append(AccelRef(f"simba_grid_{i * spec.grid.stride:04d}", cfg.family, dict(cfg.to_params()), "grid"))
    for r in spec.random:
        if ag is None or not hasattr(ag, "sample_configs"):
            raise LooplabError("random accelerators need arch_gen.sample_configs, which is not available",
                               f"{where}: accelerators.random")
        for i, cfg in enumerate(ag.sample_configs(r.family, r.n, r.seed)):
            out.append(AccelRef(f"{r.family}_rand{r.seed}_{i:04d}", cfg.family, dict(cfg.to_params()), "random"))
    for arch, ert in spec.files:
        name = _file_name(arch, [a.name for a in out])
        out.append(AccelRef(name, f"file-{name}", {}, "file", source=arch, ert=ert))
    seen: set[str] = set()
    for a in out:
        if a.name in seen:
            raise LooplabError(f"accelerator {a.name!r} appears twice", f"{where}: accelerators")
        seen.add(a.name)
    return out


def _file_name(path: str, taken: list[str]) -> str:
    """A readable unique name for an architecture file: its stem, or folder_stem when the stem is generic."""
    p = Path(path)
    name = p.stem if p.stem not in ("arch", "architecture") else f"{p.parent.name}_{p.stem}"
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    base, i = name, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


def arch_yaml_text(acc: AccelRef) -> str:
    """The Timeloop architecture YAML of an accelerator."""
    if acc.source is not None:
        return Path(acc.source).read_text()
    ag = _arch_gen()
    if ag is not None and hasattr(ag, "config_from_params"):
        return ag.render_arch(ag.config_from_params(acc.family, dict(acc.params), name=acc.name))
    ref = _reference_archs().get(acc.name)
    if ref is not None and ref["params"] == acc.params:
        return Path(ref["arch_yaml"]).read_text()
    raise LooplabError("cannot render this architecture: arch_gen.render_arch is not available", acc.name)


@lru_cache(maxsize=1)
def _reference_layers() -> list[dict[str, Any]]:
    ref = reference_dir()
    if ref is None or not (ref / "layers" / "layers.json").is_file():
        return []
    return json.loads((ref / "layers" / "layers.json").read_text())


def _load_workload(name: str, where: str) -> list[LayerRef]:
    try:
        from looplab.workloads import load_workload
    except ImportError:
        load_workload = None
    if load_workload is not None:
        try:
            layers = load_workload(name)
        except (KeyError, FileNotFoundError, LooplabError) as exc:
            raise LooplabError(f"unknown workload {name!r} ({exc})", where) from None
        return [LayerRef(ly.name, name, {k: int(v) for k, v in ly.dims.items()}, int(getattr(ly, "count", 1)))
                for ly in layers]
    if name == "resnet50" and _reference_layers():
        return [LayerRef(r["name"], name, {k: int(r["dims"][k]) for k in LAYER_KEYS}, int(r.get("count", 1)))
                for r in _reference_layers()]
    raise LooplabError(f"unknown workload {name!r}: looplab.workloads is not available", where)


def resolve_layers(spec: SweepSpec) -> list[LayerRef]:
    where = spec.source or "sweep spec"
    out: list[LayerRef] = []
    for i, sel in enumerate(spec.workloads):
        w = f"{where}: workloads[{i}]"
        layers = _load_workload(sel.workload, w)
        if sel.layers is not None:
            by_name = {ly.name: ly for ly in layers}
            picked = []
            for x in sel.layers:
                if isinstance(x, int):
                    if not 0 <= x < len(layers):
                        raise LooplabError(f"layer index {x} out of range (0..{len(layers) - 1})", w)
                    picked.append(layers[x])
                elif _catalog_name(sel.workload, x, by_name) is not None:
                    picked.append(by_name[_catalog_name(sel.workload, x, by_name)])
                else:
                    raise LooplabError(f"no layer {x!r} in workload {sel.workload!r} (see `looplab list layers "
                                       f"{sel.workload}`)", w)
            layers = picked
        out.extend(layers)
    names = [ly.name for ly in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise LooplabError(f"layers listed twice: {dup}", f"{where}: workloads")
    return out


def _catalog_name(workload: str, key: str, by_name: dict[str, LayerRef]) -> str | None:
    """The catalog name of the layer called ``key`` (its name, the part after ``<workload>.``, or its alias)."""
    if key in by_name:
        return key
    try:
        from looplab.workloads import find_layer, load_workload
    except ImportError:
        return None
    try:
        found = find_layer(load_workload(workload), workload, key)
    except LooplabError:
        return None
    return found.name if found is not None and found.name in by_name else None


def problem_yaml_text(layer: LayerRef) -> str:
    """Timeloop problem YAML (cnn-layer shape) for a layer."""
    try:
        from looplab.workloads import Layer
    except ImportError:
        Layer = None
    if Layer is not None:
        return Layer(**{k: layer.dims[k] for k in LAYER_KEYS}, name=layer.name).to_problem_yaml()
    ref = reference_dir()
    if ref is not None and (ref / "layers" / f"{layer.name}.yaml").is_file():
        return (ref / "layers" / f"{layer.name}.yaml").read_text()
    raise LooplabError("cannot write the problem YAML: looplab.workloads is not available", layer.name)
