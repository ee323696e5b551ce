"""Small first-day findings: export suffixes, an empty CASES file, a folder where a mapping file belongs, integer
accelerator parameters stored as integers."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from looplab.cli import main
from looplab.errors import LooplabError
from looplab.sweep.store import DatasetStore
from looplab.timeloop.batch import read_cases

DOSA = Path(__file__).parent / "data" / "dosa" / "timeloop_dataset_sample.csv"


@pytest.fixture(scope="module")
def dosa_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("dosa") / "d"
    assert main(["import-dosa", str(DOSA), "--out", str(out)]) == 0
    return out


def test_export_refuses_an_unknown_suffix(dosa_dataset, tmp_path, capsys):
    assert main(["dataset", "export", str(dosa_dataset), "--out", str(tmp_path / "x.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "x.xlsx: cannot tell the format from the suffix '.xlsx'" in err and err.count("\n") == 1
    assert not (tmp_path / "x.xlsx").exists()
    assert main(["dataset", "export", str(dosa_dataset), "--out", str(tmp_path / "x.xlsx"), "--format", "csv"]) == 0
    assert main(["dataset", "export", str(dosa_dataset), "--out", str(tmp_path / "x.pq")]) == 0
    assert pq.read_table(tmp_path / "x.pq").num_rows == 40


def test_empty_cases_file_warns(tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n")
    assert main(["evaluate", "--batch", str(cases), "--out", str(tmp_path / "r.jsonl"), "--backend",
                 "analytical"]) == 0
    assert f"looplab: warning: {cases} holds no cases" in capsys.readouterr().err


def test_a_folder_given_as_the_mapping_is_named_as_such(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "a.yaml").write_text("x")
    (tmp_path / "c.jsonl").write_text(json.dumps({"id": 1, "arch": "a.yaml", "problem": "a.yaml", "mapping": "m"}))
    with pytest.raises(LooplabError, match=r"c.jsonl:1: field 'mapping': is a directory, not a file: .*m$"):
        read_cases(tmp_path / "c.jsonl")


def test_integer_parameters_are_integer_columns(dosa_dataset, tmp_path):
    schema = DatasetStore(dosa_dataset).read().schema
    assert str(schema.field("arch_pe_dim").type) == "int64"
    assert str(schema.field("arch_sp_kib").type) == "double"
    from looplab.sweep import parse_spec, run_sweep

    spec = parse_spec({"name": "i", "out": str(tmp_path / "s"), "accelerators": {"presets": ["arch0"]},
                       "workloads": [{"workload": "resnet50", "layers": [0]}], "mappings": {"valid": 1, "invalid": 1},
                       "execution": {"workers": 1}})
    run_sweep(spec, progress=False, echo=lambda s: None)
    t = DatasetStore(tmp_path / "s").read()
    assert str(t.schema.field("arch_pes").type) == "int64" and t.column("arch_pes").to_pylist() == [16, 16]
    assert str(t.schema.field("arch_accum_kib_per_pe").type) == "double"
