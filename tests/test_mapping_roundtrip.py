"""Round trips of every reference mapping: YAML -> Mapping -> YAML, Mapping -> flat vector -> Mapping."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from looplab.archspec import parse_arch
from looplab.errors import LooplabError
from mappers.canonical import mapping_to_yaml, semantic_key, semantically_equal
from mappers.flat import column_names, from_vector, to_vector, width
from mappers.mapping import Mapping, MappingBatch


@pytest.fixture(scope="module")
def specs(ref_dir):
    return {p.parent.name: parse_arch(p) for p in (ref_dir / "archs").glob("*/arch.yaml")}


def test_every_reference_yaml_roundtrips(ref_cases, specs):
    n_bytes = 0
    for case in ref_cases:
        spec = specs[case["arch"]]
        m = Mapping.from_yaml(case["mapping_yaml"], spec.storage_names)
        # Semantically unchanged through the generic writer...
        again = Mapping.from_yaml(m.to_yaml(), spec.storage_names)
        assert semantically_equal(m, again), case["case_id"]
        # ... and byte-identical through the reference-layout writer.
        n_bytes += mapping_to_yaml(m, spec) == case["mapping_yaml"]
    assert n_bytes == len(ref_cases) == 5184


def test_flat_vectors_roundtrip(ref_cases, specs):
    groups = defaultdict(list)
    for case in ref_cases:
        groups[case["arch"]].append(Mapping.from_record(case["mapping"]))
    for arch, ms in groups.items():
        names = specs[arch].storage_names
        batch = MappingBatch.from_mappings(ms, names)
        x = to_vector(batch)
        assert x.shape == (len(ms), width(len(names))) == (len(ms), len(column_names(names)))
        back = from_vector(x, names)
        for f in ("temporal", "spatial_x", "spatial_y", "perm", "keep", "sperm"):
            assert np.array_equal(getattr(back, f), getattr(batch, f)), (arch, f)


def test_flat_vector_rounding_and_errors(specs):
    names = specs["gemmini_default"].storage_names
    x = np.zeros(width(len(names)))
    x[0] = np.log2(7) + 0.2  # Registers R: 2**(2.807+0.2) rounds to 8
    x[21:28] = [0.5, 0.1, 3, 2, 1, 9, 4]  # ranks of R..N: S, R, C, Q, P, N, K innermost first
    back = from_vector(x, names)
    assert back.temporal[0, 0, 0] == 8 and back.temporal.min() == 1
    assert "".join("RSPQCKN"[i] for i in back.perm[0, 0]) == "SRCQPNK"
    with pytest.raises(LooplabError, match="width"):
        from_vector(np.zeros(5), names)
    with pytest.raises(LooplabError, match="NaN"):
        from_vector(np.full(width(len(names)), np.nan), names)


def test_semantic_equality_ignores_trivial_loops(ref_cases, specs):
    case = ref_cases[0]
    m = Mapping.from_record(case["mapping"])
    other = Mapping.from_record(case["mapping"])
    lm = other.levels[-1]  # DRAM
    trivial = [d for d in lm.permutation if lm.temporal[d] == 1]
    real = [d for d in lm.permutation if lm.temporal[d] > 1]
    lm.permutation = "".join(real + trivial[::-1])  # same order of the real loops
    for lv in other.levels:
        if not lv.has_spatial:
            lv.spatial_permutation = "NKCQPSR"
    assert semantically_equal(m, other)
    lv = next(lv for lv in other.levels if sum(v > 1 for v in lv.temporal.values()) >= 2)
    big = [d for d in lv.permutation if lv.temporal[d] > 1]
    lv.permutation = "".join([big[1], big[0]] + [d for d in lv.permutation if d not in big[:2]])
    assert not semantically_equal(m, other)
    assert hash(semantic_key(m))
