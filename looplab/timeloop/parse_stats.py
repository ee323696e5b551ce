"""Parse ``timeloop-model.stats.txt`` (the text ``Engine::pretty_print_stats`` writes).

``parse_stats_dict(text)`` returns the record-shaped dict used by the reference set (``cases.jsonl.gz``
field ``stats``): summary numbers, per-level specs/stats and per-level, per-data-space counts and energies,
plus ``fJ_per_compute``. Newer Timeloop builds print ``fJ/Compute``; older ones print ``pJ/Compute`` with
values in pJ -- both are returned as ``fJ_per_compute`` (pJ values multiplied by 1000).

``parse_stats_text(text)`` wraps that dict in an :class:`looplab.result.EvalResult`.
"""

from __future__ import annotations

import re
from typing import Any

from looplab.errors import LooplabError
from looplab.result import EvalResult, LevelStats, TensorStats

_LEVEL_RE = re.compile(r"^Level\s+(\d+)\s*$")
_NAME_RE = re.compile(r"^===\s*(.+?)\s*===\s*$")
_KV_RE = re.compile(r"^(?P<key>[^:=]+?)\s*:\s*(?P<value>.*?)\s*$")
_EQ_RE = re.compile(r"^(?P<key>[^=]+?)\s*=\s*(?P<value>\S+)\s*$")
_NUM_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")

# stats.txt data-space label -> record key
DATASPACE_KEYS = {
    "Partition size": "partition_size",
    "Utilized capacity": "utilized_capacity",
    "Utilized instances (max)": "utilized_instances",
    "Utilized clusters (max)": "utilized_clusters",
    "Scalar reads (per-instance)": "reads",
    "Scalar fills (per-instance)": "fills",
    "Scalar updates (per-instance)": "updates",
    "Temporal reductions (per-instance)": "temporal_reductions",
    "Address generations (per-cluster)": "address_generations",
    "Energy (per-scalar-access)": "energy_per_scalar_access_pJ",
    "Energy (per-instance)": "energy_per_instance_pJ",
    "Energy (total)": "energy_pJ",
    "Temporal Reduction Energy (total)": "temporal_reduction_energy_pJ",
    "Address Generation Energy (total)": "address_generation_energy_pJ",
    "Shared Bandwidth (total)": "shared_bw_total",
    "Read Bandwidth (total)": "read_bw_total",
    "Write Bandwidth (total)": "write_bw_total",
}
STORAGE_SPEC_KEYS = {"Instances": "instances", "Size": "size_words", "Leakage energy (total)": "leakage_energy_pJ"}
# level-wide STATS lines of storage levels (Cycles, Bandwidth throttling) and of the arithmetic level
LEVEL_STAT_KEYS = {"Cycles": "cycles", "Bandwidth throttling": "bandwidth_throttling",
                   "Utilized instances": "utilized_instances", "Computes (total)": "computes",
                   "Energy (total)": "energy_pJ"}
_ENERGY_SCALE = {"pJ": 1.0, "nJ": 1e3, "uJ": 1e6, "mJ": 1e9, "J": 1e12}


def parse_number(value: str) -> int | float | None:
    """``"4096 (64*64)"`` -> 4096, ``"0.01 pJ"`` -> 0.01, ``"87.50%"`` -> 87.5, ``"-"`` -> None."""
    m = _NUM_RE.match(value.strip())
    if not m:
        return None
    tok = m.group(0)
    if m.group(2) is None and m.group(3) is None:
        return int(tok)
    return float(tok)


def _fail(msg: str, where: str | None) -> LooplabError:
    return LooplabError(f"not a Timeloop stats.txt: {msg}", where)


