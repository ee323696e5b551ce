"""Feature sets of the surrogates: shapes, exactness of the raw columns, and the cosa columns' meaning."""

from __future__ import annotations

import numpy as np
import pytest

from arch_gen import get_preset, sample_configs
from looplab.archspec import parse_arch
from looplab.workloads.catalog import load_workload
from mappers.sampler import sample_mappings
from mappers.validity import check_batch
from surrogates.features import arch_arrays, design_for, design_rows, features


def _arch(cfg):
    return parse_arch(cfg.render())


@pytest.fixture(scope="module")
def layers():
    return load_workload("resnet50")


@pytest.mark.parametrize("preset,n_raw", [("simba_final", 135), ("gemmini_default", 90)])
def test_raw_is_the_mapping_as_written(layers, preset, n_raw):
    arch = _arch(get_preset(preset))
    dims = dict(layers[3].dims)
    batch, _ = sample_mappings(arch, dims, 20, 20, seed=1)
    names, X = features(design_for(arch, dims, batch), "raw")
    assert X.shape == (40, n_raw) and len(set(names)) == n_raw
    lv = arch.storage_names[2]
    for di, d in enumerate("RSPQCKN"):
        np.testing.assert_array_equal(2 ** X[:, names.index(f"t_{lv}_{d}")], batch.temporal[:, 2, di])
        np.testing.assert_array_equal(2 ** X[:, names.index(f"s_{lv}_{d}")],
                                      batch.spatial_x[:, 2, di] * batch.spatial_y[:, 2, di])
    rank = X[:, [names.index(f"rank_{lv}_{d}") for d in "RSPQCKN"]]
    np.testing.assert_array_equal(np.sort(rank, axis=1), np.tile(np.arange(7), (40, 1)))


def _fit_columns(names):
    return [j for j, c in enumerate(names) if (c.startswith("util_") and c.count("_") == 1)
            or c.startswith("fanout_use_")]


@pytest.mark.parametrize("family,seed", [("simba", 3), ("gemmini", 4)])
def test_cosa_utilisations_decide_validity_like_timeloop(layers, family, seed):
    # Relative utilisations are the quantities Timeloop's checks compare with 1: every mapping is valid exactly
    # when none exceeds 0 (log2), on random accelerators and layers never seen while writing the features.
    rng = np.random.default_rng(seed)
    for cfg in sample_configs(family, 3, seed):
        arch = _arch(cfg)
        dims = dict(layers[int(rng.integers(len(layers)))].dims)
        batch, _ = sample_mappings(arch, dims, 60, 60, seed=seed)
        names, X = features(design_for(arch, dims, batch), "cosa")
        assert np.isfinite(X).all() and 20 <= X.shape[1] <= 40
        fits = (X[:, _fit_columns(names)] <= 1e-6).all(axis=1)
        np.testing.assert_array_equal(fits, check_batch(arch, dims, batch).valid)


def test_cosa_columns_track_what_they_name(layers):
    arch = _arch(get_preset("simba_final"))
    dims = dict(layers[10].dims)
    batch, _ = sample_mappings(arch, dims, 50, 0, seed=2)
    names, X = features(design_for(arch, dims, batch), "cosa")
    macs = np.prod([dims[d] for d in "RSPQCKN"])
    np.testing.assert_allclose(2 ** X[:, names.index("layer_macs")], macs, rtol=1e-6)
    gb = arch.storage_names.index("GlobalBuffer")
    np.testing.assert_allclose(2 ** X[:, names.index("spatial_GlobalBuffer")],
                               (batch.spatial_x[:, gb] * batch.spatial_y[:, gb]).prod(axis=1), rtol=1e-6)
    # DRAM traffic can never be below one read of each weight (every weight is used) and grows when a weight
    # tile is refetched: it is at least the weight count
    weights = dims["R"] * dims["S"] * dims["C"] * dims["K"]
    assert (2 ** X[:, names.index("traffic_DRAM")] >= weights).all()
    assert "cycles" not in " ".join(names) and "energy" not in " ".join(names)


def test_rows_of_mixed_accelerators_match_one_at_a_time(layers):
    cfgs = sample_configs("simba", 2, 7)
    archs = [_arch(c) for c in cfgs]
    dims = dict(layers[5].dims)
    parts, singles = [], []
    for a in archs:
        b, _ = sample_mappings(a, dims, 10, 10, seed=0)
        parts.append(b)
        singles.append(features(design_for(a, dims, b), "cosa")[1])
    from mappers.mapping import MappingBatch

    both = MappingBatch.concat(parts)
    idx = np.repeat([0, 1], [len(parts[0]), len(parts[1])])
    size = np.tile([dims[d] for d in "RSPQCKN"], (len(both), 1))
    conv = np.ones((len(both), 4), np.int64) * np.array([dims["Wstride"], dims["Hstride"], 1, 1])
    aas = [arch_arrays(a) for a in archs]
    d = design_rows(aas[0], size, conv, both, arch_index=idx, archs=aas)
    np.testing.assert_array_equal(features(d, "cosa")[1], np.concatenate(singles))
