"""The pytimeloop backend's plumbing: status -> result, one worker process per architecture, the worker's
protocol surviving Timeloop's prints on fd 1, and every failure typed (crash, timeout, rejected input).

The real worker script runs here against a stand-in ``bindings`` module (tests/fakes/pybindings) that dies as
the real build does when its rules are broken (workload before ArchSpecs, one ArchSpecs per process, never
destroy an Engine). The live comparison with recorded cases is in tests/test_live_backends.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from looplab.timeloop import pytimeloop_backend as ptl

FAKE_BINDINGS = Path(__file__).parent / "fakes" / "pybindings"


def test_status_to_result():
    names = ["MACC", "Registers", "AccumulationBuffer"]
    ok, bad = [True, ""], [False, "mapped tile size 448 exceeds buffer capacity 64"]
    assert ptl.status_to_result([ok, ok, ok], names) is None
    res = ptl.status_to_result([ok, ok, bad], names)
    assert (res.valid, res.failed_level, res.error_kind, res.extra["mapped"], res.extra["available"]) == (
        False, "AccumulationBuffer", "capacity", 448, 64)
    assert res.summary_lines() == ["ERROR: couldn't map level AccumulationBuffer: mapped tile size 448 exceeds "
                                   "buffer capacity 64"]


def test_tables_key(ref_dir):
    d = ref_dir / "full" / "00_simba_final_8x8_resnet50._outputs_input.76_valid"
    other = ref_dir / "full" / "05_simba_final_resnet50._outputs_input.76_valid"
    key = ptl.tables_key(d / "arch.yaml", d / "ERT.yaml", d / "ART.yaml")
    assert key == ptl.tables_key(d / "arch.yaml", d / "ERT.yaml", d / "ART.yaml")
    assert key != ptl.tables_key(other / "arch.yaml", other / "ERT.yaml", other / "ART.yaml")
    assert key != ptl.tables_key(d / "arch.yaml", d / "ERT.yaml", None)


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{FAKE_BINDINGS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setattr(ptl, "available", lambda: True)
    monkeypatch.setattr(ptl, "_WORKERS", type(ptl._WORKERS)())
    yield
    ptl.close_all()


def _valid_case(ref_dir, ref_cases):
    e = next(x for x in json.loads((ref_dir / "full" / "index.json").read_text()) if x["valid"])
    d = ref_dir / "full" / e["dir"]
    rec = next(c for c in ref_cases if c["case_id"] == e["case_id"])
    return d, rec, (d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "ERT.yaml", d / "ART.yaml")


def test_worker_plumbing(stand_in, monkeypatch, ref_dir, ref_cases):
    d, rec, args = _valid_case(ref_dir, ref_cases)
    monkeypatch.setenv("LOOPLAB_FAKE_STATS", str(d / "timeloop-model.stats.txt"))  # recorded text, replayed
    monkeypatch.setenv("LOOPLAB_FAKE_PTL", "ok")
    for _ in range(3):  # the stand-in dies if a second ArchSpecs is built in one process
        res = ptl.evaluate(*args)
        assert (res.valid, res.cycles, res.energy_pJ, res.backend) == (
            True, rec["stats"]["cycles"], rec["stats"]["energy_pJ_levels_sum"], "pytimeloop")
    assert len(ptl._WORKERS) == 1
    pid = next(iter(ptl._WORKERS.values())).proc.pid
    monkeypatch.setenv("LOOPLAB_FAKE_PTL", "invalid")  # seen by workers started from now on
    # other tables = another key = a second worker; the first one stays
    res = ptl.evaluate(args[0], args[1], args[2], args[3], None)
    assert (res.valid, res.failed_level, res.error_kind) == (False, "Buf", "capacity")
    assert len(ptl._WORKERS) == 2 and next(iter(ptl._WORKERS.values())).proc.pid == pid


def test_worker_failures_are_typed(stand_in, monkeypatch, ref_dir, ref_cases):
    _, _, args = _valid_case(ref_dir, ref_cases)
    monkeypatch.setenv("LOOPLAB_FAKE_PTL", "segv")
    res = ptl.evaluate(*args)
    assert (res.valid, res.error_kind) == (None, "crash") and "SIGSEGV" in res.reason
    assert "fake engine evaluating" in res.reason  # the native output that preceded the crash
    assert not ptl._WORKERS
    monkeypatch.setenv("LOOPLAB_FAKE_PTL", "reject")
    res = ptl.evaluate(*args)
    assert (res.valid, res.error_kind) == (False, "parse") and "no such level" in res.reason
    monkeypatch.setenv("LOOPLAB_FAKE_PTL", "hang")
    ptl.close_all()
    res = ptl.evaluate(*args, timeout_s=1.5)
    assert (res.valid, res.error_kind) == (None, "timeout") and res.wall_s < 30
    assert not ptl._WORKERS


def test_worker_recycled_after_bounded_reuse(stand_in, monkeypatch, ref_dir, ref_cases):
    d, _, args = _valid_case(ref_dir, ref_cases)
    monkeypatch.setenv("LOOPLAB_FAKE_STATS", str(d / "timeloop-model.stats.txt"))
    monkeypatch.setattr(ptl, "WORKER_REUSE", 2)
    pids = set()
    for _ in range(5):
        assert ptl.evaluate(*args).valid is True
        pids.add(next(iter(ptl._WORKERS.values())).proc.pid)
    assert len(pids) == 3  # evaluations 1-2, 3-4, 5


def test_missing_bindings(monkeypatch, ref_dir, ref_cases):
    monkeypatch.setattr(ptl, "available", lambda: False)
    _, _, args = _valid_case(ref_dir, ref_cases)
    res = ptl.evaluate(*args)
    assert (res.valid, res.error_kind) == (None, "missing_binary")


def test_reply_to_result_garbage():
    res = ptl.reply_to_result({"status": [[True, ""]], "levels": ["MACC"], "stats": "garbage"}, 0.1)
    assert (res.valid, res.error_kind) == (None, "garbage")
