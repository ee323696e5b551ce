"""Live: ``looplab sweep SPEC --resume`` (what ``make timeloop-sweep`` runs) end to end on the real timeloop-model,
killed with SIGKILL mid-sweep and resumed: no row lost or duplicated, and every row equals the analytical
model's verdict, failing level and cycles on the same points (energy within stats.txt's printing, with the ERT
Accelergy produced for each preset). Skipped without the simulators."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from looplab.sweep import open_store, parse_spec, run_sweep
from looplab.timeloop.fuzz import energy_tolerance

ROOT = Path(__file__).resolve().parents[1]


def spec_dict(out: Path, backend: str) -> dict:
    return {"name": "live", "seed": 3, "out": str(out), "backend": backend,
            "accelerators": {"presets": ["simba_final", "gemmini_4x4"]},
            "workloads": [{"workload": "resnet50", "layers": [2, 23]}],
            "mappings": {"valid": 4, "invalid": 2}, "points_per_task": 3,
            "execution": {"workers": 2, "energy": "accelergy", "timeout_s": 120, "max_attempts": 2}}


@pytest.mark.timeloop
@pytest.mark.skipif(shutil.which("accelergy") is None, reason="accelergy not found")
def test_real_sweep_killed_and_resumed(tmp_path, monkeypatch, live_cache):
    env = {**os.environ, "LOOPLAB_CACHE": str(live_cache),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    spec_path = tmp_path / "spec.yaml"
    out = tmp_path / "ds"
    spec_path.write_text(yaml.safe_dump(spec_dict(out, "timeloop")))
    cmd = [sys.executable, "-m", "looplab", "sweep", str(spec_path), "--resume", "--no-progress"]

    def n_done() -> int:
        return len(open_store(out).done_ids()) if (out / "manifest.json").exists() else 0

    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while n_done() < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its workers and their timeloop-model runs
    proc.wait()
    killed_at = n_done()
    time.sleep(0.5)
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    store = open_store(out)
    rows = store.read().to_pylist()
    n_tasks = len(store.done_ids())
    assert 0 < killed_at < n_tasks
    keys = [(r["task_id"], r["point"]) for r in rows]
    assert len(keys) == len(set(keys)) == 2 * 2 * 6  # 2 presets x 2 layers x (4 valid + 2 invalid)
    assert all(r["valid"] is not None for r in rows), [r.get("reason") for r in rows if r["valid"] is None]
    assert not list(store.parts.rglob("*.tmp"))

    # the same spec on the analytical model (the same Accelergy tables, from the cache)
    monkeypatch.setenv("LOOPLAB_CACHE", str(live_cache))
    run_sweep(parse_spec(spec_dict(tmp_path / "ana", "analytical")), progress=False, echo=lambda m: None)
    ana = {(r["task_id"], r["point"]): r for r in open_store(tmp_path / "ana").read().to_pylist()}
    assert set(ana) == set(keys)
    for r in rows:
        a = ana[(r["task_id"], r["point"])]
        assert a["mapping_vec"] == r["mapping_vec"]  # the same point (the plan is deterministic)
        assert (a["valid"], a["failed_level"], a["cycles"]) == (r["valid"], r["failed_level"], r["cycles"]), r
        if r["valid"]:
            assert abs(a["energy_pJ"] - r["energy_pJ"]) <= energy_tolerance(6), (a["energy_pJ"], r["energy_pJ"])
