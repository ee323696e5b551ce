"""Acceptance: a sweep killed with SIGKILL at random moments, then resumed, equals an uninterrupted run;
and the Dask path (LocalCluster) gives the same rows as the local one. Analytical backend, small sizes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
import yaml

if not hasattr(pytest.importorskip("looplab.analytical"), "evaluate_batch"):
    pytest.skip("the analytical model's evaluate_batch has not landed", allow_module_level=True)

from looplab.sweep import open_store, parse_spec, run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def spec_dict(out: Path, workers: int = 1) -> dict:
    return {"name": "kill-test", "seed": 11, "out": str(out), "backend": "analytical",
            "accelerators": {"presets": ["simba_final", "gemmini_default"]},
            "workloads": [{"workload": "resnet50", "layers": [0, 5, 12, 23]}],
            "mappings": {"valid": 24, "invalid": 24}, "points_per_task": 6,
            "execution": {"workers": workers, "energy": "estimator", "kernel": "numpy"}}


def _sorted(table):
    return table.sort_by([("task_id", "ascending"), ("point", "ascending")])


def _assert_same_rows(a, b):
    assert a.num_rows == b.num_rows
    a, b = _sorted(a), _sorted(b.select(a.schema.names))
    assert a.equals(b)


def _no_duplicates(table):
    keys = pc.binary_join_element_wise(table["task_id"], pc.cast(table["point"], "string"), "/")
    assert pc.count_distinct(keys).as_py() == table.num_rows


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ds"
    summary = run_sweep(parse_spec(spec_dict(out)), progress=False, echo=lambda s: None)
    assert summary["tasks_failed"] == 0
    return open_store(out).read(), summary


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    ref, ref_summary = uninterrupted
    spec_path = tmp_path / "spec.yaml"
    out = tmp_path / "ds"
    spec_path.write_text(yaml.safe_dump(spec_dict(out, workers=2)))
    n_tasks = ref_summary["tasks_total"]
    cmd = [sys.executable, "-m", "looplab", "sweep", str(spec_path), "--resume", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    rng = np.random.default_rng(2024)
    kills = 0
    progress = []
    t0 = time.monotonic()

    def n_done() -> int:
        return len(open_store(out).done_ids()) if (out / "manifest.json").exists() else 0

    for attempt in range(6):
        before = n_done()
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if attempt == 0:  # a random moment of start-up (imports, planning, pool start)
            time.sleep(rng.uniform(0.2, 1.0))
        else:  # a random moment once this run is writing parts
            deadline = time.monotonic() + 60
            while n_done() == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
        # Alternate: the driver alone (its workers notice and exit) / the whole process group (power loss).
        if attempt % 2 == 0:
            os.kill(proc.pid, signal.SIGKILL)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        progress.append(n_done())
        if progress[-1] >= n_tasks:
            break
    assert kills >= 2, f"the sweep finished before it could be killed twice ({progress})"
    assert any(0 < p < n_tasks for p in progress), f"no kill landed mid-sweep: parts done after kills {progress}"
    # Let any orphaned worker of the last kill exit, then finish the sweep.
    time.sleep(1.0)
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    store = open_store(out)
    assert len(store.done_ids()) == n_tasks
    assert not list(store.parts.rglob("*.tmp"))
    got = store.read()
    _no_duplicates(got)
    _assert_same_rows(ref, got)
    assert time.monotonic() - t0 < 90


def test_rerun_of_finished_sweep_does_nothing(tmp_path, uninterrupted):
    ref, _ = uninterrupted
    out = tmp_path / "ds"
    spec = parse_spec(spec_dict(out))
    run_sweep(spec, progress=False, echo=lambda s: None)
    again = run_sweep(spec, resume=True, progress=False, echo=lambda s: None)
    assert again["tasks_run"] == 0 and again["rows_in_dataset"] == ref.num_rows
    _assert_same_rows(ref, open_store(out).read())


def test_dask_localcluster_matches_local(tmp_path, uninterrupted):
    distributed = pytest.importorskip("distributed")
    ref, _ = uninterrupted
    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        summary = run_sweep(parse_spec(spec_dict(out)), scheduler=client, progress=False, echo=lambda s: None)
    assert summary["executor"].startswith("Dask client")
    assert summary["tasks_failed"] == 0
    got = open_store(out).read()
    _no_duplicates(got)
    _assert_same_rows(ref, got)


def test_numba_kernel_path_matches_numpy_path(tmp_path, uninterrupted):
    """The sweep's numba path (kernel: numba) gives the rows of the numpy path (energies to float rounding)."""
    from looplab.analytical.api import kernel_available

    if not kernel_available():
        pytest.skip("numba is not installed")
    ref, _ = uninterrupted
    d = spec_dict(tmp_path / "nb")
    d["execution"]["kernel"] = "numba"
    s = run_sweep(parse_spec(d), progress=False, echo=lambda m: None)
    assert s["kernel"] == "numba" and open_store(tmp_path / "nb").manifest()["kernel"] == "numba"
    got = _sorted(open_store(tmp_path / "nb").read())
    want = _sorted(ref)
    for col in ("task_id", "point", "valid", "failed_level", "cycles", "mapping_yaml"):
        assert got[col].equals(want[col]), col
    np.testing.assert_allclose(got["energy_pJ"].to_numpy(zero_copy_only=False),
                               want["energy_pJ"].to_numpy(zero_copy_only=False), rtol=1e-9)
