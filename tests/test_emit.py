"""``looplab list`` / ``looplab emit`` in-process, against the reference architectures, problems and mappings."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import yaml

from looplab.archspec import parse_arch
from looplab.cli import main
from mappers.mapping import Mapping, dump_mapping_yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
A_MAPPING = (Path(__file__).parent / "data" / "reference" / "full" /
             "00_simba_final_8x8_resnet50._outputs_input.76_valid" / "mapping.yaml")


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_emit_arch_with_params_json_values_equals_reference(ref_dir, tmp_path, capsys):
    for pj in sorted((ref_dir / "archs").glob("*/params.json")):
        rec = json.loads(pj.read_text())
        sets = [f"{k}={v}" for k, v in rec["params"].items()]
        out = tmp_path / f"{rec['name']}.yaml"
        rc, _, err = _run(capsys, "emit", "arch", "--family", rec["family"], "--set", *sets, "-o", str(out))
        assert rc == 0, err
        ref = yaml.safe_load((pj.parent / "arch.yaml").read_text())
        assert yaml.safe_load(out.read_text()) == ref, rec["name"]
        # the preset by name gives the same tree, on stdout
        rc, text, _ = _run(capsys, "emit", "arch", "--preset", rec["name"])
        assert rc == 0 and yaml.safe_load(text) == ref


def test_emit_arch_preset_plus_override(capsys):
    rc, text, _ = _run(capsys, "emit", "arch", "--preset", "gemmini_default", "--set", "pe_dim=8")
    assert rc == 0
    spec = parse_arch(text)
    assert spec.compute.instances == 64 and spec.level("Scratchpad").capacity_words == 128 * 1024


@pytest.mark.parametrize("argv,match", [
    (["emit", "arch", "--preset", "simba_huge"], "unknown preset 'simba_huge'"),
    (["emit", "arch", "--family", "simba", "--set", "macs=1000"], "macs=1000 must be a multiple of pes=16"),
    (["emit", "arch", "--family", "simba", "--set", "macs=192"], "macs/pes = 12 must be a power of two"),
    (["emit", "arch", "--family", "gemmini", "--set", "pes=4"], r"unknown parameter\(s\) \['pes'\]"),
    (["emit", "arch", "--family", "gemmini", "--set", "pe_dim=big"], "--set pe_dim: value 'big' is not a number"),
    (["emit", "arch", "--family", "gemmini", "--preset", "arch0"], "preset 'arch0' is a simba accelerator"),
    (["emit", "problem", "--workload", "resnet51"], "unknown workload 'resnet51'"),
    (["emit", "problem", "--workload", "resnet50", "--layer", "x"], "unknown layer 'x'"),
    (["emit", "problem", "--set", "R=3", "S=3", "P=0", "Q=4", "C=2", "K=2"], "P must be a positive integer, got 0"),
    (["emit", "problem", "--set", "R=3", "S=3", "P=-2", "Q=4", "C=2", "K=2"], "P must be a positive integer, got -2"),
    (["emit", "problem", "--set", "R=3", "S=3", "P=2.5", "Q=4", "C=2", "K=2"], "P must be a positive integer, got 2.5"),
    (["emit", "problem", "--set", "R=3", "S=3", "P=2", "Q=4", "C=2", "K=2", "Z=2"], r"unknown dimension\(s\) \['Z'\]"),
    (["emit", "mapping", "missing.yaml"], r"missing.yaml: no such file"),
    (["emit", "mapping", str(A_MAPPING), "--arch", "missing_arch.yaml"], "missing_arch.yaml: no such file"),
    (["emit", "mapping", "--sample", "2", "--preset", "arch0"], "--sample needs an architecture"),
])
def test_bad_input_one_clear_error(capsys, argv, match):
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.startswith("looplab: error: ") and len(err.strip().splitlines()) == 1
    assert re.search(match, err), err


def test_emit_problem_every_reference_layer(ref_dir, tmp_path, capsys):
    rc, _, err = _run(capsys, "emit", "problem", "--workload", "resnet50", "-o", str(tmp_path))
    assert rc == 0, err
    files = sorted((ref_dir / "layers").glob("*.yaml"))
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == [p.name for p in files]
    for ref in files:
        assert yaml.safe_load((tmp_path / ref.name).read_text()) == yaml.safe_load(ref.read_text())
        assert (tmp_path / ref.name).read_text() == ref.read_text()  # also byte-identical
    rc, text, _ = _run(capsys, "emit", "problem", "--workload", "resnet50", "--layer", "_outputs_input.2")
    assert text == (ref_dir / "layers" / "resnet50._outputs_input.2.yaml").read_text()
    rc, text, _ = _run(capsys, "emit", "problem", "--set", "R=7", "S=7", "P=112", "Q=112", "C=3", "K=64",
                       "Wstride=2", "Hstride=2")
    assert text == (ref_dir / "layers" / "resnet50._outputs_input.2.yaml").read_text()


def test_dump_mapping_yaml_byte_identical_for_every_case(ref_cases):
    for case in ref_cases:
        text = case["mapping_yaml"]
        assert dump_mapping_yaml(yaml.load(text, Loader=_Loader)) == text, case["case_id"]


def test_emit_mapping_roundtrips_reference_files(ref_dir, tmp_path, capsys):
    """Every full/ run's mapping.yaml, normalised against its arch, comes back byte-identical."""
    dirs = sorted(p for p in (ref_dir / "full").iterdir() if p.is_dir())
    assert len(dirs) == 25
    for d in dirs:
        out = tmp_path / f"{d.name}.yaml"
        rc, _, err = _run(capsys, "emit", "mapping", str(d / "mapping.yaml"), "--arch", str(d / "arch.yaml"),
                          "--problem", str(d / "problem.yaml"), "-o", str(out))
        assert rc == 0, err
        assert out.read_text() == (d / "mapping.yaml").read_text(), d.name