def parse_stats_dict(text: str, where: str | None = None) -> dict[str, Any]:
    """stats.txt text -> record-shaped dict (see module doc). Raises LooplabError on text that isn't one."""
    levels: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    summary: dict[str, tuple[int | float | None, str]] = {}
    computes: int | float | None = None
    per_compute: dict[str, float] = {}
    per_compute_unit: str | None = None

    level: dict[str, Any] | None = None
    section: str | None = None  # "specs" | "stats"
    dataspace: dict[str, Any] | None = None
    in_levels = True
    for raw in text.splitlines():
        line = raw.strip()
        if not line or set(line) <= {"-"}:
            continue
        if in_levels:
            if line in ("Networks", "Operational Intensity Stats", "Summary Stats"):
                in_levels = False
            elif _LEVEL_RE.match(line):
                level, section, dataspace = None, None, None
            elif level is None and (m := _NAME_RE.match(line)):
                level = {"dataspaces": {}}
                levels[m.group(1)] = level
                order.append(m.group(1))
            elif level is None:
                pass
            elif line in ("SPECS", "STATS"):
                section, dataspace = line.lower(), None
            elif section == "stats" and line.endswith(":") and ":" not in line[:-1]:
                dataspace = level["dataspaces"].setdefault(line[:-1].strip(), {})
            elif m := _KV_RE.match(line):
                key, value = m["key"], parse_number(m["value"])
                if value is None:
                    continue
                if dataspace is not None:
                    target, table = dataspace, DATASPACE_KEYS
                else:
                    target, table = level, (STORAGE_SPEC_KEYS if section == "specs" else LEVEL_STAT_KEYS)
                if key in table:
                    target[table[key]] = value
            continue
        if line in ("fJ/Compute", "pJ/Compute"):
            per_compute_unit = line.split("/")[0]
        elif (m := _EQ_RE.match(line)) and m["key"] == "Computes":
            computes = parse_number(m["value"])
        elif m and per_compute_unit is not None:
            value = parse_number(m["value"])
            if value is not None:
                per_compute[m["key"]] = float(value) * 1000.0 if per_compute_unit == "pJ" else float(value)
        elif (m := _KV_RE.match(line)) and m["key"] in ("Utilization", "Cycles", "Energy"):
            summary[m["key"]] = (parse_number(m["value"]), m["value"])

    if not order:
        raise _fail("no 'Level N' / '=== NAME ===' blocks", where)
    for key in ("Cycles", "Energy", "Utilization"):
        if summary.get(key, (None, ""))[0] is None:
            raise _fail(f"no '{key}:' line in Summary Stats", where)
    if computes is None:
        raise _fail("no 'Computes = N' line", where)

    energy_val, energy_text = summary["Energy"]
    unit = energy_text.split()[-1] if len(energy_text.split()) > 1 else "uJ"
    if unit not in _ENERGY_SCALE:
        raise _fail(f"unknown energy unit {unit!r}", where)
    energy_pJ = energy_val * _ENERGY_SCALE[unit]
    stats: dict[str, Any] = {
        "levels": levels,
        "fJ_per_compute": per_compute,
        "level_order_inner_to_outer": order,
        "energy_pJ_levels_sum": round(sum(level_energy(lv) for lv in levels.values()), 2),
        "utilization": summary["Utilization"][0] / 100.0,
        "cycles": summary["Cycles"][0],
        "energy_uJ_summary": energy_pJ / 1e6,
        "energy_pJ": energy_pJ,
        "computes": computes,
    }
    if per_compute_unit == "pJ":
        stats["compute_energy_unit_printed"] = "pJ"
    return stats


def level_energy(level: dict[str, Any]) -> float:
    """A level's energy in pJ: its data spaces' access, temporal-reduction and address-generation energy plus
    leakage (storage), or its compute energy (arithmetic)."""
    total = level.get("energy_pJ", 0.0) + level.get("leakage_energy_pJ", 0.0)
    for ds in level["dataspaces"].values():
        total += ds.get("energy_pJ", 0.0) + ds.get("temporal_reduction_energy_pJ", 0.0) \
            + ds.get("address_generation_energy_pJ", 0.0)
    return total


def energy_by_action(stats: dict[str, Any]) -> dict[str, float]:
    """Energy (pJ) per action kind: compute, read, fill, update, temporal_reduction, address_generation, leakage.

    stats.txt charges one per-scalar-access energy to every read, fill and update of a data space, so a data
    space's access energy splits over the three in proportion to their counts.
    """
    out = dict.fromkeys(("compute", "read", "fill", "update", "temporal_reduction", "address_generation",
                         "leakage"), 0.0)
    for lv in stats["levels"].values():
        if not lv["dataspaces"]:
            out["compute"] += lv.get("energy_pJ", 0.0)
        out["leakage"] += lv.get("leakage_energy_pJ", 0.0)
        for ds in lv["dataspaces"].values():
            counts = {a: ds.get(a + "s", 0) for a in ("read", "fill", "update")}
            n = sum(counts.values())
            for action, c in counts.items():
                if n:
                    out[action] += ds.get("energy_pJ", 0.0) * c / n
            out["temporal_reduction"] += ds.get("temporal_reduction_energy_pJ", 0.0)
            out["address_generation"] += ds.get("address_generation_energy_pJ", 0.0)
    return out


def stats_to_result(stats: dict[str, Any], backend: str = "timeloop") -> EvalResult:
    """A valid EvalResult from ``parse_stats_dict`` output; the full dict is kept in ``extra["stats"]``.

    ``energy_pJ`` is the sum of every level's printed energies (each to 0.01 pJ), not the summary line's
    ``Energy: X uJ``, which is rounded to 0.01 uJ (up to ~1e-4 relative off)."""
    levels: dict[str, LevelStats] = {}
    for name, lv in stats["levels"].items():
        tensors = {ds_name: TensorStats(reads=ds.get("reads", 0), fills=ds.get("fills", 0),
                                        updates=ds.get("updates", 0),
                                        utilized_capacity=ds.get("utilized_capacity", 0),
                                        utilized_instances=ds.get("utilized_instances", 0),
                                        energy_pJ=ds.get("energy_pJ", 0.0))
                   for ds_name, ds in lv["dataspaces"].items()}
        levels[name] = LevelStats(cycles=lv.get("cycles"), energy_pJ=level_energy(lv), tensors=tensors)
    return EvalResult(
        valid=True, backend=backend, cycles=int(stats["cycles"]), energy_pJ=stats["energy_pJ_levels_sum"],
        utilization=stats["utilization"], computes=int(stats["computes"]),
        energy_by_level={name: lv.energy_pJ for name, lv in levels.items()},
        energy_by_action=energy_by_action(stats), levels=levels,
        extra={"stats": stats, "energy_pJ_levels_sum": stats["energy_pJ_levels_sum"]},
    )


def parse_stats_text(text: str, backend: str = "timeloop", where: str | None = None) -> EvalResult:
    """stats.txt text -> valid EvalResult (cycles, energy, utilization, computes, per level/tensor stats)."""
    return stats_to_result(parse_stats_dict(text, where), backend)
