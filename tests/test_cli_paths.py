"""Path arguments are checked before any work (one line, exit 2), a closed stdout ends quietly, and every command
shares one exit-status table (code, ``looplab --help`` and README.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from looplab.cli import main
from looplab.cli.exit_codes import EXIT_BROKEN_PIPE, TABLE, markdown

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--batch", "{cases}", "--out", "{dir}"], r"{dir}: is a directory; give the path of a file"),
    (["import-dosa", "{dir}", "--out", "{tmp}/d"], r"{dir}: is a directory; expected a file"),
    (["sample", "--family", "simba", "--workload", "resnet50", "--layer", "0", "--valid", "1", "--invalid", "1",
      "--out", "{file}"], r"{file}: is a file; give a folder"),
    (["sweep", "nothere"], r"nothere: no such file"),
    (["sweep", "{dir}"], r"{dir}: is a directory; expected a file"),
    (["correlate", "{tmp}/missing", "--out", "{tmp}/r"], r"{tmp}/missing: no such file or folder"),
    (["evaluate", "{file}", "{file}", "{dir}"], r"{dir}: is a directory; expected a file"),
    (["dataset", "export", "{dir}", "--out", "{file}/x.csv"], r"cannot be created: {file} is a file"),
    (["emit", "arch", "--family", "simba", "-o", "{dir}"], r"{dir}: is a directory"),
])
def test_path_arguments_are_checked_up_front(tmp_path, capsys, monkeypatch, argv, message):
    _check_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, message)


REF_CASE = "tests/data/reference/full/00_simba_final_8x8_resnet50._outputs_input.76_valid"


# the newer commands (train, predict, experiment, map, search, emit mapping -o): each path argument, wrong in one
# way, is one `looplab: error: PATH: ...` line and exit 2 before any work (no IsADirectoryError/NotADirectoryError
# traceback, no error after the work is done)
@pytest.mark.parametrize("argv, message", [
    (["train", "{dir}", "--model", "rtl-gbm", "--out", "{tmp}/m"], r"{dir}: is a directory; expected a file"),
    (["train", "{tmp}/missing.csv", "--model", "rtl-gbm", "--out", "{tmp}/m"],
     r"{tmp}/missing.csv: no such file or folder"),
    (["train", "{file}", "--model", "rtl-gbm", "--out", "{file}"], r"{file}: is a file; give a folder"),
    (["train", "{dir}", "--model", "gbm", "--out", "{file}/m"], r"{file}/m: cannot be created: {file} is a file"),
    (["predict", "{file}", "{file}", "--out", "{tmp}/p.jsonl"], r"{file}: is a file; expected a folder"),
    (["predict", "{tmp}/nomodel", "{file}", "--out", "{tmp}/p.jsonl"], r"{tmp}/nomodel: no such folder"),
    (["predict", "{rtlmodel}", "{dir}", "--out", "{tmp}/p.jsonl"], r"{dir}: is a directory; expected a file"),
    (["predict", "{rtlmodel}", "{file}", "--out", "{dir}"], r"{dir}: is a directory; give the path of a file"),
    (["experiment", "first-study", "--out", "{file}"], r"{file}: is a file; give a folder"),
    (["experiment", "first-study", "--out", "{file}/x"], r"{file}/x: cannot be created: {file} is a file"),
    (["map", "{dir}", "{ref}/problem.yaml", "--out", "{tmp}/m"], r"{dir}: is a directory; expected a file"),
    (["map", "{ref}/arch.yaml", "{tmp}/missing.yaml", "--out", "{tmp}/m"], r"{tmp}/missing.yaml: no such file"),
    (["map", "{ref}/arch.yaml", "{ref}/problem.yaml", "--out", "{file}/x"],
     r"{file}/x: cannot be created: {file} is a file"),
    (["map", "{ref}/arch.yaml", "{ref}/problem.yaml", "--out", "{tmp}/m", "--ert", "{dir}"],
     r"{dir}: is a directory; expected a file"),
    (["map", "{ref}/arch.yaml", "{ref}/problem.yaml", "--out", "{tmp}/m", "--backend", "timeloop-mapper",
      "--mapper-config", "{tmp}/missing.yaml"], r"{tmp}/missing.yaml: no such file"),
    (["search", "--workload", "resnet50", "--out", "{file}"], r"{file}: is a file; give a folder"),
    (["search", "--workload", "resnet50", "--out", "{file}/x"], r"{file}/x: cannot be created: {file} is a file"),
    (["emit", "mapping", "{ref}/mapping.yaml", "--arch", "{ref}/arch.yaml", "-o", "{dir}"],
     r"{dir}: is a directory; give the path of a file"),
    (["emit", "mapping", "{ref}/mapping.yaml", "--arch", "{ref}/arch.yaml", "-o", "{file}/x.yaml"],
     r"{file}/x.yaml: cannot be created: {file} is a file"),
    (["emit", "mapping", "--arch", "{ref}/arch.yaml", "--problem", "{ref}/problem.yaml", "--sample", "1",
      "-o", "{file}"], r"{file}: is a file; give a folder"),
])
def test_newer_commands_check_path_arguments_up_front(tmp_path, capsys, monkeypatch, argv, message):
    _check_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, message)


def _check_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
                           argv: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "adir"
    d.mkdir()
    f = tmp_path / "afile.txt"
    f.write_text("x\n")
    cases = tmp_path / "cases.jsonl"
    cases.write_text("")
    rtl_model = tmp_path / "rtlmodel"  # what `predict` reads before choosing how to read INPUT
    rtl_model.mkdir()
    (rtl_model / "meta.json").write_text(json.dumps({"kind": "rtl", "model": "rtl-gbm"}))
    sub = {"{dir}": str(d), "{file}": str(f), "{cases}": str(cases), "{tmp}": str(tmp_path),
           "{ref}": str(ROOT / REF_CASE), "{rtlmodel}": str(rtl_model)}

    def fill(s: str) -> str:
        for k, v in sub.items():
            s = s.replace(k, v)
        return s

    assert main([fill(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("looplab: error: "), err
    assert re.search(re.escape(fill(message)).replace(r"\ ", " "), err), err


@pytest.mark.parametrize("argv", [
    ["list", "workloads"],
    ["list", "layers", "resnet50"],
    ["emit", "problem", "--workload", "resnet50"],
    ["map", f"{REF_CASE}/arch.yaml", f"{REF_CASE}/problem.yaml", "--ert", f"{REF_CASE}/ERT.yaml", "--json",
     "--no-progress", "--out", "{tmp}/m"],
])
def test_closed_stdout_ends_quietly(tmp_path, argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "looplab", *(a.replace("{tmp}", str(tmp_path)) for a in argv)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    p.stdout.close()  # the reader leaves before looplab writes (like `| head` after its lines)
    err = p.stderr.read().decode()
    assert p.wait() == EXIT_BROKEN_PIPE and err == "", err


def test_one_exit_status_table(capsys):
    readme = (ROOT / "README.md").read_text()
    assert markdown() in readme
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(f"  {code:<4} " in out for code, _ in TABLE)


def test_missing_simulator_exits_3_single_and_batch(tmp_path, monkeypatch, ref_dir, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no timeloop-model anywhere
    d = ref_dir / "full" / sorted(p.name for p in (ref_dir / "full").iterdir() if p.is_dir())[0]
    files = [str(d / n) for n in ("arch.yaml", "problem.yaml", "mapping.yaml")]
    assert main(["evaluate", *files, "--ert", str(d / "ERT.yaml")]) == 3
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"id": 1, "arch": files[0], "problem": files[1], "mapping": files[2]}) + "\n")
    assert main(["evaluate", "--batch", str(cases), "--out", str(tmp_path / "r.jsonl")]) == 3
    assert "timeloop-model is not on PATH" in capsys.readouterr().err
