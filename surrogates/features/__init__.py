"""Feature sets of the surrogates, computed batched from (accelerator, layer, mappings).

``FEATURE_SETS[name](design) -> (column names, float32 [B, F])``; :func:`features` is the one entry point;
:func:`design_for` builds the rows of one (ArchSpec, layer dims, MappingBatch), :mod:`surrogates.data` those of
a dataset or a CASES file. Every column is documented in docs/surrogates.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from looplab.errors import LooplabError
from surrogates.features.context import ArchArrays, Design, arch_arrays, design_for, design_rows
from surrogates.features.cosa import cosa_features
from surrogates.features.raw import raw_features

FEATURE_SETS: dict[str, Callable[[Design], tuple[list[str], np.ndarray]]] = {"raw": raw_features,
                                                                            "cosa": cosa_features}


def features(design: Design, name: str) -> tuple[list[str], np.ndarray]:
    """``(column names, float32 [B, F])`` of feature set ``name`` (``raw`` | ``cosa``)."""
    try:
        fn = FEATURE_SETS[name]
    except KeyError:
        raise LooplabError(f"unknown feature set {name!r} (expected {' or '.join(FEATURE_SETS)})",
                           "features") from None
    return fn(design)


__all__ = ["FEATURE_SETS", "ArchArrays", "Design", "arch_arrays", "cosa_features", "design_for", "design_rows",
           "features", "raw_features"]
