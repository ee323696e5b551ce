"""stats.txt and map+stats.xml parsers against every recorded real timeloop-model run under reference/full/."""

from __future__ import annotations

import json
import re

import pytest

from looplab.errors import LooplabError
from looplab.timeloop.parse_stats import energy_by_action, parse_number, parse_stats_dict, parse_stats_text
from looplab.timeloop.parse_xml import parse_map_stats_xml


@pytest.fixture(scope="module")
def full_runs(ref_dir, ref_cases):
    """(run directory, index entry, matching cases.jsonl.gz record) for every reference/full/ run."""
    by_id = {c["case_id"]: c for c in ref_cases}
    index = json.loads((ref_dir / "full" / "index.json").read_text())
    return [(ref_dir / "full" / e["dir"], e, by_id[e["case_id"]]) for e in index]


def _valid(full_runs):
    return [r for r in full_runs if r[2]["valid"]]


def test_full_set_has_valid_and_invalid_runs(full_runs):
    assert len(_valid(full_runs)) >= 10
    assert len(full_runs) - len(_valid(full_runs)) >= 5


def test_stats_txt_reproduces_every_recorded_number(full_runs):
    """Every number in the record (cycles, energy, utilization, computes, per-level per-tensor counts, capacities,
    instances, energies, fJ/Compute, the level order) equals what parse_stats_dict reads from stats.txt."""
    for run_dir, entry, record in _valid(full_runs):
        parsed = parse_stats_dict((run_dir / "timeloop-model.stats.txt").read_text(), where=entry["dir"])
        assert parsed == record["stats"], entry["dir"]


def test_eval_result_from_stats(full_runs):
    for run_dir, entry, record in _valid(full_runs):
        res = parse_stats_text((run_dir / "timeloop-model.stats.txt").read_text())
        st = record["stats"]
        assert res.valid is True and res.error_kind is None
        assert (res.cycles, res.energy_pJ, res.utilization, res.computes) == (
            st["cycles"], st["energy_pJ_levels_sum"], st["utilization"], st["computes"])
        assert res.extra["stats"]["energy_pJ"] == st["energy_pJ"]  # the summary line, 0.01 uJ, kept aside
        for level, rec in st["levels"].items():
            assert res.levels[level].cycles == rec["cycles"]
            for ds, rds in rec["dataspaces"].items():
                t = res.levels[level].tensors[ds]
                assert (t.reads, t.fills, t.updates, t.utilized_capacity, t.utilized_instances, t.energy_pJ) == (
                    rds["reads"], rds["fills"], rds["updates"], rds["utilized_capacity"],
                    rds["utilized_instances"], rds["energy_pJ"]), (entry["dir"], level, ds)
        # per-level and per-action energies partition the total (the per-level figures are rounded to 0.01 pJ)
        assert sum(res.energy_by_level.values()) == pytest.approx(st["energy_pJ_levels_sum"], abs=0.05)
        assert sum(res.energy_by_action.values()) == pytest.approx(st["energy_pJ_levels_sum"], abs=0.05)
        assert res.energy_by_action["compute"] == st["levels"]["MACC"]["energy_pJ"]
        assert res.summary_lines()[1] == f"Cycles: {st['cycles']}"
        assert res.summary_lines()[2] == f"Energy: {st['energy_uJ_summary']:.2f} uJ"


def test_stdout_summary_line_agrees(full_runs):
    """timeloop-model's stdout line ``Utilization = U | pJ/Compute = E | Cycles = C`` matches the parsed stats."""
    pat = re.compile(r"Utilization = ([\d.]+) \| pJ/Compute =\s*([\d.]+) \| Cycles = (\d+)")
    for run_dir, entry, _record in _valid(full_runs):
        m = pat.search((run_dir / "stdout.txt").read_text())
        assert m, entry["dir"]
        st = parse_stats_dict((run_dir / "timeloop-model.stats.txt").read_text())
        assert int(m.group(3)) == st["cycles"]
        assert float(m.group(1)) == pytest.approx(st["utilization"], abs=0.0051)
        assert float(m.group(2)) == pytest.approx(st["fJ_per_compute"]["Total"] / 1000, abs=0.0006)


def _to_pj_variant(text: str) -> str:
    """Older Timeloop builds print ``pJ/Compute`` with the values in pJ (3 decimals). This builds that variant
    from a real fJ/Compute file by converting the numbers (fJ / 1000); everything else is left as recorded."""
    head, tail = text.split("fJ/Compute\n", 1)
    lines = []
    for line in tail.splitlines():
        m = re.match(r"^(\s*\S+\s*=\s*)([\d.]+)\s*$", line)
        lines.append(f"{m.group(1)}{float(m.group(2)) / 1000:.3f}" if m else line)
    return head + "pJ/Compute\n" + "\n".join(lines) + "\n"


