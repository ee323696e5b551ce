"""``looplab evaluate`` single and ``--batch``: exit codes, resumability, worker crashes, and -- where the real
timeloop-model exists -- exact agreement with the recorded reference runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from looplab import backends
from looplab.cli import main
from looplab.errors import LooplabError
from looplab.result import EvalResult
from looplab.timeloop.batch import done_ids, read_cases, run_batch

FAKES = Path(__file__).parent / "fakes"
HAVE_TIMELOOP = shutil.which("timeloop-model") is not None


def _index(ref_dir):
    return json.loads((ref_dir / "full" / "index.json").read_text())


def _write_cases(ref_dir, path: Path, with_tables: bool = True) -> list[dict]:
    """CASES.jsonl over every reference/full run, paths relative to the CASES file where possible."""
    rows = []
    for e in _index(ref_dir):
        d = ref_dir / "full" / e["dir"]
        row = {"id": e["case_id"], "arch": str(d / "arch.yaml"), "problem": str(d / "problem.yaml"),
               "mapping": str(d / "mapping.yaml"), "ert": str(d / "ERT.yaml") if with_tables else None}
        if with_tables:
            row["art"] = str(d / "ART.yaml")
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def fake_path(monkeypatch):
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def test_batch_is_resumable(fake_path, monkeypatch, ref_dir, tmp_path):
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "exit")
    cases = tmp_path / "cases.jsonl"
    out = tmp_path / "results.jsonl"
    written = _write_cases(ref_dir, cases)
    s = run_batch(cases, out, progress=False)
    assert (s.evaluated, s.skipped, s.failed, s.failures) == (len(written), 0, len(written), {"crash": len(written)})
    rows = _rows(out)
    assert [r["id"] for r in rows] == [c["id"] for c in written]
    assert all(r["valid"] is None and r["error_kind"] == "crash" and r["backend"] == "timeloop" for r in rows)
    # nothing left to do
    s = run_batch(cases, out, progress=False)
    assert (s.evaluated, s.skipped) == (0, len(written))
    # a kill mid-write leaves a torn last line: it is dropped and that case (and a removed one) re-run
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:-2]) + lines[-2][:17])
    s = run_batch(cases, out, progress=False)
    assert (s.evaluated, s.skipped) == (2, len(written) - 2)
    rows = _rows(out)
    assert sorted(r["id"] for r in rows) == sorted(c["id"] for c in written)


def test_batch_parallel_and_cli(fake_path, monkeypatch, ref_dir, tmp_path, capsys):
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "nostats")
    cases = tmp_path / "cases.jsonl"
    out = tmp_path / "results.jsonl"
    written = _write_cases(ref_dir, cases)
    rc = main(["evaluate", "--batch", str(cases), "--out", str(out), "--jobs", "2", "--no-progress"])
    assert rc == 3  # some evaluations failed
    assert f"{len(written)} evaluated (0 valid, 0 invalid, {len(written)} failed: no_stats {len(written)})" \
        in capsys.readouterr().out
    assert sorted(r["id"] for r in _rows(out)) == sorted(c["id"] for c in written)


class _CrashyBackend:
    """A test backend whose worker process dies on one case (to exercise the worker-crash path)."""

    name = "crashy"

    def __init__(self, cache_dir=None):
        pass

    def version(self) -> str:
        return "test"

    def evaluate(self, arch, problem, mapping, ert=None, art=None, timeout_s=120):
        if "invalid-fanout" in str(mapping):
            os._exit(7)
        return EvalResult(valid=None, backend=self.name, error_kind="no_stats", reason="test backend")


def test_worker_death_costs_only_its_case(monkeypatch, ref_dir, tmp_path):
    monkeypatch.setitem(backends._BACKENDS, "crashy", _CrashyBackend)  # inherited by forked workers
    cases = tmp_path / "cases.jsonl"
    out = tmp_path / "results.jsonl"
    written = _write_cases(ref_dir, cases)
    s = run_batch(cases, out, backend="crashy", jobs=2, progress=False)
    rows = {r["id"]: r for r in _rows(out)}
    assert len(rows) == len(written) == s.evaluated
    dying = {e["case_id"] for e in _index(ref_dir) if "invalid-fanout" in e["dir"]}
    assert dying
    for cid, row in rows.items():
        assert row["error_kind"] == ("crash" if cid in dying else "no_stats"), cid
    assert "worker process died" in rows[next(iter(dying))]["reason"]


def test_bad_cases_name_line_and_field(tmp_path, ref_dir):
    arch = ref_dir / "archs" / "arch0" / "arch.yaml"
    cases = tmp_path / "c.jsonl"
    cases.write_text(json.dumps({"id": 1, "arch": str(arch), "problem": str(arch), "mapping": str(arch)}) + "\n"
                     + json.dumps({"id": 2, "arch": str(arch), "problem": str(arch)}) + "\n")
    with pytest.raises(LooplabError, match=r"c.jsonl:2: missing field 'mapping'"):
        read_cases(cases)
    cases.write_text(json.dumps({"id": 1, "arch": "nope.yaml", "problem": str(arch), "mapping": str(arch)}) + "\n")
    with pytest.raises(LooplabError, match=r"c.jsonl:1: field 'arch': file not found: .*nope.yaml"):
        read_cases(cases)
    line = json.dumps({"id": 1, "arch": str(arch), "problem": str(arch), "mapping": str(arch)}) + "\n"
    cases.write_text(line + line)
    with pytest.raises(LooplabError, match="c.jsonl:2: duplicate id 1"):
        read_cases(cases)
    cases.write_text("{not json\n")
    with pytest.raises(LooplabError, match="c.jsonl:1: not JSON"):
        read_cases(cases)


def test_relative_paths_and_done_ids(tmp_path, ref_dir):
    d = tmp_path / "set"
    shutil.copytree(ref_dir / "full" / "06_arch1_resnet50._outputs_input.39_invalid-capacity", d)
    (tmp_path / "cases.jsonl").write_text(json.dumps({"id": "a", "arch": "set/arch.yaml", "problem":
                                                      "set/problem.yaml", "mapping": "set/mapping.yaml",
                                                      "ert": None}) + "\n")
    (case,) = read_cases(tmp_path / "cases.jsonl")
    assert case["arch"] == str(d / "arch.yaml") and case["ert"] is None
    assert done_ids(tmp_path / "missing.jsonl") == set()


def test_single_evaluate_exit_codes(fake_path, monkeypatch, ref_dir, capsys):
    index = _index(ref_dir)
    inv = next(e for e in index if not e["valid"])
    d = ref_dir / "full" / inv["dir"]
    args = ["evaluate", str(d / "arch.yaml"), str(d / "problem.yaml"), str(d / "mapping.yaml"),
            "--ert", str(d / "ERT.yaml")]
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "replay")
    monkeypatch.setenv("LOOPLAB_FAKE_STDERR", str(d / "stderr.txt"))
    assert main(args) == 1
    assert capsys.readouterr().err.strip() == inv["error"]
    assert main([*args, "--json"]) == 1
    got = json.loads(capsys.readouterr().out)
    assert got["valid"] is False and got["failed_level"] in inv["error"]
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "signal")
    assert main(args) == 3
    assert "ERROR: evaluation failed (crash)" in capsys.readouterr().err
    assert main(["evaluate", str(d / "arch.yaml")]) == 2  # LooplabError: usage
    assert "missing problem, mapping" in capsys.readouterr().err


def test_doctor_cli_never_fails(capsys):
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    for tool in ("timeloop-model", "timeloop-mapper", "accelergy", "pytimeloop"):
        assert tool in text


# ---------------------------------------------------------------------------------------------------------------
# The real simulator. Skipped (with the reason) where timeloop-model is absent.

def _check_against_records(rows: dict, ref_cases, ref_dir):
    by_id = {c["case_id"]: c for c in ref_cases}
    for e in _index(ref_dir):
        row, rec = rows[e["case_id"]], by_id[e["case_id"]]
        assert row["valid"] is rec["valid"], e["dir"]
        if rec["valid"]:
            assert row["cycles"] == rec["stats"]["cycles"], e["dir"]
            assert row["energy_pJ"] == rec["stats"]["energy_pJ_levels_sum"], e["dir"]
        else:
            assert f"ERROR: couldn't map level {row['failed_level']}: {row['reason']}" == rec["error"], e["dir"]


@pytest.mark.timeloop
@pytest.mark.skipif(not HAVE_TIMELOOP, reason="timeloop-model not on PATH (run inside the Docker image)")
def test_real_timeloop_batch_reproduces_reference(ref_dir, ref_cases, tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    out = tmp_path / "results.jsonl"
    _write_cases(ref_dir, cases)
    rc = main(["evaluate", "--batch", str(cases), "--out", str(out), "--backend", "timeloop", "--jobs", "2",
               "--no-progress"])
    assert rc == 0, capsys.readouterr()
    _check_against_records({r["id"]: r for r in _rows(out)}, ref_cases, ref_dir)


@pytest.mark.timeloop
@pytest.mark.skipif(not HAVE_TIMELOOP, reason="timeloop-model not on PATH (run inside the Docker image)")
def test_real_timeloop_single_matches_recorded_stats(ref_dir, ref_cases, tmp_path, capsys):
    e = next(e for e in _index(ref_dir) if e["valid"])
    d = ref_dir / "full" / e["dir"]
    keep = tmp_path / "kept"
    rc = main(["evaluate", str(d / "arch.yaml"), str(d / "problem.yaml"), str(d / "mapping.yaml"),
               "--ert", str(d / "ERT.yaml"), "--art", str(d / "ART.yaml"), "--keep-dir", str(keep)])
    assert rc == 0
    out = capsys.readouterr().out
    stats_text = (d / "timeloop-model.stats.txt").read_text()
    for key in ("Cycles:", "Energy:", "Utilization:"):
        want = next(line for line in stats_text.splitlines() if line.startswith(key))
        assert want in out.splitlines()
    assert (keep / "timeloop-model.stats.txt").read_text() == stats_text  # byte-identical to the recorded run


@pytest.mark.timeloop
@pytest.mark.skipif(not (HAVE_TIMELOOP and shutil.which("accelergy")), reason="timeloop-model or accelergy absent")
def test_real_accelergy_once_per_arch(ref_dir, ref_cases, tmp_path, live_cache):
    """Without --ert the tables come from the Accelergy cache (one run per architecture). The full/ runs of two
    architectures (a Simba and a Gemmini one), with the live tests' shared cache."""
    cases = tmp_path / "cases.jsonl"
    out = tmp_path / "results.jsonl"
    keep = [e for e in _index(ref_dir) if e["case_id"].split("|")[0] in ("simba_final", "gemmini_4x4")]
    rows = [{"id": e["case_id"], "arch": str(ref_dir / "full" / e["dir"] / "arch.yaml"),
             "problem": str(ref_dir / "full" / e["dir"] / "problem.yaml"),
             "mapping": str(ref_dir / "full" / e["dir"] / "mapping.yaml"), "ert": None} for e in keep]
    cases.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cache = live_cache / "accelergy"
    s = run_batch(cases, out, backend="timeloop", jobs=2, options={"cache_dir": cache}, progress=False)
    assert s.failed == 0 and s.evaluated == len(keep) >= 4
    from looplab.timeloop.accelergy import cached_entries

    entries = cached_entries(cache)
    got = {r["id"]: r for r in _rows(out)}
    by_id = {c["case_id"]: c for c in ref_cases}
    for e in keep:
        arch_bytes = (ref_dir / "full" / e["dir"] / "arch.yaml").read_bytes()
        mine = [p for p in entries if (p / "arch.yaml").read_bytes() == arch_bytes]
        assert len(mine) == 1  # Accelergy ran once for this architecture
        row, rec = got[e["case_id"]], by_id[e["case_id"]]
        assert row["valid"] is rec["valid"]
        if rec["valid"]:
            assert row["cycles"] == rec["stats"]["cycles"]
            if (mine[0] / "ERT.yaml").read_text() == (ref_dir / "full" / e["dir"] / "ERT.yaml").read_text():
                assert row["energy_pJ"] == rec["stats"]["energy_pJ_levels_sum"]


