"""The pytimeloop backend's plain-Python parts. The real bindings are absent here, so a stand-in ``bindings``
module (Configurator / Engine with the timeloop-python method names) checks only the plumbing: status -> result,
one engine per architecture per process, and that ``pretty_print_stats`` text goes through the stats parser."""

from __future__ import annotations

import json
import sys
import types
from types import SimpleNamespace

import pytest

from looplab.timeloop import pytimeloop_backend as ptl


def test_status_to_result():
    ok = SimpleNamespace(success=True, fail_reason="")
    bad = SimpleNamespace(success=False, fail_reason="mapped tile size 448 exceeds buffer capacity 64")
    names = ["MACC", "Registers", "AccumulationBuffer"]
    assert ptl.status_to_result([ok, ok, ok], names) is None
    res = ptl.status_to_result([ok, ok, bad], names)
    assert (res.valid, res.failed_level, res.error_kind, res.extra["mapped"], res.extra["available"]) == (
        False, "AccumulationBuffer", "capacity", 448, 64)
    assert res.summary_lines() == ["ERROR: couldn't map level AccumulationBuffer: mapped tile size 448 exceeds "
                                   "buffer capacity 64"]


def test_combined_yaml_and_key(ref_dir, tmp_path):
    d = ref_dir / "full" / "00_simba_final_8x8_resnet50._outputs_input.76_valid"
    text, key = ptl.combined_yaml(d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "ERT.yaml",
                                  d / "ART.yaml")
    import yaml

    doc = yaml.safe_load(text)
    assert {"architecture", "problem", "mapping", "ERT", "ART"} <= set(doc)
    other = ref_dir / "full" / "05_simba_final_resnet50._outputs_input.76_valid"
    _, key2 = ptl.combined_yaml(d / "arch.yaml", other / "problem.yaml", other / "mapping.yaml", d / "ERT.yaml",
                                d / "ART.yaml")
    assert key == key2  # the engine cache key ignores problem and mapping
    _, key3 = ptl.combined_yaml(other / "arch.yaml", other / "problem.yaml", other / "mapping.yaml",
                                other / "ERT.yaml", other / "ART.yaml")
    assert key3 != key


@pytest.fixture
def stand_in_bindings(monkeypatch):
    calls = {"engines": 0}
    state = {"status": [], "stats": ""}

    class Configurator:
        @staticmethod
        def from_yaml_str(text):
            assert "ERT:" in text and "mapping:" in text
            return SimpleNamespace(get_arch_specs=lambda: SimpleNamespace(level_names=lambda: ["MACC", "Buf"]),
                                   get_mapping=lambda: "m", get_workload=lambda: "w", get_sparse_opts=lambda: "s")

    class Engine:
        def __init__(self, specs):
            calls["engines"] += 1

        def evaluate(self, mapping, workload, sparse_opts, break_on_failure=True):
            assert (mapping, workload, sparse_opts, break_on_failure) == ("m", "w", "s", True)
            return state["status"]

        def pretty_print_stats(self):
            return state["stats"]

    bindings = types.ModuleType("bindings")
    config = types.ModuleType("bindings.config")
    model = types.ModuleType("bindings.model")
    config.Configurator, model.Engine = Configurator, Engine
    bindings.config, bindings.model = config, model
    for name, mod in (("bindings", bindings), ("bindings.config", config), ("bindings.model", model)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(ptl, "_ENGINES", {})
    return calls, state


def test_evaluate_plumbing(stand_in_bindings, ref_dir, ref_cases):
    calls, state = stand_in_bindings
    index = json.loads((ref_dir / "full" / "index.json").read_text())
    e = next(x for x in index if x["valid"])
    d = ref_dir / "full" / e["dir"]
    args = (d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "ERT.yaml", d / "ART.yaml")
    state["status"] = [SimpleNamespace(success=True, fail_reason=""), SimpleNamespace(success=False, fail_reason=
                       "mapped tile size 9 exceeds buffer capacity 8")]
    res = ptl.evaluate(*args)
    assert (res.valid, res.failed_level, res.error_kind, res.backend) == (False, "Buf", "capacity", "pytimeloop")
    state["status"] = [SimpleNamespace(success=True, fail_reason="")] * 2
    state["stats"] = (d / "timeloop-model.stats.txt").read_text()  # recorded text, replayed through the parser
    res = ptl.evaluate(*args)
    rec = next(c for c in ref_cases if c["case_id"] == e["case_id"])
    assert (res.valid, res.cycles, res.energy_pJ, res.backend) == (True, rec["stats"]["cycles"],
                                                                   rec["stats"]["energy_pJ"], "pytimeloop")
    assert calls["engines"] == 1  # one engine for the architecture, reused
    state["stats"] = "garbage"
    assert ptl.evaluate(*args).error_kind == "garbage"
    assert calls["engines"] == 1


def test_engine_is_renewed_after_bounded_reuse(stand_in_bindings, ref_dir, monkeypatch):
    calls, state = stand_in_bindings
    monkeypatch.setattr(ptl, "ENGINE_REUSE", 2)
    d = ref_dir / "full" / "06_arch1_resnet50._outputs_input.39_invalid-capacity"
    state["status"] = [SimpleNamespace(success=False, fail_reason="mapped tile size 448 exceeds buffer capacity 64")]
    for _ in range(5):
        res = ptl.evaluate(d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "ERT.yaml", d / "ART.yaml")
        assert res.failed_level == "MACC" and res.error_kind == "capacity"
    assert calls["engines"] == 3  # evaluations 1-2, 3-4, 5
