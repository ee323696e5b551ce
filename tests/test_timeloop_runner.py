"""Failure isolation of the timeloop-model runner, with stand-in executables (tests/fakes) first on PATH.

The stand-ins only exercise failure paths (hang, signal, garbage, no stats, Accelergy failure, missing binary);
numbers are checked against recorded real output elsewhere and against the real binary in test_timeloop_batch.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.result import FAILURE_KINDS, INVALID_KINDS
from looplab.timeloop.runner import RunOutput, classify, run_timeloop_model

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture
def case(ref_dir):
    """Inputs of one recorded valid run (the files are only copied around by the stand-ins)."""
    d = ref_dir / "full" / "00_simba_final_8x8_resnet50._outputs_input.76_valid"
    return {k: d / f for k, f in (("arch", "arch.yaml"), ("problem", "problem.yaml"), ("mapping", "mapping.yaml"),
                                  ("ert", "ERT.yaml"), ("art", "ART.yaml"))}


@pytest.fixture
def fake_path(monkeypatch):
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def _run(case, tmp_path, **kw):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    res = run_timeloop_model(case["arch"], case["problem"], case["mapping"], case["ert"], case["art"],
                             workdir_root=work, **kw)
    assert list(work.iterdir()) == [], "temporary directory left behind"
    return res


def _assert_failure(res, kind):
    assert res.error_kind == kind and kind in FAILURE_KINDS
    assert res.valid is None and res.failed
    assert res.reason
    row = res.to_row("x")
    assert row["valid"] is None and row["error_kind"] == kind and row["cycles"] is None


def test_timeout_kills_the_process_group(fake_path, monkeypatch, case, tmp_path):
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "sleep")
    monkeypatch.setenv("LOOPLAB_FAKE_PIDFILE", str(pidfile))
    start = time.monotonic()
    res = _run(case, tmp_path, timeout_s=2.0)
    assert time.monotonic() - start < 15
    _assert_failure(res, "timeout")
    assert "2 s" in res.reason
    for pid in map(int, pidfile.read_text().split()):  # parent and its child are both gone
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"process {pid} still alive after timeout")


def test_signal_is_a_crash(fake_path, monkeypatch, case, tmp_path):
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "signal")
    res = _run(case, tmp_path)
    _assert_failure(res, "crash")
    assert "SIGSEGV" in res.reason


def test_garbage_stats_file(fake_path, monkeypatch, case, tmp_path):
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "garbage")
    res = _run(case, tmp_path)
    _assert_failure(res, "garbage")
    assert "stats.txt" in res.reason


def test_exit_zero_without_stats(fake_path, monkeypatch, case, tmp_path):
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "nostats")
    res = _run(case, tmp_path)
    _assert_failure(res, "no_stats")
    assert "exited with status 0" in res.reason


def test_accelergy_failure_with_exit_zero(fake_path, monkeypatch, case, tmp_path):
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "accelergy")
    res = _run(case, tmp_path)
    _assert_failure(res, "accelergy")
    assert "Failed to run Accelergy" in res.reason


def test_nonzero_exit_without_error_line(fake_path, monkeypatch, case, tmp_path):
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "exit")
    res = _run(case, tmp_path)
    _assert_failure(res, "crash")
    assert "status 3" in res.reason and "something odd happened" in res.reason


def test_missing_binary(monkeypatch, case, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    res = _run(case, tmp_path)
    _assert_failure(res, "missing_binary")
    assert "timeloop-model not found on PATH" in res.reason


def test_invalid_mapping_error_line(fake_path, monkeypatch, ref_dir, tmp_path):
    """A recorded invalid run's stderr (exit 1) becomes valid=False with Timeloop's level, kind and reason."""
    index = json.loads((ref_dir / "full" / "index.json").read_text())
    for entry in [e for e in index if not e["valid"]][:3]:
        d = ref_dir / "full" / entry["dir"]
        monkeypatch.setenv("LOOPLAB_FAKE_MODE", "replay")
        monkeypatch.setenv("LOOPLAB_FAKE_STDERR", str(d / "stderr.txt"))
        case = {k: d / f for k, f in (("arch", "arch.yaml"), ("problem", "problem.yaml"),
                                      ("mapping", "mapping.yaml"), ("ert", "ERT.yaml"), ("art", "ART.yaml"))}
        res = _run(case, tmp_path)
        assert res.valid is False and res.error_kind in INVALID_KINDS and not res.failed
        assert res.summary_lines() == [entry["error"]]
        assert res.to_row(1)["failed_level"] == res.failed_level


def test_command_line_matches_timeloop_convention(fake_path, monkeypatch, case, tmp_path):
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "args")
    res = _run(case, tmp_path)
    assert "args: arch.yaml problem.yaml mapping.yaml ERT.yaml ART.yaml" in res.reason


def test_keep_dir_copies_the_run(fake_path, monkeypatch, case, tmp_path):
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "nostats")
    keep = tmp_path / "kept"
    _run(case, tmp_path, keep_dir=keep)
    assert (keep / "command.txt").read_text().split() == ["timeloop-model", "arch.yaml", "problem.yaml",
                                                          "mapping.yaml", "ERT.yaml", "ART.yaml"]
    assert (keep / "stdout.txt").read_text().startswith("input file")


def test_missing_input_file_is_a_looplab_error(case, tmp_path):
    with pytest.raises(LooplabError, match="mapping file not found"):
        run_timeloop_model(case["arch"], case["problem"], tmp_path / "nope.yaml")


def test_classify_precedence():
    # an ERROR line wins over the exit status; a timeout wins over everything
    err = "ERROR: couldn't map level GlobalBuffer: mapped tile size 9 exceeds buffer capacity 8\n"
    res = classify(RunOutput(1, "", err, 0.1, False, None))
    assert (res.valid, res.failed_level, res.error_kind, res.extra["mapped"]) == (False, "GlobalBuffer",
                                                                                  "capacity", 9)
    assert classify(RunOutput(None, "", err, 5.0, True, None), timeout_s=5).error_kind == "timeout"
    res = classify(RunOutput(1, "", "ERROR: Mapping violates architecture constraints.\n", 0.1, False, None))
    assert (res.valid, res.error_kind) == (False, "constraint")


def test_missing_problem_shapes_is_an_installation_failure_not_an_invalid_mapping():
    """Without TIMELOOP_DIR these builds print an ERROR about problem shapes: that must never become a label."""
    from looplab.timeloop.runner import RunOutput, classify

    text = ("ERROR: problem shape files: cnn_layer.yaml cnn_layer.cfg not found in problem dir search path:\n"
            "    /opt//simbuild/src/timeloop/problem-shapes\n")
    for rc in (0, 1):
        res = classify(RunOutput(rc, text, "", 0.1, False, None))
        assert (res.valid, res.error_kind) == (None, "missing_binary") and "TIMELOOP_DIR" in res.reason
