"""Reading Timeloop's own inputs (issue 15): the official example designs, problems by role, mapping syntaxes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from looplab.analytical import evaluate_files
from looplab.analytical.api import read_problem_spec_file
from looplab.archspec import parse_arch
from looplab.errors import LooplabError
from looplab.interop.problem import problem_spec
from mappers.mapping import Mapping, parse_factors

OFF = Path(__file__).parent / "data" / "interop" / "official"
DESIGNS = ("eyeriss_like", "simba_like", "simple_weight_stationary", "simple_output_stationary",
           "tutorial_eyeriss_intmac", "tutorial_eyeriss_fpmac")
TRUTH = json.loads((OFF / "timeloop_model_results.json").read_text())


def _problem(design: str) -> Path:
    return OFF / ("problem_tutorial.yaml" if design.startswith("tutorial") else "problem_example.yaml")


@pytest.mark.parametrize("design", DESIGNS)
def test_official_designs_match_timeloop_model(design):
    """timeloop-mapper's mapping on each official design: same cycles, energy within the summary's rounding."""
    d = OFF / design
    r = evaluate_files(d / "arch.yaml", _problem(design), d / "mapping_mapper.yaml", d / "ERT.yaml")
    t = TRUTH[design]
    assert r.valid
    assert r.cycles == t["cycles"]
    assert round(r.energy_pJ / 1e6, 2) == pytest.approx(t["energy_uJ"], abs=0.011)
    assert abs(r.energy_pJ / 1e6 - t["energy_uJ"]) / t["energy_uJ"] < 1e-3


def test_whole_processed_input_as_arch_and_problem(tmp_path):
    """The front end's single parsed-processed-input.yaml given as both the architecture and the problem."""
    d = "tutorial_eyeriss_intmac"
    one = tmp_path / "parsed-processed-input.yaml"
    one.write_text("dumped_by_timeloop_front_end: true\n" + (OFF / d / "arch.yaml").read_text()
                   + (OFF / d / "constraints.yaml").read_text() + _problem(d).read_text()
                   + (OFF / "components_tutorial.yaml").read_text() + "mapping: []\n")
    r = evaluate_files(one, one, OFF / d / "mapping_mapper.yaml", OFF / d / "ERT.yaml")
    assert r.cycles == TRUTH[d]["cycles"]


def test_processed_arch_levels_dummy_and_meshes():
    a = parse_arch(OFF / "eyeriss_like" / "arch.yaml")
    assert a.compute.name == "mac" and a.compute.instances == 168
    assert a.storage_names == ["psum_spad", "weights_spad", "ifmap_spad", "inter_PE_spatial",
                               "inter_PE_column_spatial", "shared_glb", "DRAM"]
    lv = {x.name: x for x in a.storage}
    assert lv["inter_PE_column_spatial"].is_dummy and (lv["inter_PE_column_spatial"].fanout_x,
                                                       lv["inter_PE_column_spatial"].fanout_y) == (14, 1)
    assert (lv["inter_PE_spatial"].fanout_x, lv["inter_PE_spatial"].fanout_y) == (1, 12)
    assert lv["weights_spad"].capacity_words == 384 and lv["weights_spad"].block_size == 2
    s = parse_arch(OFF / "simple_weight_stationary" / "arch.yaml")  # class: storage, subclass: aladdin_register
    assert [x.name for x in s.storage][:3] == ["output_activation_reg", "input_activation_reg", "weight_reg"]


def test_problem_roles_front_end_names_and_derived_keys():
    spec = read_problem_spec_file(_problem("eyeriss_like"))
    assert spec.dim_names == {"C": "C", "M": "K", "R": "R", "S": "S", "N": "N", "P": "P", "Q": "Q"}
    assert spec.dims["K"] == 32 and spec.dims["Wstride"] == 2 and spec.dims["P"] == 112