def test_emit_mapping_from_plain_description(ref_dir, ref_cases, tmp_path, capsys):
    """The record form of a case (a plain per-level description) renders to the case's mapping file."""
    case = next(c for c in ref_cases if c["arch"] == "simba_final" and c["valid"])
    spec = parse_arch(ref_dir / "archs" / "simba_final" / "arch.yaml")
    desc = tmp_path / "desc.json"
    desc.write_text(json.dumps({"levels": case["mapping"]}))
    rc, text, err = _run(capsys, "emit", "mapping", str(desc), "--preset", "simba_final")
    assert rc == 0, err
    assert Mapping.from_yaml(text, spec.storage_names) == Mapping.from_yaml(case["mapping_yaml"], spec.storage_names)
    # a short hand-written description: omitted levels get unit factors and the family's fixed bypass
    short = tmp_path / "short.yaml"
    short.write_text("levels:\n  - level: DRAM\n    temporal: K=1000 C=2048\n    permutation: KC\n")
    rc, text, err = _run(capsys, "emit", "mapping", str(short), "--preset", "simba_final",
                         "--workload", "resnet50", "--layer", "_outputs_3356")
    assert rc == 0, err
    m = Mapping.from_yaml(text, spec.storage_names)
    assert m.level("DRAM").temporal["K"] == 1000 and m.level("DRAM").permutation.startswith("KC")
    assert m.level("GlobalBuffer").keep == ["Inputs", "Outputs"] and m.level("Registers").keep == ["Weights"]
    assert sum(1 for e in yaml.safe_load(text)["mapping"] if e["type"] == "spatial") == 3  # every fan-out level


