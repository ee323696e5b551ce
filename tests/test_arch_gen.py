"""Accelerator families: presets vs the reference architectures, validation, grid, samplers, rendering."""

from __future__ import annotations

import json

import pytest
import yaml

from arch_gen import (
    GemminiConfig,
    SimbaConfig,
    config_from_params,
    get_preset,
    list_presets,
    render_arch,
    sample_configs,
    simba_grid,
)
from looplab.archspec import parse_arch
from looplab.errors import LooplabError


def _ref_params(ref_dir):
    return {pj.parent.name: json.loads(pj.read_text()) for pj in sorted((ref_dir / "archs").glob("*/params.json"))}


def _string_attribute_nodes(node, in_attributes=False):
    """Yield every scalar node that is an attribute value and resolves to a string."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if in_attributes and isinstance(v, yaml.ScalarNode) and v.tag == "tag:yaml.org,2002:str":
                yield k.value, v
            yield from _string_attribute_nodes(v, k.value == "attributes")
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            yield from _string_attribute_nodes(v)


def test_presets_are_the_reference_architectures(ref_dir):
    refs = _ref_params(ref_dir)
    assert sorted(list_presets()) == sorted(refs)
    for name, pj in refs.items():
        cfg = get_preset(name)
        assert cfg.family == pj["family"] and cfg.name == name
        assert cfg.to_params() == pj["params"]
        assert config_from_params(pj["family"], pj["params"], name=name) == cfg
        emitted = yaml.safe_load(render_arch(cfg))
        assert emitted == yaml.safe_load((ref_dir / "archs" / name / "arch.yaml").read_text()), name


def test_rendered_arch_matches_params_derived(ref_dir):
    """Capacities and fan-outs of the emitted YAML (parsed by looplab's own ArchSpec) equal params.json."""
    for name, pj in _ref_params(ref_dir).items():
        spec = parse_arch(render_arch(get_preset(name)))
        for lvl, cap in pj["derived"]["capacity_words"].items():
            assert spec.level(lvl).capacity_words == cap, (name, lvl)
        for lvl, fan in pj["derived"]["fanout"].items():
            assert (spec.level(lvl).fanout_x, spec.level(lvl).fanout_y) == (fan["X"], fan["Y"]), (name, lvl)
        if pj["family"] == "simba":
            cfg = get_preset(name)
            assert (cfg.lanes, cfg.vector) == (pj["derived"]["L"], pj["derived"]["V"])


def test_string_attributes_are_double_quoted():
    """Accelergy 0.4 evaluates unquoted scalars (45nm fails), so every string attribute must be quoted."""
    for name in list_presets():
        text = render_arch(get_preset(name))
        found = dict()
        for key, node in _string_attribute_nodes(yaml.compose(text)):
            assert node.style == '"', (name, key, node.value)
            found[key] = node.value
        assert found == {"technology": "45nm", "type": "LPDDR4"}
        assert 'technology: "45nm"' in text and 'type: "LPDDR4"' in text


@pytest.mark.parametrize("params,match", [
    (dict(pes=16, macs=1000), "macs=1000 must be a multiple of pes=16"),
    (dict(pes=16, macs=16 * 12), r"macs/pes = 12 must be a power of two"),
    (dict(pes=0), "pes must be an integer >= 1, got 0"),
    (dict(pes=2.5), "pes must be an integer >= 1, got 2.5"),
    (dict(global_kib=-1), "global_kib must be a positive number of KiB"),
    (dict(accum_kib_per_pe=0.1), r"accum_kib_per_pe=0.1 KiB is not a whole number of 192-bit rows"),
    (dict(weight_kib_per_pe="big"), "weight_kib_per_pe must be a positive number of KiB"),
])
def test_simba_validation_names_the_field(params, match):
    base = get_preset("simba_final").to_params()
    with pytest.raises(LooplabError, match=match):
        SimbaConfig(**{**base, **params})


@pytest.mark.parametrize("params,match", [
    (dict(pe_dim=0), "pe_dim must be an integer >= 1"),
    (dict(sp_kib=0), "sp_kib must be a positive number of KiB"),
    (dict(pe_dim=3, sp_kib=1, acc_kib=3), r"sp_kib=1 KiB is not a whole number of 24-bit rows"),
    (dict(acc_kib=0.0625, pe_dim=32), r"acc_kib=0.0625 KiB is not a whole number of 1024-bit rows \(0.5 rows\)"),
])
def test_gemmini_validation_names_the_field(params, match):
    base = get_preset("gemmini_default").to_params()
    with pytest.raises(LooplabError, match=match):
        GemminiConfig(**{**base, **params})


def test_config_from_params_exact_keys():
    with pytest.raises(LooplabError, match=r"unknown parameter\(s\) \['pe_count'\]"):
        config_from_params("simba", {**get_preset("simba_final").to_params(), "pe_count": 4})
    with pytest.raises(LooplabError, match=r"missing parameter\(s\) \['acc_kib'\]"):
        config_from_params("gemmini", {"pe_dim": 4, "sp_kib": 32})
    with pytest.raises(LooplabError, match="unknown family 'eyeriss'"):
        config_from_params("eyeriss", {})
    with pytest.raises(LooplabError, match="unknown preset 'simba_huge'.*simba_final"):
        get_preset("simba_huge")
    with pytest.raises(LooplabError, match=r"unknown parameter\(s\) \['pes'\]"):
        get_preset("gemmini_default").replace(pes=4)


def test_simba_grid_is_2304_distinct_valid_configs():
    grid = simba_grid()
    assert len(grid) == 2304
    params = [tuple(c.to_params().values()) for c in grid]
    assert len(set(params)) == 2304
    for key, lo, hi in [("pes", 4, 64), ("macs", 256, 4096), ("accum_kib_per_pe", 1.5, 12),
                        ("weight_kib_per_pe", 8, 128), ("input_kib_per_pe", 2, 32), ("global_kib", 16, 256)]:
        vals = {c.to_params()[key] for c in grid}
        assert min(vals) == lo and max(vals) == hi, key
    assert grid == simba_grid()  # reproducible, same order
    assert len({c.name for c in grid}) == 2304
    # every grid point renders and parses; spot-check the extremes (largest lane count, smallest buffers)
    for cfg in (grid[0], grid[-1], max(grid, key=lambda c: c.lanes)):
        spec = parse_arch(render_arch(cfg))
        assert spec.compute.instances == cfg.macs
        # per-lane accumulator words (3 bytes each) times lanes is the per-PE size
        assert spec.level("AccumulationBuffer").capacity_words * 3 * cfg.lanes == cfg.accum_kib_per_pe * 1024
        assert spec.level("WeightBuffer").capacity_words * cfg.lanes == cfg.weight_kib_per_pe * 1024


@pytest.mark.parametrize("family", ["simba", "gemmini"])
def test_samplers_are_seeded_and_in_range(family):
    a = sample_configs(family, 200, seed=7)
    assert a == sample_configs(family, 200, seed=7)
    assert a[:50] == sample_configs(family, 50, seed=7)
    assert a != sample_configs(family, 200, seed=8)
    from arch_gen import SAMPLE_SPACE

    for cfg in a:
        for k, v in cfg.to_params().items():
            assert v in SAMPLE_SPACE[family][k]
    # the draws cover the space (every choice of every parameter appears in 200 draws)
    for k, choices in SAMPLE_SPACE[family].items():
        assert {cfg.to_params()[k] for cfg in a} == set(choices), k
    for cfg in a[:20]:
        assert parse_arch(render_arch(cfg)).compute.instances == (cfg.macs if family == "simba" else cfg.pe_dim ** 2)


def test_render_options():
    text = render_arch(get_preset("gemmini_4x4"), technology="22nm", cycle_seconds=2e-9)
    tree = yaml.safe_load(text)
    assert tree["architecture"]["subtree"][0]["attributes"] == {"technology": "22nm", "global_cycle_seconds": 2e-9}
