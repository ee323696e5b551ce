"""The torch path: gradients flow, and at integer points it matches the exact numpy model where the
numpy model has no sliding-window savings (weights and outputs everywhere; inputs counts compared only
where no partial tile overlap occurs)."""

from __future__ import annotations

import numpy as np
import torch

from looplab.analytical import analyse
from looplab.analytical.model import layer_dims, level_costs
from looplab.analytical.torch_model import evaluate_torch
from looplab.archspec import parse_arch
from looplab.energy.ert import load_ert
from mappers.mapping import Mapping, MappingBatch


def _group(ref_cases, ref_dir, arch_name):
    cases = [c for c in ref_cases if c["arch"] == arch_name and c["valid"]]
    layer = cases[0]["layer"]
    cases = [c for c in cases if c["layer"] == layer]
    arch = parse_arch(ref_dir / "archs" / arch_name / "arch.yaml")
    ert = load_ert(ref_dir / "archs" / arch_name / "ERT.yaml")
    batch = MappingBatch.from_mappings([Mapping.from_record(c["mapping"]) for c in cases], arch.storage_names)
    return arch, ert, cases[0]["layer_dims"], batch


def test_torch_matches_numpy_counts_at_integer_points(ref_cases, ref_dir):
    for arch_name in ("simba_final", "gemmini_default"):
        arch, ert, dims, batch = _group(ref_cases, ref_dir, arch_name)
        st = analyse(arch, dims, batch)
        _, conv = layer_dims(dims)
        out = evaluate_torch(torch.tensor(batch.temporal, dtype=torch.float64),
                             torch.tensor(batch.spatial_x * batch.spatial_y, dtype=torch.float64),
                             batch.perm.astype(np.int64), batch.keep, conv, level_costs(arch, ert))
        for key in ("reads", "fills", "updates"):
            got = out[key].detach().numpy()
            want = getattr(st, key)
            np.testing.assert_allclose(got[:, :, [0, 2]], want[:, :, [0, 2]], rtol=1e-9)
            # inputs: the torch path never counts sliding-window savings, so it is an upper bound
            assert (got[:, :, 1] >= want[:, :, 1] - 1e-6).all()


def test_gradients_flow_to_factors_and_capacities(ref_cases, ref_dir):
    arch, ert, dims, batch = _group(ref_cases, ref_dir, "simba_final")
    _, conv = layer_dims(dims)
    temporal = torch.tensor(batch.temporal, dtype=torch.float64, requires_grad=True)
    spatial = torch.tensor(batch.spatial_x * batch.spatial_y, dtype=torch.float64, requires_grad=True)
    cap = torch.tensor([float(lv.capacity_words or 1e18) for lv in arch.storage], dtype=torch.float64,
                       requires_grad=True)
    out = evaluate_torch(temporal, spatial, batch.perm.astype(np.int64), batch.keep, conv, level_costs(arch, ert),
                         capacity=cap * 0.001)
    loss = (out["energy_pJ"] * out["cycles"]).log().sum() + out["capacity_overflow"].sum()
    loss.backward()
    assert torch.isfinite(temporal.grad).all() and temporal.grad.abs().sum() > 0
    assert torch.isfinite(spatial.grad).all() and spatial.grad.abs().sum() > 0
    assert torch.isfinite(cap.grad).all() and cap.grad.abs().sum() > 0
