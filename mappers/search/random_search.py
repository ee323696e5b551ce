"""Random search as DOSA's baseline: random hardware from the family's ranges; on each design, ``mappings``
random valid mappings per layer (the project's sampler) and the best per layer by EDP.

One design costs ``mappings`` evaluations (network points); ``budget // mappings`` designs are drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from looplab.analytical import evaluate_batch
from mappers.sampler import sample_mappings
from mappers.search.budget import Tracker
from mappers.search.network import Design, Network

SETTINGS = {"mappings_per_layer": 1000}


def best_random_mappings(net: Network, cfg: Any, archs: Any, k: int, seed: int
                         ) -> tuple[Design | None, list[tuple[int, float]]]:
    """The best of ``k`` random valid mappings per layer on ``cfg`` (per-layer EDP), and the network EDP after the
    first ``j`` of them, ``j = 1..k`` (None when a layer has no valid mapping)."""
    arch, ert, _ = archs.get(cfg)
    rng = np.random.default_rng(seed)
    best_rows, cyc_curves, en_curves = [], [], []
    for lay in net.layers:
        batch, _ = sample_mappings(arch, lay.dims, k, 0, int(rng.integers(2**31)), strict=False)
        if len(batch) == 0:
            return None, []
        r = evaluate_batch(arch, ert, lay.dims, batch)
        score = np.where(r.valid, np.log(r.cycles.astype(np.float64)) + np.log(r.energy_pJ), np.inf)
        score = np.concatenate([score, np.full(k - len(score), np.inf)])  # fewer distinct valid mappings exist
        run = np.minimum.accumulate(score)
        idx = np.maximum.accumulate(np.where(score == run, np.arange(k), 0))
        best = int(idx[-1])
        best_rows.append(batch[best])
        cyc = np.where(np.isfinite(run), r.cycles[np.minimum(idx, len(batch) - 1)], np.nan)
        en = np.where(np.isfinite(run), r.energy_pJ[np.minimum(idx, len(batch) - 1)], np.nan)
        cyc_curves.append(cyc)
        en_curves.append(en)
    cyc, en = np.array(cyc_curves), np.array(en_curves)  # [N, k]
    edp = (cyc * net.counts[:, None]).sum(0) * (en * net.counts[:, None]).sum(0)
    step = max(1, k // 50)
    curve = [(j + 1, float(edp[j])) for j in range(step - 1, k, step) if np.isfinite(edp[j])]
    design = Design(cfg, best_rows, cyc[:, -1], en[:, -1], net.counts)
    return design, curve


def run(net: Network, space: Any, archs: Any, tracker: Tracker, seed: int,
        mappings_per_layer: int = SETTINGS["mappings_per_layer"]) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    k = max(1, min(mappings_per_layer, tracker.budget))
    while tracker.remaining >= k:
        cfg = space.random(rng, 1)[0]
        design, curve = best_random_mappings(net, cfg, archs, k, int(rng.integers(2**31)))
        tracker.spend(k, design, curve)
    return {"mappings_per_layer": k, "designs": tracker.evaluations // k}
