"""Reproducible design spaces: the 2,304-point Simba grid and seeded random samplers (DESIGN.md ranges)."""

from __future__ import annotations

import itertools

import numpy as np

from arch_gen.configs import Config, SimbaConfig, config_class

#: The Simba grid axes (our reconstruction of the first study's 2,304 configurations; sizes in KiB).
SIMBA_GRID_AXES: dict[str, tuple[float, ...]] = {
    "pes": (4, 16, 64),
    "macs": (256, 1024, 4096),
    "accum_kib_per_pe": (1.5, 3, 6, 12),
    "weight_kib_per_pe": (8, 16, 64, 128),
    "input_kib_per_pe": (2, 4, 16, 32),
    "global_kib": (16, 32, 128, 256),
}

#: Random-sampler choices: powers of two (1.5 * 2^k for accumulation) within the study's ranges.
SAMPLE_SPACE: dict[str, dict[str, tuple[float, ...]]] = {
    "simba": {
        "pes": (4, 8, 16, 32, 64),
        "macs": (256, 512, 1024, 2048, 4096),
        "accum_kib_per_pe": (1.5, 3, 6, 12),
        "weight_kib_per_pe": (8, 16, 32, 64, 128),
        "input_kib_per_pe": (2, 4, 8, 16, 32),
        "global_kib": (16, 32, 64, 128, 256),
    },
    "gemmini": {
        "pe_dim": (2, 4, 8, 16, 32, 64, 128),
        "sp_kib": tuple(2 ** k for k in range(12)),  # 1 .. 2048 KiB
        "acc_kib": tuple(2 ** k for k in range(12)),
    },
}


def simba_grid() -> list[SimbaConfig]:
    """The 2,304 Simba configs, in ``itertools.product`` order of :data:`SIMBA_GRID_AXES`, named
    ``simba_grid_0000`` ... ``simba_grid_2303``."""
    keys = list(SIMBA_GRID_AXES)
    return [SimbaConfig(**dict(zip(keys, vals, strict=True)), name=f"simba_grid_{i:04d}")
            for i, vals in enumerate(itertools.product(*SIMBA_GRID_AXES.values()))]


def sample_configs(family: str, n: int, seed: int) -> list[Config]:
    """``n`` random configs of ``family`` drawn uniformly per parameter from :data:`SAMPLE_SPACE` (seeded:
    the same ``(family, n, seed)`` gives the same list; a longer list extends a shorter one)."""
    cls = config_class(family)
    space = SAMPLE_SPACE[family]
    rng = np.random.default_rng(seed)
    out: list[Config] = []
    for i in range(int(n)):
        params = {k: space[k][int(rng.integers(len(space[k])))] for k in cls.PARAM_KEYS}
        out.append(cls(**params, name=f"{family}_rand_s{seed}_{i:05d}"))
    return out


__all__ = ["SIMBA_GRID_AXES", "SAMPLE_SPACE", "simba_grid", "sample_configs"]
