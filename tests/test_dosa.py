"""DOSA mapping strings and dataset CSVs (samples copied from reference/dosa into tests/data/dosa)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looplab.archspec import parse_arch
from looplab.errors import LooplabError
from mappers.dosa import dosa_arch_params, format_dosa_mapping, parse_dosa_mapping, read_dosa_csv
from mappers.validity import check

DOSA = Path(__file__).parent / "data" / "dosa"
CSVS = sorted(DOSA.glob("*.csv"))


def test_parse_example():
    m = parse_dosa_mapping("L3[WIO] P28 R7 Q56 K8 - L2[WI] N1 K4X - L1[O] K2 S7 Q2 P2 C3X - L0[W] P2")
    assert [lm.level for lm in m.levels] == ["Registers", "Accumulator", "Scratchpad", "DRAM"]
    dram, sp, acc, reg = m.level("DRAM"), m.level("Scratchpad"), m.level("Accumulator"), m.level("Registers")
    assert dram.permutation.startswith("KQRP")  # innermost first: K8 is the innermost DRAM loop
    assert (dram.temporal["P"], dram.temporal["R"], dram.temporal["Q"], dram.temporal["K"]) == (28, 7, 56, 8)
    assert sp.spatial_x["K"] == 4 and sp.keep == ["Weights", "Inputs"] and sp.bypass == ["Outputs"]
    assert all(v == 1 for v in sp.temporal.values())
    assert acc.spatial_y["C"] == 3 and acc.spatial_x["C"] == 1 and acc.permutation.startswith("PQSK")
    assert reg.temporal["P"] == 2 and reg.keep == ["Weights"]
    assert m.dim_products() == {"R": 7, "S": 7, "P": 112, "Q": 112, "C": 3, "K": 64, "N": 1}


@pytest.mark.parametrize("path", CSVS, ids=[p.name for p in CSVS])
def test_csv_rows_roundtrip(path):
    rows = read_dosa_csv(path)
    assert len(rows) >= 30
    for r in rows:
        assert format_dosa_mapping(r.mapping) == r.mapping_text, r.line
        assert parse_dosa_mapping(format_dosa_mapping(r.mapping)) == r.mapping
        assert r.mapping.dim_products() == {d: r.dims[d] for d in "RSPQCKN"}
        assert {"cycle", "energy"} <= set(r.targets)


def test_arch_params_invert_the_reference_gemmini_formulas(ref_dir):
    """A DOSA row built from a reference Gemmini arch.yaml gives back that arch's params.json."""
    for pj in sorted((ref_dir / "archs").glob("gemmini*/params.json")):
        params = json.loads(pj.read_text())["params"]
        spec = parse_arch(pj.parent / "arch.yaml")
        sp, acc = spec.level("Scratchpad"), spec.level("Accumulator")
        row = {"arch.name": "gemmini", "arch.pe": str(spec.compute.instances), "arch.meshX": str(acc.mesh_x),
               "arch.mem1_depth": str(acc.depth), "arch.mem1_width": str(acc.width),
               "arch.mem1_word-bits": str(acc.datawidth), "arch.mem1_instances": str(acc.instances),
               "arch.mem2_depth": str(sp.depth), "arch.mem2_width": str(sp.width),
               "arch.mem2_word-bits": str(sp.datawidth), "arch.mem2_instances": str(sp.instances),
               "arch.mem2_entries": str(sp.depth * sp.width // sp.datawidth)}
        assert dosa_arch_params(row) == params, pj.parent.name


@pytest.mark.parametrize("path", CSVS, ids=[p.name for p in CSVS])
def test_rows_render_to_dosa_hardware_and_are_valid(path):
    """looplab's Gemmini template at the row's params has DOSA's memory shapes, and DOSA's (evaluated) mappings
    pass looplab's Timeloop-rule validity check."""
    arch_gen = pytest.importorskip("arch_gen")
    for r in read_dosa_csv(path):
        spec = parse_arch(arch_gen.render_arch(arch_gen.config_from_params("gemmini", r.arch_params)))
        sp, acc = spec.level("Scratchpad"), spec.level("Accumulator")
        e = {k: int(float(v)) for k, v in r.extra.items() if k.startswith("arch.mem")}
        assert (sp.depth, sp.width) == (e["arch.mem2_depth"], e["arch.mem2_width"])
        assert (acc.depth, acc.width, acc.instances) == (e["arch.mem1_depth"], e["arch.mem1_width"],
                                                        e["arch.mem1_instances"])
        assert check(spec, r.dims, r.mapping)[0], r.line


def test_bad_strings():
    with pytest.raises(LooplabError, match="bad loop 'K'"):
        parse_dosa_mapping("L3[WIO] K - L0[W] P2")
    with pytest.raises(LooplabError, match="L7 does not exist"):
        parse_dosa_mapping("L7[WIO] K2")
    with pytest.raises(LooplabError, match="unknown tensor letter"):
        parse_dosa_mapping("L3[WXO] K2")
    with pytest.raises(LooplabError, match="appears twice"):
        parse_dosa_mapping("L3[WIO] K2 K4")


def test_bad_csv(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(LooplabError, match="not a DOSA dataset CSV"):
        read_dosa_csv(p)
    src = CSVS[0].read_text().splitlines()
    header = src[0].split(",")
    row = src[1].split(",")
    row[header.index("prob.K")] = "63"  # factors no longer multiply to K
    p.write_text("\n".join([src[0], ",".join(row)]) + "\n")
    with pytest.raises(LooplabError, match="line 2: mapping.mapping.*K: factors give"):
        read_dosa_csv(p)


def test_bandwidth_columns_of_both_dosa_formats(tmp_path):
    """DOSA's timeloop dataset states a shared bandwidth per memory, its FireSim training set read and write ones."""
    sample = read_dosa_csv(DOSA / "timeloop_dataset_sample.csv")
    for r in sample:
        pe = r.arch_params["pe_dim"]
        assert r.bandwidths == {"Accumulator": {"shared_bandwidth": 2.0}, "Scratchpad": {"shared_bandwidth": 2.0 * pe}}
    firesim = read_dosa_csv(DOSA / "firesim_training_head30.csv")
    assert {str(r.bandwidths) for r in firesim} == {str({
        "Accumulator": {"read_bandwidth": 1.0, "write_bandwidth": 1.0},
        "Scratchpad": {"read_bandwidth": 16.0, "write_bandwidth": 16.0}})}
    src = (DOSA / "firesim_training_head30.csv").read_text().splitlines()
    header, row = src[0].split(","), src[1].split(",")
    row[header.index("arch.mem1_read_bandwidth")] = "0"
    p = tmp_path / "bad.csv"
    p.write_text("\n".join([src[0], ",".join(row)]) + "\n")
    with pytest.raises(LooplabError, match="line 2.*arch.mem1_read_bandwidth.*> 0"):
        read_dosa_csv(p)


def test_with_bandwidths_replaces_level_bandwidths():
    from arch_gen import get_preset, render_arch
    from looplab.archspec import with_bandwidths

    arch = parse_arch(render_arch(get_preset("gemmini_default")))
    acc = arch.level("Accumulator")
    assert acc.shared_bandwidth == 2 and acc.read_bandwidth is None
    new = with_bandwidths(arch, {"Accumulator": {"read_bandwidth": 1.0, "write_bandwidth": 1.0}})
    a2 = new.level("Accumulator")
    assert (a2.shared_bandwidth, a2.read_bandwidth, a2.write_bandwidth) == (None, 1.0, 1.0)
    assert new.level("Scratchpad") == arch.level("Scratchpad") and arch.level("Accumulator") == acc
    assert with_bandwidths(arch, {"Scratchpad": {"shared_bandwidth": 4.0}}).level("Scratchpad").shared_bandwidth == 4
    with pytest.raises(LooplabError, match="no storage level 'Acc'"):
        with_bandwidths(arch, {"Acc": {"read_bandwidth": 1.0}})
    with pytest.raises(LooplabError, match="unknown bandwidth field"):
        with_bandwidths(arch, {"Accumulator": {"bandwidth": 1.0}})
