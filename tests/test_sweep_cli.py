"""``looplab sweep`` on the command line: the spec argument is a path, and --dry-run says what it leaves out."""

from __future__ import annotations

import json

import yaml

from looplab.cli import main


def _spec(tmp_path, name="spec.yml"):
    d = {"name": "dry", "out": str(tmp_path / "out"), "accelerators": {"presets": ["simba_final", "arch0"]},
         "workloads": [{"workload": "resnet50", "layers": [0, 1, 2, 3]}], "mappings": {"valid": 1, "invalid": 1},
         "points_per_task": 2}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(d))
    return path


def test_dry_run_says_what_it_leaves_out_and_honours_json(tmp_path, capsys):
    path = _spec(tmp_path)
    assert main(["sweep", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("dry: 8 tasks, 16 points")
    assert len([ln for ln in out if ln.startswith("  t0")]) == 5
    assert out[-1].strip().startswith("... 3 more tasks not shown")
    assert main(["sweep", str(path), "--dry-run", "--all-tasks"]) == 0
    assert len([ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  t0")]) == 8
    assert main(["sweep", str(path), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["n_tasks"] == 8 and len(plan["tasks"]) == 8 and plan["n_points"] == 16
    assert plan["tasks"][-1]["units"][0]["accelerator"] == "arch0"


def test_spec_argument_is_a_path(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nothere")]) == 2
    assert capsys.readouterr().err == f"looplab: error: {tmp_path / 'nothere'}: no such file\n"
    path = _spec(tmp_path, "spec.txt")  # any suffix: it is a file, read as one
    assert main(["sweep", str(path), "--dry-run"]) == 0


def test_parse_spec_names_a_missing_file_whatever_its_suffix(tmp_path):
    import pytest

    from looplab.errors import LooplabError
    from looplab.sweep import parse_spec

    with pytest.raises(LooplabError, match=r"^nothere: no such sweep spec file"):
        parse_spec("nothere")
    with pytest.raises(LooplabError, match=r"is a directory"):
        parse_spec(str(tmp_path))
    assert parse_spec(str(_spec(tmp_path, "spec.txt"))).name == "dry"
