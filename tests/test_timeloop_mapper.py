"""``looplab map --backend timeloop-mapper``: its inputs (family mapspace constraints, --mapper-config), the
mapper's YAML dialect, and its errors -- without the simulator. The real run is in tests/test_live_mapper.py."""

from __future__ import annotations

import pytest
import yaml

from looplab.archspec import parse_arch
from looplab.cli import main
from looplab.errors import LooplabError
from looplab.timeloop import mapper
from mappers.mapping import Mapping


def _arch(ref_dir, name):
    return parse_arch(ref_dir / "archs" / name / "arch.yaml")


def test_gemmini_constraints_are_dosas(ref_dir):
    cons = mapper.family_constraints(_arch(ref_dir, "gemmini_4x4"))
    bypass = {c["target"]: (c["keep"], c["bypass"]) for c in cons if c["type"] == "bypass"}
    assert bypass == {"Registers": (["Weights"], ["Inputs", "Outputs"]),
                      "Accumulator": (["Outputs"], ["Weights", "Inputs"]),
                      "Scratchpad": (["Weights", "Inputs"], ["Outputs"]),
                      "DRAM": (["Weights", "Inputs", "Outputs"], [])}
    spatial = {c["target"]: c for c in cons if c["type"] == "spatial"}
    assert set(spatial) == {"Scratchpad", "Accumulator"}
    # K across PECols (the Scratchpad's X fan-out), C across PERows (the Accumulator's Y fan-out)
    assert spatial["Scratchpad"]["factors"] == "R=1 S=1 P=1 Q=1 C=1 N=1"
    assert spatial["Scratchpad"]["permutation"][0] == "K" and spatial["Scratchpad"]["split"] == 1
    assert spatial["Accumulator"]["factors"] == "R=1 S=1 P=1 Q=1 K=1 N=1"
    assert spatial["Accumulator"]["permutation"][0] == "C" and spatial["Accumulator"]["split"] == 0


def test_simba_constraints_bypass_only(ref_dir):
    cons = mapper.family_constraints(_arch(ref_dir, "simba_final"))
    assert {c["type"] for c in cons} == {"bypass"}  # spatial: any dimension, nothing to constrain
    assert {c["target"]: c["keep"] for c in cons}["GlobalBuffer"] == ["Inputs", "Outputs"]


def test_mapper_config_overrides(ref_dir, tmp_path):
    arch = _arch(ref_dir, "gemmini_4x4")
    m, c = mapper.mapper_inputs(arch, "delay", 3, None)
    assert m["mapper"]["optimization_metrics"] == ["delay", "energy"] and m["mapper"]["num_threads"] == 3
    assert c["mapspace_constraints"] == mapper.family_constraints(arch)
    cfg = tmp_path / "m.yaml"
    cfg.write_text(yaml.safe_dump({"mapper": {"victory_condition": 7, "optimization_metrics": ["energy"]},
                                   "mapspace_constraints": [{"target": "DRAM", "type": "temporal",
                                                             "factors": "R=1"}]}))
    m, c = mapper.mapper_inputs(arch, "edp", None, cfg)
    assert m["mapper"]["victory_condition"] == 7 and m["mapper"]["optimization_metrics"] == ["energy"]
    assert c == {"mapspace_constraints": [{"target": "DRAM", "type": "temporal", "factors": "R=1"}]}
    only_mapper = tmp_path / "o.yaml"
    only_mapper.write_text("mapper: {search_size: 10}\n")
    assert mapper.mapper_inputs(arch, "edp", 1, only_mapper)[1]["mapspace_constraints"]  # family default kept
    bad = tmp_path / "bad.yaml"
    bad.write_text("hello: 1\n")
    with pytest.raises(LooplabError, match="mapper:"):
        mapper.mapper_inputs(arch, "edp", 1, bad)
    with pytest.raises(LooplabError, match="not found"):
        mapper.mapper_inputs(arch, "edp", 1, tmp_path / "missing.yaml")
    with pytest.raises(LooplabError, match="metric"):
        mapper.mapper_inputs(arch, "area", 1, None)


def test_normalise_mapper_yaml(ref_dir):
    text = """mapping:
  - target: Registers
    type: datatype
    keep: [Weights]
    bypass: [Inputs, Outputs]
  - target: Registers
    type: temporal
    factors: R1 S1 P7 Q1 C1 K1 N1
    permutation: PRSQCKN
  - target: Scratchpad
    type: spatial
    factors: R1 S1 P1 Q1 C1 K16 N1
    permutation: KRSPQCN
    split: 1
"""
    arch = _arch(ref_dir, "gemmini_default")
    m = Mapping.from_yaml(text, arch.storage_names)
    lv = {x.level: x for x in m.levels}
    assert lv["Registers"].temporal["P"] == 7 and lv["Registers"].keep == ["Weights"]
    assert lv["Scratchpad"].spatial_x["K"] == 16 and lv["Scratchpad"].spatial_y["K"] == 1


def test_map_cli_without_mapper(ref_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LOOPLAB_SIMULATORS", raising=False)
    d = ref_dir / "archs" / "gemmini_4x4"
    rc = main(["map", str(d / "arch.yaml"), str(ref_dir / "layers" / "resnet50._outputs_3356.yaml"),
               "--backend", "timeloop-mapper", "--out", str(tmp_path / "o")])
    assert rc == 2 and "looplab: error: --backend timeloop-mapper: timeloop-mapper not found on PATH" \
        in capsys.readouterr().err