def test_pj_per_compute_variant(full_runs):
    for run_dir, entry, record in _valid(full_runs):
        variant = _to_pj_variant((run_dir / "timeloop-model.stats.txt").read_text())
        assert "fJ/Compute" not in variant and "pJ/Compute" in variant
        parsed = parse_stats_dict(variant)
        assert parsed["compute_energy_unit_printed"] == "pJ"
        want = record["stats"]["fJ_per_compute"]
        assert parsed["fJ_per_compute"].keys() == want.keys()
        for name, fj in want.items():  # pJ printed with 3 decimals = 1 fJ resolution
            assert parsed["fJ_per_compute"][name] == pytest.approx(fj, abs=0.5 + 1e-9), (entry["dir"], name)
        rest = {k: v for k, v in parsed.items() if k not in ("fJ_per_compute", "compute_energy_unit_printed")}
        assert rest == {k: v for k, v in record["stats"].items() if k != "fJ_per_compute"}


def test_map_stats_xml_matches_record(full_runs):
    """map+stats.xml holds the same counts at full precision: equal integers, energies equal after rounding."""
    for run_dir, entry, record in _valid(full_runs):
        xml = parse_map_stats_xml(run_dir / "timeloop-model.map+stats.xml")
        st = record["stats"]
        assert xml["level_order_inner_to_outer"] == st["level_order_inner_to_outer"]
        for level, rec in st["levels"].items():
            got = xml["levels"][level]
            assert got["instances"] == rec["instances"], (entry["dir"], level)
            assert got["cycles"] == rec["cycles"]
            if not rec["dataspaces"]:  # arithmetic level
                assert got["computes"] == rec["computes"]
                assert got["utilized_instances"] == rec["utilized_instances"]
                assert round(got["energy_pJ"], 2) == rec["energy_pJ"]
                continue
            assert got.get("size_words") == rec.get("size_words", got.get("size_words"))
            assert set(got["dataspaces"]) == set(rec["dataspaces"]), (entry["dir"], level)
            for ds, rds in rec["dataspaces"].items():
                g = got["dataspaces"][ds]
                for key in ("partition_size", "utilized_capacity", "utilized_instances", "utilized_clusters",
                            "reads", "fills", "updates", "temporal_reductions", "address_generations"):
                    assert g[key] == rds[key], (entry["dir"], level, ds, key)
                assert round(g["energy_per_instance_pJ"], 2) == rds["energy_per_instance_pJ"]
                assert g["energy_pJ"] == pytest.approx(rds["energy_pJ"], abs=0.006)


def test_energy_by_action_splits_access_energy_by_counts():
    stats = {"levels": {
        "MACC": {"dataspaces": {}, "energy_pJ": 10.0},
        "Buf": {"dataspaces": {"Inputs": {"reads": 3, "fills": 1, "updates": 0, "energy_pJ": 8.0,
                                          "temporal_reduction_energy_pJ": 0.5,
                                          "address_generation_energy_pJ": 0.25}},
                "leakage_energy_pJ": 2.0}}}
    got = energy_by_action(stats)
    assert got == {"compute": 10.0, "read": 6.0, "fill": 2.0, "update": 0.0, "temporal_reduction": 0.5,
                   "address_generation": 0.25, "leakage": 2.0}


@pytest.mark.parametrize("text", ["", "hello\nworld\n", "Level 0\n-------\n=== MACC ===\n", "\x00\x01garbage"])
def test_garbage_raises_looplab_error(text):
    with pytest.raises(LooplabError, match="stats.txt"):
        parse_stats_dict(text, where="x/timeloop-model.stats.txt")


def test_truncated_real_file_is_rejected(full_runs):
    run_dir = _valid(full_runs)[0][0]
    text = (run_dir / "timeloop-model.stats.txt").read_text()
    with pytest.raises(LooplabError, match="Summary Stats|Computes"):
        parse_stats_dict(text[: text.index("Summary Stats")])


def test_parse_number():
    assert parse_number("4096 (64*64)") == 4096
    assert parse_number("0.01 pJ") == 0.01
    assert parse_number("87.50%") == 87.5
    assert parse_number("1.40e+01") == 14.0
    assert parse_number("-") is None
