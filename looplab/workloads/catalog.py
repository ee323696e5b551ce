"""Shipped workload catalogs (``looplab/data/workloads/<name>.json``): networks as unique layers with counts.

Catalog file format (JSON)::

    {"name": "resnet50", "description": "...", "source": "...", "notes": "...",
     "layers": [{"name": "resnet50._outputs_input.2", "count": 1, "dims": {"R": 7, ...}}, ...]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError
from looplab.paths import data_dir
from looplab.workloads.layer import Layer

_META_KEYS = ("name", "description", "source", "notes", "layers")


def catalog_dir() -> Path:
    return data_dir() / "workloads"


def list_workloads() -> list[str]:
    """Names of the shipped workloads (sorted)."""
    return sorted(p.stem for p in catalog_dir().glob("*.json"))


def _catalog_path(name: str) -> Path:
    path = catalog_dir() / f"{name}.json"
    if not path.is_file():
        raise LooplabError(f"unknown workload {name!r} (known: {', '.join(list_workloads())})", "workload")
    return path


def read_catalog(path: str | Path) -> dict[str, Any]:
    """Parse and validate a catalog file; ``layers`` becomes a list of :class:`Layer`."""
    path = Path(path)
    where = str(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LooplabError(f"cannot read workload catalog: {exc}", where) from None
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        raise LooplabError("expected an object with a 'layers' list", where)
    unknown = set(data) - set(_META_KEYS)
    if unknown:
        raise LooplabError(f"unknown key(s) {sorted(unknown)} (expected {', '.join(_META_KEYS)})", where)
    layers = [Layer.from_dict(rec, where=f"{where}: layers[{i}]") for i, rec in enumerate(data["layers"])]
    names = [lay.name for lay in layers]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise LooplabError(f"duplicate layer name(s) {dup}", where)
    return {**data, "layers": layers}


def workload_info(name: str) -> dict[str, Any]:
    """Catalog metadata and layers of a shipped workload (``name``, ``description``, ``source``, ``layers``)."""
    return read_catalog(_catalog_path(name))


def load_workload(name: str | Path) -> list[Layer]:
    """The unique layers (with repeat counts) of a shipped workload, or of a catalog JSON file given by path."""
    if isinstance(name, Path) or str(name).endswith(".json"):
        return read_catalog(name)["layers"]
    return workload_info(str(name))["layers"]


def find_layer(layers: Sequence[Layer], workload: str, layer: str) -> Layer | None:
    """The layer answering to ``layer`` (full name, the part after ``<workload>.``, or alias), or None."""
    for lay in layers:
        if layer in lay.names(workload):
            return lay
    return None


def known_layers(layers: Sequence[Layer], workload: str) -> str:
    """``name (alias), ...`` for error messages."""
    return ", ".join(lay.name + (f" ({lay.alias})" if lay.alias else "") for lay in layers)


def get_layer(workload: str, layer: str) -> Layer:
    """One layer by full name (``resnet50._outputs_input.2``), by the part after ``<workload>.``, or by its
    alias (``conv1``, ``layer1.0.conv2``)."""
    layers = load_workload(workload)
    found = find_layer(layers, workload, layer)
    if found is None:
        raise LooplabError(f"unknown layer {layer!r} in workload {workload!r} (known: "
                           f"{known_layers(layers, workload)}; see `looplab list layers {workload}`)", "layer")
    return found


def dumps_catalog(name: str, layers: Iterable[Layer], description: str = "", source: str = "",
                  notes: str = "") -> str:
    """Catalog JSON text, one layer per line (diff-friendly)."""
    head = {"name": name, "description": description, "source": source}
    if notes:
        head["notes"] = notes
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()] + [' "layers": [']
    recs = [json.dumps(lay.to_dict()) for lay in layers]
    lines += [f"  {r}," for r in recs[:-1]] + [f"  {r}" for r in recs[-1:]]
    lines += [" ]", "}"]
    return "\n".join(lines) + "\n"


def write_catalog(path: str | Path, name: str, layers: Iterable[Layer], **meta: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_catalog(name, list(layers), **meta))
    return path
