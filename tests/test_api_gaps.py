"""Public API conveniences: one row of a MappingBatch, the best rows of a BatchResult, level_costs with ert=None."""

from __future__ import annotations

import time

import numpy as np
import pytest

from arch_gen import get_preset, render_arch
from looplab.analytical import evaluate_batch, level_costs
from looplab.archspec import parse_arch
from looplab.energy.estimator import estimate_ert
from looplab.errors import LooplabError
from looplab.workloads import get_layer
from mappers.mapping import MappingBatch
from mappers.sampler import sample_mappings


@pytest.fixture(scope="module")
def case():
    arch = parse_arch(render_arch(get_preset("simba_final")))
    dims = get_layer("resnet50", "layer1.0.conv2").dims
    batch, _ = sample_mappings(arch, dims, 40, 20, 3, "simba")
    return arch, dims, batch


def test_mapping_row_equals_to_mappings_row_and_is_cheap(case):
    arch, _, batch = case
    rows = batch.to_mappings()
    assert [batch.mapping(i) for i in range(len(batch))] == rows
    assert batch.mapping(-1) == rows[-1]
    with pytest.raises(IndexError):
        batch.mapping(len(batch))
    big = MappingBatch.concat([batch] * 2000)  # 120k rows
    t0 = time.perf_counter()
    one = big.mapping(len(big) - 1)
    assert time.perf_counter() - t0 < 0.05 and one == rows[-1]


def test_best_rows_by_edp_energy_delay(case):
    arch, dims, batch = case
    res = evaluate_batch(arch, None, dims, batch)
    valid = np.flatnonzero(res.valid)
    for metric, values in (("edp", res.energy_pJ * res.cycles), ("energy", res.energy_pJ),
                           ("delay", res.cycles.astype(float))):
        best = res.best(metric, k=3)
        assert list(best) == list(valid[np.argsort(values[valid], kind="stable")[:3]])
        assert res.valid[best].all()
    assert len(res.best("edp", k=10_000)) == len(valid)
    assert np.isnan(res.edp[~res.valid]).all()
    with pytest.raises(LooplabError, match="unknown metric 'power'"):
        res.best("power")


def test_level_costs_accepts_no_ert_like_evaluate_batch(case):
    arch, _, _ = case
    a, b = level_costs(arch, None), level_costs(arch, estimate_ert(arch))
    assert np.array_equal(a.e_read, b.e_read) and a.e_mac == b.e_mac


def test_evaluate_torch_documents_every_key_it_returns(case):
    pytest.importorskip("torch")
    from looplab.analytical.torch_model import evaluate_torch

    arch, dims, batch = case
    ok = np.flatnonzero(evaluate_batch(arch, None, dims, batch).valid)[:4]
    out = evaluate_torch(arch, level_costs(arch, None), dims, batch[ok])
    doc = evaluate_torch.__doc__
    assert out and all(f"``{k}``" in doc for k in out), sorted(out)
