"""Architecture parsing and the mapping model against the recorded reference data."""

from __future__ import annotations

import json

import pytest

from looplab.archspec import parse_arch
from looplab.errors import LooplabError
from mappers.mapping import Mapping, MappingBatch


def test_archspec_matches_params(ref_dir):
    for pj in sorted((ref_dir / "archs").glob("*/params.json")):
        params = json.loads(pj.read_text())
        spec = parse_arch(pj.parent / "arch.yaml")
        for name, cap in params["derived"]["capacity_words"].items():
            assert spec.level(name).capacity_words == cap, (pj.parent.name, name)
        for name, fan in params["derived"]["fanout"].items():
            lvl = spec.level(name)
            assert (lvl.fanout_x, lvl.fanout_y) == (fan["X"], fan["Y"]), (pj.parent.name, name)
        assert spec.storage[-1].name == "DRAM" and spec.compute.name == "MACC"


def test_mapping_yaml_roundtrip_all_cases(ref_dir, ref_cases):
    specs = {p.parent.name: parse_arch(p) for p in (ref_dir / "archs").glob("*/arch.yaml")}
    for case in ref_cases:
        spec = specs[case["arch"]]
        rec = Mapping.from_record(case["mapping"])
        rec.check_layer(case["layer_dims"])
        parsed = Mapping.from_yaml(case["mapping_yaml"], spec.storage_names)
        assert parsed == rec, case["case_id"]
        back = MappingBatch.from_mappings([parsed], spec.storage_names).to_mappings()[0]
        assert back.to_yaml() == parsed.to_yaml()


def test_mapping_bad_input_names_the_entry():
    with pytest.raises(LooplabError, match="entry 0.*unknown keys"):
        Mapping.from_yaml({"mapping": [{"target": "DRAM", "type": "temporal", "factros": "R=1"}]})
    with pytest.raises(LooplabError, match="unknown dimension 'Z'"):
        Mapping.from_yaml({"mapping": [{"target": "DRAM", "type": "temporal", "factors": "Z=3"}]})


def test_arch_bad_input():
    with pytest.raises(LooplabError, match="missing top-level 'architecture'"):
        parse_arch({"arch": {}})


def test_arch_missing_file_and_default_mesh(tmp_path):
    with pytest.raises(LooplabError, match="cannot read architecture file"):
        parse_arch(tmp_path / "nope.yaml")
    text = (
        "architecture:\n  version: 0.4\n  subtree:\n  - name: S\n    local:\n"
        "    - {name: DRAM, class: DRAM, attributes: {width: 64, datawidth: 8}}\n"
        "    - {name: Buf, class: SRAM, attributes: {depth: 64, width: 8, datawidth: 8, instances: 4}}\n"
        "    - {name: MACC, class: intmac, attributes: {datawidth: 8, instances: 4}}\n"
    )
    spec = parse_arch(text)
    # Timeloop's default mesh is a single row: meshX = instances, so DRAM's fan-out to Buf is along X.
    assert spec.level("Buf").mesh_x == 4
    assert (spec.level("DRAM").fanout_x, spec.level("DRAM").fanout_y) == (4, 1)