def test_problem_roles_any_letters_and_gemm():
    shape = {"name": "conv", "dimensions": list("ABCDEFG"),
             "coefficients": [{"name": "sx", "default": 1}, {"name": "dx", "default": 1}],
             "data_spaces": [
                 {"name": "In", "projection": [[["G"]], [["E"]], [["A", "dx"], ["C", "sx"]], [["B"], ["D"]]]},
                 {"name": "Filt", "projection": [[["E"]], [["F"]], [["A"]], [["B"]]]},
                 {"name": "Out", "projection": [[["G"]], [["F"]], [["D"]], [["C"]]], "read_write": True}]}
    inst = {"A": 3, "B": 5, "C": 7, "D": 9, "E": 4, "F": 8, "G": 2, "sx": 2}
    spec = problem_spec({"shape": shape, "instance": inst})
    assert spec.dim_names == {"A": "R", "C": "P", "B": "S", "D": "Q", "E": "C", "F": "K", "G": "N"}
    assert spec.tensor_names == {"Filt": "Weights", "In": "Inputs", "Out": "Outputs"}
    assert spec.dims == {"R": 3, "S": 5, "P": 7, "Q": 9, "C": 4, "K": 8, "N": 2, "Wstride": 2, "Hstride": 1,
                         "Wdilation": 1, "Hdilation": 1}
    g = problem_spec({"shape": "gemm_ABZ", "instance": {"M": 64, "N": 32, "K": 16}})
    assert g.dim_names == {"M": "K", "K": "C", "N": "N"}
    assert g.tensor_names == {"A": "Weights", "B": "Inputs", "Z": "Outputs"}
    assert (g.dims["K"], g.dims["C"], g.dims["N"]) == (64, 16, 32)


@pytest.mark.parametrize(("prob", "msg"), [
    ({"shape": "gemm_ABZ", "instance": {"M": 4, "N": 4, "K": 4, "densities": {"A": 0.5}}}, "sparsity"),
    ({"shape": {"name": "grouped", "dimensions": ["G", "C", "M", "R", "P"], "data-spaces": [
        {"name": "Weights", "projection": [[["G"]], [["C"]], [["M"]], [["R"]]]},
        {"name": "Inputs", "projection": [[["G"]], [["C"]], [["R"], ["P"]]]},
        {"name": "Outputs", "projection": [[["G"]], [["M"]], [["P"]]], "read-write": True}]},
      "instance": {"G": 2, "C": 4, "M": 8, "R": 3, "P": 8}}, "grouped convolution"),
    ({"shape": "cnn_layer", "instance": {"R": 1, "S": 1, "P": 1, "Q": 1, "C": 1, "K": 1, "Kx": 2}},
     r"unknown dimension\(s\) \['Kx'\]"),
    ({"shape": "einsum9", "instance": {}}, "not one looplab knows"),
])
def test_unsupported_problems_are_refused_by_name(prob, msg):
    with pytest.raises(LooplabError, match=msg):
        problem_spec(prob)


def test_depthwise_and_single_group_shapes_as_pytorch2timeloop_writes_them():
    dw = {"shape": {"name": "CNN-Layer", "dimensions": ["C", "R", "S", "N", "P", "Q"],
                    "data-spaces": [
                        {"name": "Weights", "projection": [[["C"]], [["R"]], [["S"]]]},
                        {"name": "Inputs", "projection": [[["N"]], [["C"]], [["R", "Wdilation"], ["P", "Wstride"]],
                                                          [["S", "Hdilation"], ["Q", "Hstride"]]]},
                        {"name": "Outputs", "projection": [[["N"]], [["C"]], [["Q"]], [["P"]]], "read-write": True}],
                    "coefficients": [{"name": "Wstride", "default": 1}, {"name": "Hstride", "default": 1},
                                     {"name": "Wdilation", "default": 1}, {"name": "Hdilation", "default": 1}]},
          "instance": {"C": 32, "N": 1, "P": 14, "Q": 14, "R": 3, "S": 3, "Wstride": 2, "Hstride": 2}}
    spec = problem_spec(dw)
    assert spec.dims["depthwise"] == 1 and spec.dims["C"] == 32 and spec.dims["K"] == 1
    from looplab.analytical.nest import projection

    proj = projection({**{c: 1 for c in ("Wstride", "Hstride", "Wdilation", "Hdilation")}, "depthwise": 1})
    assert proj[2, :, 4].sum() == 1 and proj[2, :, 5].sum() == 0  # Outputs indexed by C, not K
    g1 = {"shape": {"dimensions": ["G", "C", "M", "P"], "data_spaces": [
        {"name": "Weights", "projection": [[["G"]], [["C"]], [["M"]]]},
        {"name": "Inputs", "projection": [[["G"]], [["C"]], [["P"]]]},
        {"name": "Outputs", "projection": [[["G"]], [["M"]], [["P"]]], "read_write": True}]},
          "instance": {"G": 1, "C": 4, "M": 8, "P": 5}}
    assert problem_spec(g1).dims == {**dict.fromkeys(("R", "S", "P", "Q"), 1), "C": 4, "K": 8, "N": 5,
                                     **dict.fromkeys(("Wstride", "Hstride", "Wdilation", "Hdilation"), 1)}


