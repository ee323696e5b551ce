"""Live: ``looplab map --backend timeloop-mapper`` on the real timeloop-mapper. The best mapping it reports is
parsed into looplab's Mapping, respects the Gemmini mapspace (DOSA's constraints), and timeloop-model evaluating
the written OUT/mapping.yaml gives exactly the stats the mapper reported; a wall-clock limit stops the search
with the best mapping so far. Skipped without the simulators."""

from __future__ import annotations

import json

import pytest
import yaml

from looplab.archspec import parse_arch
from looplab.backends import get_backend
from looplab.cli import main
from looplab.timeloop.mapper import map_layer
from mappers.mapping import Mapping

pytestmark = pytest.mark.timeloop
LAYER = "resnet50._outputs_input.11"  # 1x1 conv, 56x56, C 64, K 256


def _small_search(tmp_path):
    cfg = tmp_path / "mapper.yaml"
    cfg.write_text(yaml.safe_dump({"mapper": {"victory_condition": 40, "timeout": 150, "search_size": 200,
                                              "max_permutations_per_if_visit": 4}}))
    return cfg


def test_map_cli_and_reevaluation(ref_dir, tmp_path, capsys):
    a = ref_dir / "archs" / "gemmini_4x4"
    problem = ref_dir / "layers" / f"{LAYER}.yaml"
    out = tmp_path / "out"
    rc = main(["map", str(a / "arch.yaml"), str(problem), "--backend", "timeloop-mapper", "--ert",
               str(a / "ERT.yaml"), "--threads", "2", "--metric", "edp", "--mapper-config",
               str(_small_search(tmp_path)), "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr()
    res = json.loads((out / "result.json").read_text())
    assert res["valid"] and res["backend"] == "timeloop-mapper" and res["edp"] == res["cycles"] * res["energy_pJ"]
    arch = parse_arch(a / "arch.yaml")
    m = Mapping.from_yaml(out / "mapping.yaml", arch.storage_names)
    levels = {lv.level: lv for lv in m.levels}
    assert levels["Registers"].keep == ["Weights"] and levels["Accumulator"].keep == ["Outputs"]
    assert sorted(levels["Scratchpad"].keep) == ["Inputs", "Weights"]
    assert all(v == 1 for d, v in levels["Scratchpad"].spatial_x.items() if d != "K")
    assert all(v == 1 for d, v in levels["Accumulator"].spatial_y.items() if d != "C")
    again = get_backend("timeloop").evaluate(a / "arch.yaml", problem, out / "mapping.yaml", a / "ERT.yaml")
    assert (again.valid, again.cycles, again.energy_pJ) == (True, res["cycles"], res["energy_pJ"])
    assert (out / "timeloop-mapper" / "timeloop-mapper.stats.txt").is_file()


def test_wall_clock_limit_keeps_best_so_far(ref_dir, tmp_path):
    a = ref_dir / "archs" / "gemmini_8x8"
    cfg = tmp_path / "endless.yaml"
    cfg.write_text(yaml.safe_dump({"mapper": {"victory_condition": 0, "timeout": 10**7, "search_size": 0}}))
    res = map_layer(a / "arch.yaml", ref_dir / "layers" / f"{LAYER}.yaml", tmp_path / "o", metric="energy",
                    timeout_s=4, threads=2, mapper_config=cfg, ert=a / "ERT.yaml", progress=False)
    assert res["stopped_by"] == "timeout" and res["wall_s"] < 40
    assert res["valid"] and res["cycles"] > 0 and (tmp_path / "o" / "mapping.yaml").is_file()


def test_no_valid_mapping_is_reported(ref_dir, tmp_path, capsys):
    """A mapspace with nothing valid in it (every factor of K forced into the 1-word Registers)."""
    a = ref_dir / "archs" / "gemmini_4x4"
    cfg = tmp_path / "impossible.yaml"
    cfg.write_text(yaml.safe_dump({"mapper": {"victory_condition": 10, "timeout": 30, "search_size": 50},
                                   "mapspace_constraints": [{"target": "Registers", "type": "temporal",
                                                             "factors": "K=256"}]}))
    rc = main(["map", str(a / "arch.yaml"), str(ref_dir / "layers" / f"{LAYER}.yaml"), "--backend",
               "timeloop-mapper", "--ert", str(a / "ERT.yaml"), "--mapper-config", str(cfg), "--out",
               str(tmp_path / "o"), "--no-progress", "--threads", "1"])
    assert rc == 1 and "no valid mapping found" in capsys.readouterr().out
    res = json.loads((tmp_path / "o" / "result.json").read_text())
    assert res["valid"] is False and res["cycles"] is None and "timeloop-mapper found no valid mapping" in res["reason"]
