"""The shared progress reporter (looplab.progress) and its use by the long commands when stderr is a log file."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml

from looplab.cli import main
from looplab.progress import Progress, format_duration, progress_line

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_plain_lines_count_themselves_with_rate_and_eta():
    clock, lines = Clock(), []
    p = Progress(total=1000, unit="pt", desc="sweep", every_s=10, echo=lines.append, clock=clock,
                 stream=io.StringIO())
    assert p.mode == "lines"
    clock.t += 5
    p.update(100)  # 5 s < 10 s: no line yet
    assert lines == []
    clock.t += 5
    p.update(100)  # 200 points in 10 s = 20 pt/s, 800 left -> 40 s
    assert lines == ["sweep: 200/1000 pt (20.0%), 20 pt/s, ETA 40 s, elapsed 10 s"]
    clock.t += 30
    p.postfix(valid="50.0%")
    p.update(800)
    assert lines[-1] == "sweep: 1000/1000 pt (100.0%), 25 pt/s, finished, elapsed 40 s, valid 50.0%"
    p.close()  # the last line already shows the final count: not printed twice
    assert len(lines) == 2 and p.done == 1000
    q = Progress(total=10, every_s=10, echo=lines.append, clock=clock, stream=io.StringIO())
    clock.t += 10
    q.update(4)
    q.update(6)  # within 10 s of the last line: none
    q.close()  # a final line, since lines were printed and the last one showed 4
    assert lines[-2:] == ["4/10 it (40.0%), 0.4 it/s, ETA 15 s, elapsed 10 s",
                          "10/10 it (100.0%), 1.0 it/s, finished, elapsed 10 s"]


def test_disabled_progress_counts_but_prints_nothing():
    lines: list[str] = []
    p = Progress(total=10, enabled=False, every_s=0, echo=lines.append)
    p.update(4)
    p.add_total(-2)
    p.close()
    assert p.done == 4 and p.total == 8 and lines == []


def test_progress_line_and_durations():
    assert progress_line("x", 0, 50, 0.0, "eval") == "x: 0/50 eval (0.0%), 0.0 eval/s, ETA ?, elapsed 0 s"
    assert progress_line("", 7, None, 2.0) == "7 it, 3.5 it/s, elapsed 2 s"
    assert [format_duration(s) for s in (42, 300, 7200, 3 * 86400)] == ["42 s", "5.0 min", "2.0 h", "3.0 d"]


def test_sweep_on_a_log_file_prints_true_progress_lines(tmp_path, monkeypatch, capsys):
    """stderr not a terminal (nohup, Slurm): lines count the points done, not a disabled bar's 0."""
    monkeypatch.setenv("LOOPLAB_PROGRESS_EVERY", "0")
    spec = {"name": "p", "out": str(tmp_path / "ds"), "seed": 1, "backend": "analytical",
            "accelerators": {"presets": ["simba_final"]}, "workloads": [{"workload": "resnet50", "layers": [0, 1]}],
            "mappings": {"valid": 2, "invalid": 2}, "points_per_task": 4, "execution": {"workers": 1}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path)]) == 0
    err = capsys.readouterr().err
    found = [(int(a), int(b)) for a, b in re.findall(r"sweep: (\d+)/(\d+) pt \(", err)]
    assert found, err
    assert found[0][0] > 0 and found[-1][0] == found[-1][1] == 8
    assert [d for d, _ in found] == sorted(d for d, _ in found)
    assert "ETA" in err


REF_CASE = ROOT / "tests/data/reference/full/00_simba_final_8x8_resnet50._outputs_input.76_valid"


@pytest.mark.parametrize("argv, line, total", [
    # RTL cross-validation: one count per fold fitted
    (["train", str(ROOT / "tests/data/dosa/firesim_training_sample240.csv"), "--model", "rtl-gbm", "--out", "{tmp}/m"],
     r"cross-validation \(group-5-fold\): (\d+)/(\d+) fit \(", 5),
    # the looplab mapper: one count per independent run
    (["map", str(REF_CASE / "arch.yaml"), str(REF_CASE / "problem.yaml"), "--ert", str(REF_CASE / "ERT.yaml"),
      "--out", "{tmp}/m"], r"looplab map: (\d+)/(\d+) run \(", 3),
    # co-search: evaluations out of the budget, per method
    (["search", "--workload", "alexnet", "--method", "random", "--budget", "20", "--energy", "estimator",
      "--out", "{tmp}/s"], r"random: (\d+)/(\d+) eval \(", 20),
])
def test_newer_long_commands_print_true_progress_lines(tmp_path, monkeypatch, capsys, argv, line, total):
    """map, search and train (RTL cross-validation) on a log file: `done/total` lines from looplab.progress, none
    with --no-progress."""
    monkeypatch.setenv("LOOPLAB_PROGRESS_EVERY", "0")
    assert main([a.replace("{tmp}", str(tmp_path / "1")) for a in argv]) == 0
    err = capsys.readouterr().err
    found = [(int(a), int(b)) for a, b in re.findall(line, err)]
    assert found, err
    assert found[-1] == (total, total) and {t for _, t in found} == {total}, err
    assert [d for d, _ in found] == sorted(d for d, _ in found)
    assert main([a.replace("{tmp}", str(tmp_path / "2")) for a in argv] + ["--no-progress"]) == 0
    err = capsys.readouterr().err
    assert not re.search(line, err) and not re.search(r"\d+/\d+ \w+ \(", err), err
