"""Live: the differential fuzz (looplab.timeloop.fuzz) at a small size -- random Simba and Gemmini configurations
over the samplers' whole ranges x layers from every shipped catalog x sampled valid and invalid mappings, the
real timeloop-model against the analytical model with the ERT Accelergy produced for each configuration. Every
verdict, failing level, failure kind, cycle count and energy must agree. ``bench/fuzz_timeloop.py --points
10000`` is the same at scale."""

from __future__ import annotations

import json
import shutil

import pytest

from looplab.timeloop.fuzz import compare, energy_tolerance, run_fuzz


def test_compare_flags_each_kind_of_disagreement():
    exp = {"id": 1, "valid": True, "failed_level": None, "kind": None, "cycles": 10, "energy_pJ": 100.0,
           "energy_tol_pJ": energy_tolerance(4)}
    assert compare(exp, {"valid": True, "cycles": 10, "energy_pJ": 100.1}) is None
    assert set(compare(exp, {"valid": True, "cycles": 11, "energy_pJ": 100.0})) == {"id", "cycles", "reason"}
    assert "energy_pJ" in compare(exp, {"valid": True, "cycles": 10, "energy_pJ": 101.0})
    assert "valid" in compare(exp, {"valid": False, "failed_level": "DRAM", "error_kind": "capacity"})
    bad = {**exp, "valid": False, "failed_level": "Scratchpad", "kind": "capacity"}
    assert compare(bad, {"valid": False, "failed_level": "Scratchpad", "error_kind": "capacity"}) is None
    assert "failed_level" in compare(bad, {"valid": False, "failed_level": "Accumulator", "error_kind": "capacity"})
    assert "kind" in compare(bad, {"valid": False, "failed_level": "Scratchpad", "error_kind": "fanout"})


@pytest.mark.timeloop
@pytest.mark.skipif(shutil.which("accelergy") is None, reason="accelergy not found")
def test_small_fuzz_agrees(tmp_path):
    rep = run_fuzz(tmp_path / "fuzz", points=32, seed=7, jobs=2, per_arch=16, per_layer=4, progress=False)
    assert not rep.archs_skipped and rep.points == 32
    assert rep.valid > 0 and rep.invalid > 0
    assert rep.failed == 0
    expected = [json.loads(x) for x in (tmp_path / "fuzz" / "expected.jsonl").read_text().splitlines()]
    assert {e["catalog"] for e in expected} == set(rep.catalogs) and len(rep.catalogs) >= 8  # every catalog
    assert {e["family"] for e in expected} == {"simba", "gemmini"}
    plan = json.loads((tmp_path / "fuzz" / "plan.json").read_text())
    assert plan["archs"] == 2  # one Simba, one Gemmini
    assert rep.disagreements == [], "\n".join(rep.lines())
    assert rep.agree == rep.points
