"""Random sampler: quotas, determinism, family rules, distinctness."""

from __future__ import annotations

import json

import numpy as np
import pytest

from looplab.archspec import DIMS, TENSORS, parse_arch
from looplab.errors import LooplabError
from mappers.families import rules_for
from mappers.mapping import Mapping
from mappers.sampler import canonical_keys, sample_mappings
from mappers.validity import check_batch


@pytest.fixture(scope="module")
def layers(ref_dir):
    return {x["name"]: x["dims"] for x in json.loads((ref_dir / "layers" / "layers.json").read_text())}


@pytest.fixture(scope="module")
def archs(ref_dir):
    return {p.parent.name: parse_arch(p) for p in (ref_dir / "archs").glob("*/arch.yaml")}


@pytest.mark.parametrize("arch", ["simba_final", "arch1", "gemmini_default", "gemmini_4x4"])
def test_quotas_and_rules(arch, archs, layers):
    spec = archs[arch]
    rules = rules_for(spec)
    for name in ["resnet50._outputs_input.2", "resnet50._outputs_3356", "resnet50._outputs_input.46"]:
        dims = layers[name]
        batch, valid = sample_mappings(spec, dims, 10, 100, seed=7)
        assert len(batch) == 110 and valid[:10].all() and not valid[10:].any()
        # The verdicts are check_batch's, and the factors multiply to the layer's dims.
        assert (check_batch(spec, dims, batch).valid == valid).all()
        prod = (batch.temporal * batch.spatial_x * batch.spatial_y).prod(axis=1)
        assert (prod == np.array([dims[d] for d in DIMS])).all()
        # Keep/bypass is the family's; spatial factors only where the family allows them.
        assert (batch.keep == np.array(rules.keep_mask())).all()
        allowed_x = np.zeros((len(rules.level_names), 7), bool)
        allowed_y = np.zeros_like(allowed_x)
        for slot in rules.spatial:
            for d in slot.dims:
                (allowed_x if slot.axis == "X" else allowed_y)[slot.index, DIMS.index(d)] = True
        assert ((batch.spatial_x == 1) | allowed_x).all()
        assert ((batch.spatial_y == 1) | allowed_y).all()
        assert len(set(canonical_keys(batch))) == len(batch)


def test_seeded(archs, layers):
    spec, dims = archs["simba_large"], layers["resnet50._outputs_input.11"]
    a, va = sample_mappings(spec, dims, 5, 20, seed=3)
    b, vb = sample_mappings(spec, dims, 5, 20, seed=3)
    c, _ = sample_mappings(spec, dims, 5, 20, seed=4)
    for f in ("temporal", "spatial_x", "spatial_y", "perm", "keep", "sperm"):
        assert (getattr(a, f) == getattr(b, f)).all()
    assert (va == vb).all()
    assert canonical_keys(a) != canonical_keys(c)


def test_invalid_mix_covers_capacity_and_fanout(archs, layers):
    spec, dims = archs["simba_final"], layers["resnet50._outputs_input.5"]
    batch, valid, v, stats = sample_mappings(spec, dims, 50, 300, seed=0, return_stats=True)
    kinds = set(v.kind[~valid])
    assert kinds == {"capacity", "fanout"}
    assert len(set(v.failed_level[~valid])) >= 4
    assert stats.drawn >= len(batch)


def test_quota_unreachable(archs):
    spec = archs["gemmini_default"]
    ones = dict.fromkeys(DIMS, 1)  # a 1x1x...x1 layer has a single distinct mapping
    with pytest.raises(LooplabError, match="could not draw 2 valid"):
        sample_mappings(spec, ones, 2, 0, seed=0, max_draws=2000)
    batch, valid = sample_mappings(spec, ones, 2, 0, seed=0, max_draws=2000, strict=False)
    assert len(batch) == 1 and valid.all()


def test_sampled_mappings_roundtrip_yaml(archs, layers):
    spec, dims = archs["arch0"], layers["resnet50._outputs_input.2"]
    batch, _ = sample_mappings(spec, dims, 3, 3, seed=11)
    for m in batch.to_mappings():
        back = Mapping.from_yaml(m.to_yaml(), spec.storage_names)
        for a, b in zip(m.levels, back.levels, strict=True):
            assert (a.temporal, a.spatial_x, a.spatial_y, a.permutation) == \
                   (b.temporal, b.spatial_x, b.spatial_y, b.permutation)
            assert set(a.keep) | set(a.bypass) == set(TENSORS)


def test_canonical_keys_match_semantic_equality(archs):
    """The sampler's duplicate keys partition mappings exactly as mappers.canonical.semantic_key does."""
    from mappers.canonical import semantic_key
    from mappers.families import rules_for
    from mappers.sampler import FactorGenerator

    spec = archs["gemmini_4x4"]
    dims = dict(R=1, S=1, P=2, Q=1, C=4, K=6, N=1)  # small: many repeats among 3000 draws
    batch = FactorGenerator(spec, dims, rules_for(spec)).draw(np.random.default_rng(0), 3000, (-3.0, 4.0), (0.0, 0.5))
    fast = canonical_keys(batch)
    slow = [semantic_key(m) for m in batch.to_mappings()]
    pairs_fast = {(a, b) for a in range(0, 3000, 7) for b in range(0, 3000, 11) if fast[a] == fast[b]}
    pairs_slow = {(a, b) for a in range(0, 3000, 7) for b in range(0, 3000, 11) if slow[a] == slow[b]}
    assert pairs_fast == pairs_slow
    assert len(set(fast)) == len(set(slow)) < 3000


GENERIC = """
architecture:
  version: 0.4
  subtree:
  - name: System
    local:
    - {name: MainMemory, class: DRAM, attributes: {width: 64, datawidth: 8}}
    subtree:
    - name: Chip
      local:
      - {name: L2, class: SRAM, attributes: {depth: 256, width: 64, datawidth: 8}}
      subtree:
      - name: PE[0..7]
        local:
        - {name: L1, class: SRAM, attributes: {depth: 16, width: 8, datawidth: 8}}
        - {name: MAC, class: intmac, attributes: {datawidth: 8}}
"""


def test_fanouts_follow_timeloop_meshes(archs):
    from mappers.validity import fanouts

    for spec in archs.values():  # the reference archs give meshX: same as the ArchSpec fan-outs
        assert fanouts(spec) == [(lv.fanout_x, lv.fanout_y) for lv in spec.storage]
    spec = parse_arch(GENERIC)  # no meshX anywhere: Timeloop lays the 8 PEs out along X
    assert fanouts(spec) == [(1, 1), (8, 1), (1, 1)]


def test_generic_family(archs):
    spec = parse_arch(GENERIC)
    rules = rules_for(spec)
    assert rules.family == "generic" and [(s.level, s.axis) for s in rules.spatial] == [("L2", "X")]
    dims = dict(R=3, S=3, P=8, Q=8, C=4, K=8, N=1)
    batch, valid, v, _ = sample_mappings(spec, dims, 20, 20, seed=2, return_stats=True)
    assert valid.sum() == 20
    assert (batch.spatial_y == 1).all() and (batch.spatial_x[valid].prod(axis=(1, 2)) > 1).any()
    with pytest.raises(LooplabError, match="lacks the simba levels"):
        rules_for(spec, "simba")