def test_mapping_syntaxes_and_problem_names():
    assert parse_factors("C1 M2 R3", dim_names={"C": "C", "M": "K", "R": "R"})["K"] == 2
    assert parse_factors("C=4,K=2") == parse_factors("C4 K2") == {**dict.fromkeys("RSPQCKN", 1), "C": 4, "K": 2}
    with pytest.raises(LooplabError, match="unknown dimension 'K'"):
        parse_factors("K2", dim_names={"M": "K"})
    names = ["Reg", "inter_PE_spatial", "DRAM"]
    m = Mapping.from_yaml({"mapping": [
        {"target": "Reg", "type": "datatype", "keep": ["A"], "bypass": ["B", "Z"]},
        {"target": "PE", "type": "spatial", "factors": "M2 N3", "permutation": "NM", "split": 1},
        {"target": "DRAM", "type": "temporal", "factors": "M=4 N=1 K=8", "permutation": "KMN"}]}, names,
        dim_names={"M": "K", "N": "N", "K": "C"}, tensor_names={"A": "Weights", "B": "Inputs", "Z": "Outputs"})
    sp = m.level("inter_PE_spatial")  # the container PE: the front end's spatial level for it
    assert sp.spatial_x["N"] == 3 and sp.spatial_y["K"] == 2
    assert m.level("DRAM").temporal["C"] == 8 and m.level("DRAM").permutation.startswith("CKN")
    assert m.level("Reg").keep == ["Weights"]
    assert [lm.level for lm in m.levels] == names


@pytest.mark.parametrize(("text", "msg"), [
    ("architecture:\n  version: 9.9\n  subtree: []\n", r"version 9\.9 is not one Timeloop reads \(0\.2, 0\.3, 0\.4\)"),
    ("arch:\n  foo: 1\n", "found 'arch:', Timeloop's legacy format"),
    ("architecture:\n  version: 0.4\n  nodes:\n  - !Container\n    name: sys\n", "timeloopfe"),
])
def test_architecture_formats_are_named(text, msg):
    with pytest.raises(LooplabError, match=msg):
        parse_arch(text)


def test_legacy_arch_format():
    a = parse_arch({"arch": {"storage": [
        {"name": "RF", "instances": 16, "meshX": 4, "entries": 12, "word-bits": 16},
        {"name": "GB", "instances": 1, "sizeKB": 2, "word-bits": 16, "block-size": 4},
        {"name": "DRAM", "technology": "DRAM", "instances": 1, "word-bits": 16}],
        "arithmetic": {"name": "MACs", "instances": 16, "meshX": 4, "word-bits": 16}}})
    assert a.storage_names == ["RF", "GB", "DRAM"]
    assert a.storage[0].capacity_words == 12 and a.storage[1].capacity_words == 1024
    assert a.storage[2].depth is None and (a.storage[1].fanout_x, a.storage[1].fanout_y) == (4, 4)
    from looplab.analytical import evaluate_batch
    from mappers.mapping import MappingBatch

    m = Mapping.from_yaml({"mapping": [{"target": "DRAM", "type": "temporal", "factors": "K2"}]}, a.storage_names)
    dims = {**dict.fromkeys(("R", "S", "P", "Q", "C", "N"), 1), "K": 2}
    with pytest.raises(LooplabError, match="legacy 'arch:' format takes its energies from Timeloop's built-in"):
        evaluate_batch(a, None, dims, MappingBatch.from_mappings([m], a.storage_names))


