"""``looplab sample`` end to end (files written, table consistent with the written YAML)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from looplab.archspec import parse_arch
from looplab.cli import main
from mappers.mapping import Mapping
from mappers.validity import check


def _check_output(out, n_valid, n_invalid, n_layers):
    table = pd.read_csv(out / "mappings.csv")
    assert len(table) == (n_valid + n_invalid) * n_layers
    spec = parse_arch(out / "arch.yaml")
    for _, grp in table.groupby("layer"):
        assert int(grp["valid"].sum()) == n_valid and int((~grp["valid"]).sum()) == n_invalid
    for row in table.itertuples():
        m = Mapping.from_yaml(out / row.file, spec.storage_names)
        prob = yaml.safe_load((out / row.problem).read_text())["problem"]["instance"]
        valid, level, kind, reason = check(spec, prob, m)
        assert valid == row.valid
        if not valid:
            assert (level, kind, reason) == (row.failed_level, row.kind, row.reason)
            assert row.error == f"ERROR: couldn't map level {level}: {reason}"
    return table


def test_sample_preset_workload(tmp_path):
    pytest.importorskip("arch_gen")
    out = tmp_path / "s"
    rc = main(["sample", "--family", "gemmini", "--preset", "gemmini_4x4", "--workload", "resnet50",
               "--layer", "resnet50._outputs_input.5", "--valid", "3", "--invalid", "7", "--seed", "1",
               "--out", str(out)])
    assert rc == 0
    table = _check_output(out, 3, 7, 1)
    assert set(table["arch"]) == {"gemmini_4x4"}


def test_sample_arch_and_problem_files(tmp_path, ref_dir):
    out = tmp_path / "s"
    rc = main(["sample", "--arch", str(ref_dir / "archs" / "arch1" / "arch.yaml"), "--problem",
               str(ref_dir / "layers" / "resnet50._outputs_input.11.yaml"),
               str(ref_dir / "layers" / "resnet50._outputs_3356.yaml"),
               "--valid", "2", "--invalid", "4", "--seed", "5", "--out", str(out)])
    assert rc == 0
    table = _check_output(out, 2, 4, 2)
    assert set(table["arch"]) == {"arch1"} and set(table["family"]) == {"simba"}


def test_sample_files_list_in_layer_order(tmp_path):
    """VGG-16's 12 layers: a folder listing of problems/ and mappings/ (text order) shows them in network order,
    and so does the table, although the names sort differently as text (features.10 before features.2)."""
    pytest.importorskip("arch_gen")
    from looplab.workloads import load_workload

    names = [lay.name for lay in load_workload("vgg16")]
    assert sorted(names) != names and len(names) > 10
    out = tmp_path / "s"
    assert main(["sample", "--family", "gemmini", "--preset", "gemmini_default", "--workload", "vgg16",
                 "--valid", "1", "--invalid", "1", "--seed", "0", "--out", str(out)]) == 0
    table = pd.read_csv(out / "mappings.csv")
    assert list(dict.fromkeys(table["layer"])) == names
    problems = sorted(p.name for p in (out / "problems").iterdir())
    assert problems == [f"{i:02d}_{n}.yaml" for i, n in enumerate(names)]
    assert sorted(p.name for p in (out / "mappings").iterdir()) == [f[:-len(".yaml")] for f in problems]
    assert list(dict.fromkeys(table["problem"])) == [f"problems/{f}" for f in problems]
    one = tmp_path / "one"  # one layer by alias keeps its index in the workload
    assert main(["sample", "--family", "gemmini", "--preset", "gemmini_default", "--workload", "vgg16",
                 "--layer", "features.10", "--valid", "1", "--invalid", "0", "--seed", "0", "--out", str(one)]) == 0
    assert [p.name for p in (one / "problems").iterdir()] == ["04_vgg16.features.10.yaml"]


def test_sample_bad_input(tmp_path, capsys):
    assert main(["sample", "--valid", "1", "--invalid", "1", "--out", str(tmp_path)]) == 2
    assert "give --family/--preset" in capsys.readouterr().err
    assert main(["sample", "--arch", str(tmp_path / "nope.yaml"), "--problem", "x.yaml", "--valid", "1",
                 "--invalid", "1", "--out", str(tmp_path)]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
