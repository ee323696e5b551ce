"""The torch path: equal to the numpy model at integer points, and gradients flow to factors and sizes."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from looplab.analytical import analyse, costs
from looplab.analytical.model import level_costs
from looplab.analytical.torch_model import evaluate_torch
from looplab.archspec import parse_arch
from looplab.energy.ert import load_ert
from mappers.mapping import Mapping, MappingBatch


@pytest.fixture(scope="module")
def groups(ref_dir):
    out: dict = {}
    with gzip.open(ref_dir / "cases.jsonl.gz", "rt") as fh:
        for c in map(json.loads, fh):
            if c["valid"]:
                out.setdefault((c["arch"], c["layer"]), []).append(c)
    return out


def _load(ref_dir, groups, key):
    cases = groups[key]
    arch = parse_arch(ref_dir / "archs" / key[0] / "arch.yaml")
    ert = load_ert(ref_dir / "archs" / key[0] / "ERT.yaml")
    batch = MappingBatch.from_mappings([Mapping.from_record(c["mapping"]) for c in cases], arch.storage_names)
    return arch, ert, cases[0]["layer_dims"], batch


def test_torch_equals_numpy_at_integer_points(ref_dir, groups):
    keys = sorted(groups)[::9]
    n_exact_counts = n = 0
    for key in keys:
        arch, ert, dims, batch = _load(ref_dir, groups, key)
        lc = level_costs(arch, ert)
        st = analyse(arch, dims, batch)
        co = costs(st, lc)
        out = evaluate_torch(arch, lc, dims, batch)
        np.testing.assert_allclose(out["energy_pJ"].detach().numpy(), co.energy, rtol=1e-12)
        np.testing.assert_array_equal(out["cycles"].detach().numpy(), co.cycles)
        plain = ~out["linked"].numpy()
        for key_ in ("reads", "fills", "updates"):
            np.testing.assert_allclose(out[key_].detach().numpy()[plain], getattr(st, key_)[plain], atol=1e-6)
        n_exact_counts += int(plain.sum())
        n += len(batch)
    assert n_exact_counts >= 0.95 * n  # link-transfer mappings are the only ones taking the numpy value


def test_gradients_flow_to_factors_and_capacities(ref_dir, groups):
    key = next(k for k in sorted(groups) if k[0] == "simba_final")
    arch, ert, dims, batch = _load(ref_dir, groups, key)
    temporal = torch.tensor(batch.temporal, dtype=torch.float64, requires_grad=True)
    sx = torch.tensor(batch.spatial_x, dtype=torch.float64, requires_grad=True)
    sy = torch.tensor(batch.spatial_y, dtype=torch.float64, requires_grad=True)
    cap = torch.tensor([float(lv.capacity_words or 1e18) for lv in arch.storage], dtype=torch.float64,
                       requires_grad=True)
    out = evaluate_torch(arch, level_costs(arch, ert), dims, batch, temporal, sx, sy, capacity=cap * 0.001)
    loss = (out["energy_pJ"] * out["cycles"]).log().sum() + out["capacity_overflow"].sum()
    loss.backward()
    for g in (temporal.grad, sx.grad + sy.grad, cap.grad):
        assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_continuous_perturbation_moves_energy_smoothly(ref_dir, groups):
    """A small continuous change of one factor changes energy by about gradient x step."""
    key = next(k for k in sorted(groups) if k[0] == "gemmini_default")
    arch, ert, dims, batch = _load(ref_dir, groups, key)
    batch = batch[0]
    lc = level_costs(arch, ert)
    t = torch.tensor(batch.temporal, dtype=torch.float64, requires_grad=True)
    e0 = evaluate_torch(arch, lc, dims, batch, t)["energy_pJ"].sum()
    e0.backward()
    li, di = np.unravel_index(np.argmax(batch.temporal[0]), batch.temporal[0].shape)
    h = 1e-3
    t2 = t.detach().clone()
    t2[0, li, di] += h
    e1 = evaluate_torch(arch, lc, dims, batch, t2)["energy_pJ"].sum()
    de, g, e = (e1 - e0).item(), t.grad[0, li, di].item(), e0.item()
    assert de == pytest.approx(g * h, rel=0.05, abs=1e-3 * e)
