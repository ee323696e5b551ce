"""``looplab demo`` (what ``make demo`` runs) on a machine without Timeloop: analytical backend, said clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

if not hasattr(pytest.importorskip("looplab.analytical"), "evaluate_batch"):
    pytest.skip("the analytical model's evaluate_batch has not landed", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


def test_demo_without_timeloop(tmp_path):
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "timeloop-model").exists()]
    env = {**os.environ, "PATH": os.pathsep.join(path),  # this PATH has no timeloop-model
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "demo"
    p = subprocess.run([sys.executable, "-m", "looplab", "demo", "--out", str(out)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "timeloop-model is NOT on PATH" in p.stdout and "ANALYTICAL model, not the real Timeloop" in p.stdout
    assert any(ln.startswith("demo finished") and "NOT real Timeloop" in ln for ln in p.stdout.splitlines())
    assert len(list((out / "emit" / "archs").glob("*.yaml"))) == 9
    assert len(list((out / "emit" / "problems").glob("*.yaml"))) == 24
    assert len(list((out / "sample").glob("mapping_*_valid.yaml"))) == 5
    assert (out / "sweep" / "summary.json").is_file() and (out / "sweep" / "manifest.json").is_file()
    assert str(out / "sweep") in p.stdout
    if (ROOT / "looplab" / "correlate.py").is_file():
        assert (out / "correlation" / "report.md").is_file()
        assert "validity agreement with Timeloop" in p.stdout
    # `make demo` again resumes the finished sweep (nothing to run) instead of refusing the existing folder.
    from looplab.sweep import parse_spec, run_sweep
    from looplab.sweep.demo import demo_sweep_spec

    spec = dict(demo_sweep_spec(out, "analytical"), execution={"workers": 1})
    again = run_sweep(parse_spec(spec, source="demo sweep"), resume=True, progress=False, echo=lambda m: None)
    assert again["tasks_run"] == 0 and again["rows_in_dataset"] == 3 * 24 * 40
