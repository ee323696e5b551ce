"""Timeloop builds whose counting differs, as options of the analytical model.

``reference`` (the default) is the build of ``reference/`` (Timeloop 4cf6d4c): the model reproduces its cycles and
energy exactly. ``dosa`` is the build that labelled DOSA's published datasets (``timeloop_dataset_sample.csv``,
``firesim_training.csv``). Measured against those labels, it differs in one place that changes cycles: at the
innermost storage level that keeps Outputs (Gemmini's Accumulator), every first write of an output element, whose
read the reference build elides, also counts against the level's *write* bandwidth (``updates - reads`` more
write accesses). With a shared bandwidth that equals counting those reads; with separate read and write
bandwidths (DOSA's FireSim configuration) only the write side grows. Energy is not changed: the energy gap to DOSA's
labels comes from its different architecture file and technology (see docs/energy_and_correlate.md), not from
counting.
"""

from __future__ import annotations

import numpy as np

from looplab.archspec import TENSORS
from looplab.errors import LooplabError

TIMELOOP_BUILDS = ("reference", "dosa")
OUTPUTS = TENSORS.index("Outputs")  # data-space index


def check_build(build: str) -> str:
    if build not in TIMELOOP_BUILDS:
        raise LooplabError(f"unknown Timeloop build {build!r} (choose from {', '.join(TIMELOOP_BUILDS)})", "build")
    return build


def extra_write_words(build: str, st) -> np.ndarray | None:
    """Per row, level and data space, the write accesses ``build`` adds to bandwidth demand (None: nothing)."""
    if check_build(build) == "reference":
        return None
    kept = st.utilized_capacity[:, :, OUTPUTS] > 0  # [B, L]
    extra = np.zeros_like(st.updates)
    rows = np.flatnonzero(kept.any(axis=1))
    lvl = kept[rows].argmax(axis=1)  # innermost level keeping Outputs
    extra[rows, lvl, OUTPUTS] = st.updates[rows, lvl, OUTPUTS] - st.reads[rows, lvl, OUTPUTS]
    return extra
