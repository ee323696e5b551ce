"""The named accelerators of the reference set: five Simba-like presets of the first study and the Gemmini
baseline (16x16, DOSA's default) with three array-size variants."""

from __future__ import annotations

from typing import Any

from arch_gen.configs import Config, config_from_params
from looplab.errors import LooplabError

#: name -> (family, params with the keys of reference/archs/<name>/params.json)
PRESET_PARAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "simba_final": ("simba", dict(pes=16, macs=1024, accum_kib_per_pe=3, weight_kib_per_pe=32,
                                  input_kib_per_pe=8, global_kib=64)),
    "simba_final_8x8": ("simba", dict(pes=64, macs=4096, accum_kib_per_pe=12, weight_kib_per_pe=128,
                                      input_kib_per_pe=32, global_kib=256)),
    "simba_large": ("simba", dict(pes=16, macs=1024, accum_kib_per_pe=6, weight_kib_per_pe=64,
                                  input_kib_per_pe=16, global_kib=128)),
    "arch0": ("simba", dict(pes=16, macs=1024, accum_kib_per_pe=6, weight_kib_per_pe=64,
                            input_kib_per_pe=16, global_kib=32)),
    "arch1": ("simba", dict(pes=16, macs=4096, accum_kib_per_pe=3, weight_kib_per_pe=16,
                            input_kib_per_pe=16, global_kib=64)),
    "gemmini_default": ("gemmini", dict(pe_dim=16, sp_kib=128, acc_kib=32)),
    "gemmini_4x4": ("gemmini", dict(pe_dim=4, sp_kib=32, acc_kib=8)),
    "gemmini_8x8": ("gemmini", dict(pe_dim=8, sp_kib=64, acc_kib=16)),
    "gemmini_32x32": ("gemmini", dict(pe_dim=32, sp_kib=256, acc_kib=64)),
}

#: The preset a family starts from when no preset is named.
DEFAULT_PRESET: dict[str, str] = {"simba": "simba_final", "gemmini": "gemmini_default"}


def list_presets(family: str | None = None) -> list[str]:
    """Preset names (optionally of one family), in catalog order."""
    return [n for n, (fam, _) in PRESET_PARAMS.items() if family is None or fam == family]


def get_preset(name: str) -> Config:
    """The config of a named preset; an unknown name raises naming it and listing the known ones."""
    try:
        family, params = PRESET_PARAMS[name]
    except KeyError:
        raise LooplabError(f"unknown preset {name!r} (known: {', '.join(PRESET_PARAMS)})", "preset") from None
    return config_from_params(family, params, name=name)


#: Which tensors each storage level keeps (the fixed bypass of the reference mappings), per family.
DEFAULT_KEEP: dict[str, dict[str, list[str]]] = {
    "simba": {"Registers": ["Weights"], "AccumulationBuffer": ["Outputs"], "WeightBuffer": ["Weights"],
              "InputBuffer": ["Inputs"], "GlobalBuffer": ["Inputs", "Outputs"],
              "DRAM": ["Weights", "Inputs", "Outputs"]},
    "gemmini": {"Registers": ["Weights"], "Accumulator": ["Outputs"], "Scratchpad": ["Weights", "Inputs"],
                "DRAM": ["Weights", "Inputs", "Outputs"]},
}
