"""The sweep's Timeloop path: per-point evaluation, ERT/ART once per architecture, failures as rows.

Failure paths use the stand-in executables of tests/fakes (never numbers). The equality of sweep rows with
direct timeloop-model runs needs the real simulator (marker ``timeloop``) and is skipped without it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from looplab.sweep import open_store, parse_spec, run_sweep

FAKES = Path(__file__).parent / "fakes"


def _spec(out, backend="timeloop", **kw):
    d = {"name": "tl", "seed": 5, "out": str(out), "backend": backend,
         "accelerators": {"presets": ["simba_final"]}, "workloads": [{"workload": "resnet50", "layers": [3]}],
         "mappings": {"valid": 3, "invalid": 2}, "points_per_task": 5,
         "execution": {"workers": 1, "energy": "accelergy", "timeout_s": 20}}
    d.update(kw)
    return parse_spec(d)


def test_points_that_fail_become_rows_with_reason(tmp_path, monkeypatch, ref_dir):
    """timeloop-model writing no stats: every point is a row with valid null and the failure kind; ERT/ART are
    requested once for the architecture; the task is done (not retried forever)."""
    import looplab.timeloop.accelergy as acc

    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "nostats")
    calls = []

    def recorded_tables(arch_yaml, cache_dir=None, **kw):  # the recorded real Accelergy output of simba_final
        calls.append(Path(arch_yaml))
        return ref_dir / "archs" / "simba_final" / "ERT.yaml", ref_dir / "archs" / "simba_final" / "ART.yaml"

    monkeypatch.setattr(acc, "ensure_ert", recorded_tables)
    s = run_sweep(_spec(tmp_path / "ds"), progress=False, echo=lambda m: None)
    assert s["tasks_run"] == 1 and s["rows_run"] == 5 and s["tasks_failed"] == 0
    assert len(calls) == 1
    rows = open_store(tmp_path / "ds").read().to_pylist()
    assert all(r["valid"] is None and r["error_kind"] == "no_stats" and r["reason"] for r in rows)
    assert s["point_outcomes"] == {"failed (no_stats)": 5}
    again = run_sweep(_spec(tmp_path / "ds"), resume=True, progress=False, echo=lambda m: None)
    assert again["tasks_run"] == 0


def test_missing_timeloop_is_one_clear_error(tmp_path, monkeypatch):
    from looplab.errors import LooplabError

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LooplabError, match="timeloop-model is not on PATH.*--backend analytical"):
        run_sweep(_spec(tmp_path / "ds"), progress=False, echo=lambda m: None)


@pytest.mark.timeloop
@pytest.mark.skipif(shutil.which("timeloop-model") is None or shutil.which("accelergy") is None,
                    reason="needs the real timeloop-model and accelergy on PATH")
def test_sweep_rows_equal_direct_timeloop_model(tmp_path, monkeypatch, live_cache):
    """Every row of a small real-Timeloop sweep equals a direct timeloop-model run of the row's own files."""
    monkeypatch.setenv("LOOPLAB_CACHE", str(live_cache))  # Accelergy once per architecture per session
    from looplab.backends import get_backend
    from looplab.sweep.sources import problem_yaml_text, resolve_layers

    spec = _spec(tmp_path / "ds", execution={"workers": 2, "energy": "accelergy", "timeout_s": 120})
    s = run_sweep(spec, progress=False, echo=lambda m: None)
    assert s["tasks_failed"] == 0
    rows = open_store(spec.out).read().to_pylist()
    assert len(rows) == 5 and sum(r["valid"] is True for r in rows) == 3
    be = get_backend("timeloop")
    arch = next((spec.out / "arch_cache").glob("*/arch.yaml"))
    prob = tmp_path / "problem.yaml"
    prob.write_text(problem_yaml_text(resolve_layers(spec)[0]))
    for r in rows:
        mp = tmp_path / f"m{r['point']}.yaml"
        mp.write_text(r["mapping_yaml"])
        direct = be.evaluate(arch, prob, mp)
        assert (r["valid"], r["failed_level"], r["cycles"], r["energy_pJ"]) == \
            (direct.valid, direct.failed_level, direct.cycles, direct.energy_pJ)
