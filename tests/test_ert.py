"""ERT/ART loading against the recorded Accelergy tables."""

from __future__ import annotations

import pytest

from looplab.archspec import parse_arch
from looplab.energy.ert import load_art, load_ert
from looplab.errors import LooplabError


def test_every_arch_component_has_an_ert_table(ref_dir):
    for arch_dir in sorted((ref_dir / "archs").iterdir()):
        ert = load_ert(arch_dir / "ERT.yaml")
        art = load_art(arch_dir / "ART.yaml")
        arch = parse_arch(arch_dir / "arch.yaml")
        for lvl in (arch.compute, *arch.storage):
            assert ert.has(lvl.path), (arch_dir.name, lvl.path)
            assert lvl.path in art


def test_energy_picks_data_and_address_delta_entry(ref_dir):
    ert = load_ert(ref_dir / "archs" / "gemmini_default" / "ERT.yaml")
    acc = "System.Chip.PECols[0..15].Accumulator"
    # the four read entries are 0, data-only, address-only and both; Timeloop charges "both"
    assert ert.energy(acc, "read", 0, 0) == 0.0
    both = ert.energy(acc, "read")
    assert both == ert.energy(acc, "read", 1, 1)
    assert both == pytest.approx(ert.energy(acc, "read", 1, 0) + ert.energy(acc, "read", 0, 1), rel=1e-5)
    assert ert.energy(acc, "update") == ert.energy(acc, "write")
    # DRAM entries carry no delta arguments and match any
    assert ert.energy("System.DRAM", "read") == ert.energy("System.DRAM", "read", 0, 0) > 0
    # bare names resolve when unique
    assert ert.energy("Accumulator", "write") == ert.energy(acc, "write")
    assert ert.energy("MACC", "mac_random") > 0


def test_bad_lookups_raise_clear_errors(ref_dir, tmp_path):
    ert = load_ert(ref_dir / "archs" / "simba_final" / "ERT.yaml")
    with pytest.raises(LooplabError, match="no ERT table"):
        ert.energy("NoSuchBuffer", "read")
    with pytest.raises(LooplabError, match="no action"):
        ert.energy("GlobalBuffer", "fly")
    bad = tmp_path / "ERT.yaml"
    bad.write_text("tables: []\n")
    with pytest.raises(LooplabError, match="ERT"):
        load_ert(bad)
    with pytest.raises(LooplabError, match="not found"):
        load_ert(tmp_path / "missing.yaml")
