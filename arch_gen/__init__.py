"""Accelerator families (Simba-like, Gemmini-like): configs, presets, grids, samplers, rendering.

>>> from arch_gen import get_preset, render_arch
>>> text = render_arch(get_preset("simba_final"))     # Timeloop architecture YAML
"""

from __future__ import annotations

from arch_gen.configs import (
    FAMILIES,
    Config,
    GemminiConfig,
    SimbaConfig,
    config_class,
    config_from_params,
)
from arch_gen.generators import SAMPLE_SPACE, SIMBA_GRID_AXES, sample_configs, simba_grid
from arch_gen.presets import DEFAULT_KEEP, DEFAULT_PRESET, PRESET_PARAMS, get_preset, list_presets
from arch_gen.render import render_arch, write_arch

#: One line per family for ``looplab list families``.
FAMILY_INFO: dict[str, str] = {
    "simba": "Simba-like: DRAM > GlobalBuffer > PE[pes]: InputBuffer > lanes: WeightBuffer, AccumulationBuffer "
             "> vector: Registers > MACC; params " + ", ".join(SimbaConfig.PARAM_KEYS),
    "gemmini": "Gemmini-like (DOSA): DRAM > Scratchpad > PECols[pe_dim]: Accumulator > PERows[pe_dim]: "
               "Registers > MACC; params " + ", ".join(GemminiConfig.PARAM_KEYS),
}


def list_families() -> list[str]:
    return list(FAMILIES)


__all__ = [
    "FAMILIES", "FAMILY_INFO", "Config", "SimbaConfig", "GemminiConfig", "config_class", "config_from_params",
    "get_preset", "list_presets", "list_families", "PRESET_PARAMS", "DEFAULT_PRESET", "DEFAULT_KEEP", "simba_grid",
    "sample_configs", "SIMBA_GRID_AXES", "SAMPLE_SPACE", "render_arch", "write_arch",
]
