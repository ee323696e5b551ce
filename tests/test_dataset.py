"""``looplab dataset info|merge|export`` and ``looplab sweep`` through the CLI (analytical backend)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

if not hasattr(pytest.importorskip("looplab.analytical"), "evaluate_batch"):
    pytest.skip("the analytical model's evaluate_batch has not landed", allow_module_level=True)

from looplab.cli import main  # noqa: E402
from looplab.errors import LooplabError  # noqa: E402
from looplab.sweep import open_store  # noqa: E402
from looplab.sweep.dataset import export, info, merge  # noqa: E402


def _spec(tmp_path, name, layers, out=None):
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump({
        "name": name, "seed": 1, "out": str(out or tmp_path / name), "backend": "analytical",
        "accelerators": {"presets": ["arch0", "gemmini_4x4"]}, "workloads": [{"workload": "resnet50",
                                                                             "layers": layers}],
        "mappings": {"valid": 6, "invalid": 4}, "points_per_task": 5, "execution": {"workers": 1}}))
    return p


@pytest.fixture(scope="module")
def two_sweeps(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds")
    outs = []
    for name, layers in (("a", [0, 1]), ("b", [2])):
        spec = _spec(tmp, name, layers)
        assert main(["sweep", str(spec), "--no-progress"]) == 0
        outs.append(tmp / name)
    return tmp, outs


def test_info_counts(two_sweeps, capsys):
    _, (a, _) = two_sweeps
    d = info(a)
    assert d["rows"] == 2 * 2 * 10 and d["parts"] == d["tasks_planned"] == 2 * 2 * 2
    assert d["valid"] + d["invalid"] + d["failed"] == d["rows"]
    assert d["accelerators"] == 2 and d["layers"] == 2
    assert sum(d["not_valid_by_reason"].values()) == d["invalid"] + d["failed"]
    assert main(["dataset", "info", str(a), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == d["rows"]


def test_merge_dedupes_same_sweep_and_keeps_others(two_sweeps, tmp_path):
    _, (a, b) = two_sweeps
    r = merge(tmp_path / "m", [a, b, a])
    assert r["rows"] == info(a)["rows"] + info(b)["rows"]
    assert r["duplicates_skipped"] == info(a)["parts"]
    merged = open_store(tmp_path / "m").read()
    assert merged.num_rows == r["rows"]
    with pytest.raises(LooplabError, match="already exists"):
        merge(tmp_path / "m", [b])


def test_export_formats(two_sweeps, tmp_path):
    _, (a, _) = two_sweeps
    n = info(a)["rows"]
    r = export(a, tmp_path / "all.parquet")
    assert r["rows"] == n and pq.read_table(tmp_path / "all.parquet").num_rows == n
    r = export(a, tmp_path / "valid.csv", valid_only=True, columns=["arch", "layer", "valid", "cycles",
                                                                      "mapping_vec"])
    lines = (tmp_path / "valid.csv").read_text().splitlines()
    assert r["rows"] == info(a)["valid"] == len(lines) - 1
    assert lines[0] == '"arch","layer","valid","cycles","mapping_vec"'
    assert main(["dataset", "export", str(a), "--out", str(tmp_path / "x.jsonl"), "--limit", "7"]) == 0
    recs = [json.loads(x) for x in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert len(recs) == 7 and all("mapping_yaml" in x for x in recs)
    with pytest.raises(LooplabError, match="unknown columns"):
        export(a, tmp_path / "y.csv", columns=["nope"])


def test_export_rebuilds_mapping_yaml(two_sweeps, tmp_path):
    """An analytical sweep stores no YAML by default; export --mapping-yaml rebuilds exactly the text a sweep
    with store.mapping_yaml: true writes."""
    tmp, (a, _) = two_sweeps
    spec = yaml.safe_load(_spec(tmp_path, "y", [0, 1]).read_text())
    spec["store"] = {"mapping_yaml": True}
    (tmp_path / "y.yaml").write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(tmp_path / "y.yaml"), "--no-progress"]) == 0
    stored = open_store(tmp_path / "y").read(columns=["task_id", "point", "mapping_yaml"])
    assert stored["mapping_yaml"].null_count == 0
    assert open_store(a).read(columns=["mapping_yaml"])["mapping_yaml"].null_count == open_store(a).n_rows()
    assert main(["dataset", "export", str(a), "--out", str(tmp_path / "a.parquet"), "--mapping-yaml",
                 "--columns", "task_id", "point", "mapping_yaml"]) == 0
    rebuilt = pq.read_table(tmp_path / "a.parquet")
    assert rebuilt.column_names == ["task_id", "point", "mapping_yaml"]
    assert rebuilt.sort_by([("task_id", "ascending"), ("point", "ascending")]).equals(
        stored.sort_by([("task_id", "ascending"), ("point", "ascending")]))


def test_cli_sweep_refuses_to_mix(two_sweeps, capsys):
    tmp, (a, _) = two_sweeps
    spec = _spec(tmp, "a", [0, 1])
    assert main(["sweep", str(spec), "--no-progress"]) == 2  # exists, no --resume
    assert "pass --resume" in capsys.readouterr().err
    other = _spec(tmp, "other", [3], out=a)
    assert main(["sweep", str(other), "--resume", "--no-progress"]) == 2
    assert "different sweep" in capsys.readouterr().err
