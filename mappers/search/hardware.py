"""The hardware side of co-search: a family's design space, inferring a design from mappings, and a cache of
parsed architectures with their energy tables.

Gemmini (DOSA's family, ``arch_gen.GemminiConfig``): ``pe_dim`` and the scratchpad and accumulator sizes take the
family's sampler values (:data:`arch_gen.SAMPLE_SPACE`: powers of two, PE 2-128, 1-2048 KiB), which are also the
sizes at which the ERT estimator reproduces Accelergy. A design *inferred* from mappings is the smallest one of
those values that holds them: the PE array covers the largest spatial factor (K across columns, C across rows),
the scratchpad the largest Weights+Inputs tile, the accumulator the largest Outputs tile per column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arch_gen import SAMPLE_SPACE, GemminiConfig, render_arch
from looplab.analytical.model import LevelCosts, level_costs
from looplab.archspec import ArchSpec, parse_arch
from looplab.errors import LooplabError

FAMILIES = ("gemmini",)


def _pow2_up(x: float, lo: float, hi: float) -> float:
    return float(min(hi, max(lo, 2.0 ** math.ceil(math.log2(max(x, 1e-12)) - 1e-9))))


@dataclass(frozen=True)
class GemminiSpace:
    """Gemmini designs: three parameters, each a power of two within the family's sampler ranges."""

    family: str = "gemmini"
    params: tuple[str, ...] = ("pe_dim", "sp_kib", "acc_kib")
    choices: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(SAMPLE_SPACE["gemmini"]))

    @property
    def lo(self) -> np.ndarray:
        return np.array([math.log2(min(self.choices[p])) for p in self.params])

    @property
    def hi(self) -> np.ndarray:
        return np.array([math.log2(max(self.choices[p])) for p in self.params])

    def random(self, rng: np.random.Generator, n: int) -> list[GemminiConfig]:
        """``n`` designs, each parameter uniform over its values."""
        return [self.from_log2(rng.integers(self.lo, self.hi + 1)) for _ in range(n)]

    def to_log2(self, cfg: GemminiConfig) -> np.ndarray:
        return np.log2([float(getattr(cfg, p)) for p in self.params])

    def from_log2(self, x: np.ndarray) -> GemminiConfig:
        """The design at (rounded, clipped) log2 parameters."""
        v = np.clip(np.rint(np.asarray(x, np.float64)), self.lo, self.hi)
        pe, sp, acc = (int(2 ** k) for k in v)
        return GemminiConfig(pe, sp, acc)

    def infer(self, spatial: float, sp_words: float, acc_words: float) -> GemminiConfig:
        """Smallest design holding a spatial factor ``spatial`` (per side), ``sp_words`` scratchpad words and
        ``acc_words`` accumulator words per column; values beyond the range are clipped to the largest."""
        pe = int(_pow2_up(spatial, min(self.choices["pe_dim"]), max(self.choices["pe_dim"])))
        sp = _pow2_up(sp_words / 1024.0, min(self.choices["sp_kib"]), max(self.choices["sp_kib"]))
        acc = _pow2_up(acc_words * pe / 256.0, min(self.choices["acc_kib"]), max(self.choices["acc_kib"]))
        return GemminiConfig(pe, int(sp), int(acc))

    def limits(self) -> dict[str, float]:
        """Largest spatial factor per side, scratchpad words, accumulator words per column (at the largest PE
        array the accumulator holds the fewest words per column)."""
        pe = max(self.choices["pe_dim"])
        return {"spatial": float(pe), "sp_words": max(self.choices["sp_kib"]) * 1024.0,
                "acc_words": max(self.choices["acc_kib"]) * 256.0 / pe}

    def describe(self, cfg: GemminiConfig) -> dict[str, Any]:
        return {p: getattr(cfg, p) for p in self.params}


def space_for(family: str) -> GemminiSpace:
    if family not in FAMILIES:
        raise LooplabError(f"co-search supports the family {', '.join(FAMILIES)}, not {family!r}", "family")
    return GemminiSpace()


class ArchCache:
    """Parsed architecture, ERT and :class:`LevelCosts` per design; ERT from the estimator (``energy=
    "estimator"``) or from Accelergy through looplab's on-disk cache (``"accelergy"``)."""

    def __init__(self, energy: str = "estimator", workdir: Any = None):
        if energy not in ("estimator", "accelergy"):
            raise LooplabError(f"unknown energy source {energy!r} (estimator, accelergy)", "energy")
        self.energy, self.workdir = energy, workdir
        self._cache: dict[Any, tuple[ArchSpec, Any, LevelCosts]] = {}
        self._paths: dict[Any, tuple[Any, Any]] = {}

    def get(self, cfg: Any) -> tuple[ArchSpec, Any, LevelCosts]:
        key = (cfg.family, *cfg.to_params().values())
        if key not in self._cache:
            text = render_arch(cfg)
            arch = parse_arch(text, source=f"{cfg.family} {cfg.to_params()}")
            ert = self._ert(key, text, arch)
            self._cache[key] = (arch, ert, level_costs(arch, ert))
        return self._cache[key]

    def write_tables(self, cfg: Any, out: Any) -> None:
        """``out/ERT.yaml`` and ``out/ART.yaml`` of the design (the tables every number was computed with)."""
        import shutil
        from pathlib import Path

        _, ert, _ = self.get(cfg)
        key = (cfg.family, *cfg.to_params().values())
        if key in self._paths:
            for src, name in zip(self._paths[key], ("ERT.yaml", "ART.yaml"), strict=True):
                shutil.copyfile(src, Path(out) / name)
        else:
            ert.write(out)

    def _ert(self, key: Any, text: str, arch: ArchSpec) -> Any:
        if self.energy == "estimator":
            from looplab.energy.estimator import estimate_ert

            return estimate_ert(arch)
        import tempfile
        from pathlib import Path

        from looplab.energy.ert import load_ert
        from looplab.timeloop.accelergy import ensure_ert

        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            path = Path(tmp) / "arch.yaml"
            path.write_text(text)
            ert_path, art_path = ensure_ert(path)
            self._paths[key] = (ert_path, art_path)
            return load_ert(ert_path)