def test_sample_works_on_an_official_design():
    from mappers.sampler import sample_mappings

    a = parse_arch(OFF / "eyeriss_like" / "arch.yaml")
    spec = read_problem_spec_file(_problem("eyeriss_like"))
    batch, valid = sample_mappings(a, spec.dims, 3, 3, seed=1)
    assert valid.sum() == 3 and len(batch) == 6
    dummy = a.storage_names.index("inter_PE_spatial")
    assert not batch.keep[:, dummy].any()


@pytest.mark.timeloop
@pytest.mark.skipif(shutil.which("timeloop-model") is None, reason="timeloop-model not on PATH")
@pytest.mark.parametrize("design", ["eyeriss_like", "simba_like", "tutorial_eyeriss_intmac"])
def test_real_timeloop_model_agrees_on_official_design(design, tmp_path):
    """Re-run the pinned timeloop-model (in its own directory) and compare with the analytical model."""
    p = subprocess.run(["timeloop-model", str(OFF / design / "arch.yaml"), str(_problem(design)),
                        str(OFF / design / "mapping_mapper.yaml"), str(OFF / design / "ERT.yaml")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    stats = (tmp_path / "timeloop-model.stats.txt").read_text()
    assert p.returncode == 0
    r = evaluate_files(OFF / design / "arch.yaml", _problem(design), OFF / design / "mapping_mapper.yaml",
                       OFF / design / "ERT.yaml")
    assert f"Cycles: {r.cycles}\n" in stats
    assert f"Energy: {r.energy_pJ / 1e6:.2f} uJ" in stats


def test_timeloopfe_v4_container_spec_is_read_or_named(monkeypatch):
    """A front-end v0.4 spec (!Container/!Component) goes through pytimeloop.timeloopfe; without it, say so."""
    path = Path(__file__).parent / "data" / "interop" / "v4_container_arch.yaml"
    try:
        import pytimeloop.timeloopfe.v4  # noqa: F401
    except ImportError:
        pass
    else:
        a = parse_arch(path)
        assert [lv.name for lv in a.storage] == ["reg", "inter_PE_spatial", "buf", "DRAM"]
        assert a.storage[1].is_dummy and a.storage[1].fanout_x == 4 and a.compute.instances == 4
    monkeypatch.setitem(__import__("sys").modules, "pytimeloop.timeloopfe.v4", None)
    with pytest.raises(LooplabError, match=r"timeloopfe\) v0\.4 specification .*not importable"):
        parse_arch(path)


def test_sweep_over_an_architecture_file(tmp_path):
    """`accelerators.files` sweeps any Timeloop architecture file (with its ERT) like a family preset."""
    import pandas as pd

    from looplab.cli import main

    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""name: files
out: {tmp_path / 'out'}
accelerators:
  files: [{{arch: {OFF / 'eyeriss_like' / 'arch.yaml'}, ert: {OFF / 'eyeriss_like' / 'ERT.yaml'}}}]
workloads: [{{workload: resnet50, layers: [0]}}]
mappings: {{valid: 2, invalid: 2}}
execution: {{workers: 0, kernel: numpy}}
""")
    assert main(["sweep", str(spec)]) == 0
    df = pd.read_parquet(tmp_path / "out" / "parts" / "file-eyeriss_like_arch")
    assert len(df) == 4 and df["valid"].sum() == 2 and (df["arch"] == "eyeriss_like_arch").all()
    assert (df.loc[df["valid"], "energy_pJ"] > 0).all()


def test_no_ert_and_a_compound_class_says_what_to_give():
    d = OFF / "simple_weight_stationary"
    with pytest.raises(LooplabError, match=r"no estimator for class 'storage'.*subclass 'aladdin_register'.*--ert"):
        evaluate_files(d / "arch.yaml", _problem("simple_weight_stationary"), d / "mapping_mapper.yaml")