@pytest.mark.pytimeloop
def test_real_pytimeloop_batch_reproduces_reference(ref_dir, ref_cases, tmp_path):
    pytest.importorskip("pytimeloop", reason="pytimeloop bindings not importable")
    cases = tmp_path / "cases.jsonl"
    out = tmp_path / "results.jsonl"
    _write_cases(ref_dir, cases)
    s = run_batch(cases, out, backend="pytimeloop", jobs=2, progress=False)
    assert s.failed == 0
    _check_against_records({r["id"]: r for r in _rows(out)}, ref_cases, ref_dir)


def test_batch_refuses_to_start_without_the_simulator(monkeypatch, ref_dir, tmp_path):
    cases = tmp_path / "cases.jsonl"
    _write_cases(ref_dir, cases)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LooplabError, match="timeloop-model is not on PATH"):
        run_batch(cases, tmp_path / "results.jsonl", progress=False)
    assert not (tmp_path / "results.jsonl").exists()


def test_retry_failed(fake_path, monkeypatch, ref_dir, tmp_path):
    cases = tmp_path / "cases.jsonl"
    out = tmp_path / "results.jsonl"
    written = _write_cases(ref_dir, cases)
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "exit")
    run_batch(cases, out, progress=False)
    # keep one row as if it had been evaluated fine, so only the failed ones are retried
    rows = _rows(out)
    rows[0] = {**rows[0], "valid": False, "error_kind": "capacity"}
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "nostats")
    s = run_batch(cases, out, progress=False, retry_failed=True)
    assert (s.evaluated, s.skipped) == (len(written) - 1, 1)
    rows = _rows(out)
    assert len(rows) == len(written) and len({r["id"] for r in rows}) == len(written)
    assert sum(r.get("error_kind") == "no_stats" for r in rows) == len(written) - 1