def test_emit_mapping_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("levels:\n  - level: GlobalBufer\n    temporal: {K: 2}\n")
    rc, _, err = _run(capsys, "emit", "mapping", str(bad), "--preset", "simba_final")
    assert rc == 2 and "level GlobalBufer: not a storage level" in err
    bad.write_text("levels:\n  - level: DRAM\n    temporals: {K: 2}\n")
    rc, _, err = _run(capsys, "emit", "mapping", str(bad))
    assert rc == 2 and "levels[0]: unknown key(s) ['temporals']" in err
    bad.write_text("levels:\n  - level: DRAM\n    temporal: {K: 2}\n")
    rc, _, err = _run(capsys, "emit", "mapping", str(bad), "--preset", "gemmini_4x4",
                      "--workload", "resnet50", "--layer", "_outputs_3356")
    assert rc == 2 and "factor products do not match the layer" in err and "K: factors give 2, layer has 1000" in err


def test_list_commands(capsys):
    rc, out, _ = _run(capsys, "list", "presets")
    assert rc == 0 and len(out.strip().splitlines()) == 9 and "gemmini_32x32" in out
    rc, out, _ = _run(capsys, "list", "families")
    assert [line.split()[0] for line in out.strip().splitlines()] == ["simba", "gemmini"]
    rc, out, _ = _run(capsys, "list", "workloads")
    assert "resnet50" in out and " 24 layers" in out
    rc, out, _ = _run(capsys, "list", "presets", "--family", "gemmini")
    assert len(out.strip().splitlines()) == 4


def test_cases_gz_is_what_the_fixtures_read(ref_dir):
    with gzip.open(ref_dir / "cases.jsonl.gz", "rt") as fh:
        assert json.loads(fh.readline())["mapping_yaml"].startswith("mapping:\n")


def test_description_form_renders_the_recorded_mapping_file(ref_dir, ref_cases):
    """For one case per (arch, case kind), the record's per-level description renders byte-identical YAML."""
    from looplab.emit import emit_mapping

    specs = {p.parent.name: parse_arch(p) for p in (ref_dir / "archs").glob("*/arch.yaml")}
    seen = set()
    for case in ref_cases:
        key = (case["arch"], case["case_kind"])
        if key in seen:
            continue
        seen.add(key)
        text = emit_mapping({"levels": case["mapping"]}, specs[case["arch"]], case["family"])
        assert text == case["mapping_yaml"], case["case_id"]
    assert len(seen) >= 30


def test_emit_mapping_sample(tmp_path, capsys):
    pytest.importorskip("mappers.sampler")
    out = tmp_path / "maps"
    rc, _, err = _run(capsys, "emit", "mapping", "--preset", "gemmini_4x4", "--workload", "resnet50", "--layer",
                      "_outputs_input.73", "--sample", "3", "--invalid", "2", "--seed", "5", "-o", str(out))
    assert rc == 0, err
    files = sorted(out.glob("*.yaml"))
    assert [f.name.split("_")[-1] for f in files] == ["valid.yaml"] * 3 + ["invalid.yaml"] * 2
    spec = parse_arch(_emit_arch_text(capsys, "gemmini_4x4"))
    from looplab.workloads import get_layer

    dims = get_layer("resnet50", "_outputs_input.73").dims
    for f in files:  # every sampled mapping is complete for the layer and re-normalises to itself
        m = Mapping.from_yaml(f.read_text(), spec.storage_names)
        m.check_layer(dims)
        rc, text, _ = _run(capsys, "emit", "mapping", str(f), "--preset", "gemmini_4x4")
        assert text == f.read_text()
    rc, again, _ = _run(capsys, "emit", "mapping", "--preset", "gemmini_4x4", "--workload", "resnet50", "--layer",
                        "_outputs_input.73", "--sample", "3", "--invalid", "2", "--seed", "5")
    assert again.count("mapping:") == 5 and files[0].read_text() in again  # seeded: same draws on stdout


def _emit_arch_text(capsys, preset):
    rc, text, _ = _run(capsys, "emit", "arch", "--preset", preset)
    assert rc == 0
    return text
