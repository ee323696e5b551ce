"""Parse ``timeloop-model.map+stats.xml`` (Boost serialization of Timeloop's engine after evaluation).

It carries the same per-level statistics as stats.txt at full precision (energies unrounded). The levels are
``engine/topology_/levels_/item/px`` innermost first: the arithmetic level (``energy_``, ``cycles_``,
``utilized_instances_``, ``algorithmic_computes_``...) and storage levels whose ``stats_`` hold per-data-space
arrays (``PerDataSpace``) in the problem shape's data-space order (cnn_layer: Weights, Inputs, Outputs).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError

CNN_DATASPACES = ("Weights", "Inputs", "Outputs")
# XML stats_ field -> key (per data space)
DATASPACE_FIELDS = {
    "partition_size": "partition_size", "utilized_capacity": "utilized_capacity",
    "utilized_instances": "utilized_instances", "utilized_clusters": "utilized_clusters",
    "reads": "reads", "fills": "fills", "updates": "updates", "temporal_reductions": "temporal_reductions",
    "address_generations": "address_generations", "energy_per_access": "energy_per_access_pJ",
    "energy": "energy_per_instance_pJ", "temporal_reduction_energy": "temporal_reduction_energy_pJ",
    "addr_gen_energy": "address_generation_energy_pJ",
}
ARITH_FIELDS = {"energy_": "energy_pJ", "area_": "area_um2", "cycles_": "cycles",
                "utilized_instances_": "utilized_instances", "algorithmic_computes_": "computes",
                "random_computes_": "random_computes"}


def _num(text: str | None) -> int | float | None:
    if text is None:
        return None
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        try:
            return float(t)
        except ValueError:
            return None


def _per_dataspace(elem: ET.Element) -> list[int | float | None] | None:
    pds = elem.find("PerDataSpace")
    if pds is None:
        return None
    items = pds.findall("item")
    if any(len(list(it)) for it in items):  # nested structures (format counts...): not a plain number array
        return None
    return [_num(it.text) for it in items]


def _parse_tolerant(data: bytes, where: str | None) -> ET.Element:
    """Parse XML that may end early: timeloop-model exits before Boost closes its archive, so the real files
    stop after ``</a>`` without ``</engine></boost_serialization>``. Elements already closed are kept."""
    parser = ET.XMLPullParser(events=("start",))
    root: ET.Element | None = None
    try:
        parser.feed(data)
        for _event, elem in parser.read_events():
            if root is None:
                root = elem
    except ET.ParseError as exc:
        raise LooplabError(f"not a Timeloop map+stats.xml: {exc}", where) from exc
    if root is None:
        raise LooplabError("not a Timeloop map+stats.xml: no XML elements", where)
    return root


def parse_map_stats_xml(source: str | Path, dataspaces: tuple[str, ...] = CNN_DATASPACES) -> dict[str, Any]:
    """map+stats.xml -> {"level_order_inner_to_outer": [...], "levels": {name: {...}}}.

    Arithmetic level: energy_pJ, area_um2, cycles, utilized_instances, computes, instances.
    Storage level: instances, size_words, cycles, and ``dataspaces`` {name: {partition_size, utilized_capacity,
    utilized_instances, utilized_clusters, reads, fills, updates, temporal_reductions, address_generations,
    energy_per_access_pJ, energy_per_instance_pJ, energy_pJ (= per instance x utilized instances), ...}} for the
    data spaces the level keeps.
    """
    where = str(source) if isinstance(source, Path) else None
    root = _parse_tolerant(Path(source).read_bytes() if isinstance(source, Path) else source.encode(), where)
    levels_elem = root.find("./engine/topology_/levels_")
    if levels_elem is None:
        raise LooplabError("not a Timeloop map+stats.xml: no engine/topology_/levels_", where)
    order: list[str] = []
    levels: dict[str, Any] = {}
    for item in levels_elem.findall("item"):
        px = item.find("px")
        if px is None:
            continue
        name = (px.findtext("specs_/LevelSpecs/level_name") or "").strip()
        if not name:
            raise LooplabError("level without specs_/LevelSpecs/level_name", where)
        specs = px.find("specs_")
        level: dict[str, Any] = {"instances": _num(specs.findtext("instances/t_")) if specs is not None else None}
        stats = px.find("stats_")
        if stats is None:  # arithmetic level
            for tag, key in ARITH_FIELDS.items():
                value = _num(px.findtext(tag))
                if value is not None:
                    level[key] = value
            level["dataspaces"] = {}
        else:
            size = _num(specs.findtext("size/t_")) if specs is not None else None
            if size is not None:
                level["size_words"] = size
            level["cycles"] = _num(stats.findtext("cycles"))
            arrays = {key: _per_dataspace(stats.find(tag)) for tag, key in DATASPACE_FIELDS.items()
                      if stats.find(tag) is not None}
            keep = _per_dataspace(stats.find("keep")) if stats.find("keep") is not None else None
            level["dataspaces"] = {}
            for i, ds in enumerate(dataspaces):
                if keep is not None and not (i < len(keep) and keep[i]):
                    continue
                entry = {key: arr[i] for key, arr in arrays.items() if arr is not None and i < len(arr)}
                if "energy_per_instance_pJ" in entry and "utilized_instances" in entry:
                    entry["energy_pJ"] = entry["energy_per_instance_pJ"] * entry["utilized_instances"]
                level["dataspaces"][ds] = entry
        order.append(name)
        levels[name] = level
    if not order:
        raise LooplabError("not a Timeloop map+stats.xml: no levels", where)
    return {"level_order_inner_to_outer": order, "levels": levels}
