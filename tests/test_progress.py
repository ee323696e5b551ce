"""The shared progress reporter (looplab.progress) and its use by the long commands when stderr is a log file."""

from __future__ import annotations

import io
import re

import yaml

from looplab.cli import main
from looplab.progress import Progress, format_duration, progress_line


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
    p.close()  # a final line only because lines were printed
    assert len(lines) == 3 and p.done == 1000


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
