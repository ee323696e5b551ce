"""Live: the real timeloop-model, pytimeloop and Accelergy against the recorded reference set, and failure isolation
against the real binary. Skipped (with the reason) where the simulators are not found; CI requires them.

* ``looplab evaluate --batch`` with ``--backend timeloop`` and ``--backend pytimeloop`` on a stratified sample of
  the recorded cases (every architecture, valid and invalid, capacity and fan-out failures): exactly the recorded
  validity, error line (failing level and reason), cycles and energy (the sum of per-level energies);
* Accelergy driven by looplab (``ensure_ert``) on reference architectures: ERT and ART equal to the recorded ones;
* a timeout, a SIGKILLed timeloop-model and Accelergy failing on a bad attribute each become a typed failure,
  nothing hangs, and no temporary directory is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from looplab.backends import get_backend
from looplab.cli import main
from looplab.timeloop.runner import run_timeloop_model

live = pytest.mark.timeloop
needs_accelergy = pytest.mark.skipif(shutil.which("accelergy") is None, reason="accelergy not found")


def stratified(ref_cases: list[dict], per_kind: int = 2, seed: int = 10) -> list[dict]:
    """Per architecture: ``per_kind`` valid cases, ``per_kind`` capacity failures and ``per_kind`` fan-out
    failures (fewer where the set has fewer), drawn with a fixed seed over different layers."""
    rng = np.random.default_rng(seed)
    out = []
    for arch in sorted({c["arch"] for c in ref_cases}):
        mine = [c for c in ref_cases if c["arch"] == arch]
        for pick in (lambda c: c["valid"], lambda c: c.get("error_kind") == "capacity",
                     lambda c: c.get("error_kind") == "fanout"):
            pool = [c for c in mine if pick(c)]
            for i in rng.choice(len(pool), size=min(per_kind, len(pool)), replace=False):
                out.append(pool[int(i)])
    return out


def write_cases(ref_dir: Path, cases: list[dict], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, c in enumerate(cases):
        a = ref_dir / "archs" / c["arch"]
        mp = folder / f"m{n:03d}.yaml"
        mp.write_text(c["mapping_yaml"])
        lines.append({"id": c["case_id"], "arch": str(a / "arch.yaml"), "mapping": str(mp),
                      "problem": str(ref_dir / "layers" / f"{c['layer']}.yaml"),
                      "ert": str(a / "ERT.yaml"), "art": str(a / "ART.yaml")})
    path = folder / "cases.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def assert_rows_match_records(rows: dict, cases: list[dict]) -> None:
    assert set(rows) == {c["case_id"] for c in cases}
    for c in cases:
        r = rows[c["case_id"]]
        assert r["valid"] is c["valid"], (c["case_id"], r)
        if c["valid"]:
            assert (r["cycles"], r["energy_pJ"]) == (c["stats"]["cycles"], c["stats"]["energy_pJ_levels_sum"]), \
                c["case_id"]
        else:
            assert f"ERROR: couldn't map level {r['failed_level']}: {r['reason']}" == c["error"], c["case_id"]
            assert r["error_kind"] == c["error_kind"]


@live
@pytest.mark.parametrize("backend", ["timeloop", pytest.param("pytimeloop", marks=pytest.mark.pytimeloop)])
def test_batch_reproduces_stratified_reference_sample(backend, ref_dir, ref_cases, tmp_path, capsys):
    cases = stratified(ref_cases)
    assert len({c["arch"] for c in cases}) == 9 and {c.get("error_kind") for c in cases} == {None, "capacity",
                                                                                             "fanout"}
    path = write_cases(ref_dir, cases, tmp_path)
    out = tmp_path / "results.jsonl"
    rc = main(["evaluate", "--batch", str(path), "--out", str(out), "--backend", backend, "--jobs", "2",
               "--no-progress"])
    assert rc == 0, capsys.readouterr()
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert all(r["backend"] == backend for r in rows.values())
    assert_rows_match_records(rows, cases)


@live
@needs_accelergy
@pytest.mark.parametrize("arch", ["simba_final", "gemmini_4x4"])
def test_accelergy_tables_equal_recorded(arch, ref_dir, live_cache):
    from looplab.timeloop.accelergy import ensure_ert

    src = ref_dir / "archs" / arch
    ert, art = ensure_ert(src / "arch.yaml", live_cache / "accelergy")
    assert yaml.safe_load(ert.read_text()) == yaml.safe_load((src / "ERT.yaml").read_text())
    assert yaml.safe_load(art.read_text()) == yaml.safe_load((src / "ART.yaml").read_text())


def _full_case(ref_dir: Path, name: str = "24_gemmini_default_resnet50._outputs_3356_valid") -> Path:
    return ref_dir / "full" / name


@live
def test_timeout_is_typed_and_cleaned(ref_dir, tmp_path):
    d = _full_case(ref_dir)
    work = tmp_path / "work"
    work.mkdir()
    t0 = time.monotonic()
    res = run_timeloop_model(d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "ERT.yaml",
                             d / "ART.yaml", timeout_s=0.05, workdir_root=work)
    assert (res.valid, res.error_kind) == (None, "timeout") and time.monotonic() - t0 < 15
    assert not list(work.iterdir())


def _children_named(name: str) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if comm == name[:15] and int(fields[1]) == os.getpid():
            out.append(int(stat.parent.name))
    return out


@live
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the child process")
def test_sigkilled_timeloop_model_is_a_crash(ref_dir, tmp_path):
    d = _full_case(ref_dir, "16_gemmini_32x32_resnet50._outputs_input.76_valid")
    work = tmp_path / "work"
    work.mkdir()
    for _ in range(5):  # the run is short: retry if it finished before the kill landed
        box: dict = {}

        def run(box: dict = box) -> None:
            box["res"] = run_timeloop_model(d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "ERT.yaml",
                                            d / "ART.yaml", timeout_s=60, workdir_root=work)

        th = threading.Thread(target=run)
        th.start()
        killed = False
        while th.is_alive() and not killed:
            for pid in _children_named("timeloop-model"):
                os.kill(pid, signal.SIGKILL)
                killed = True
            time.sleep(0.005)
        th.join(60)
        assert not th.is_alive()
        if killed and box["res"].error_kind == "crash":
            break
    res = box["res"]
    assert (res.valid, res.error_kind) == (None, "crash") and "SIGKILL" in res.reason
    assert not list(work.iterdir())


@live
@needs_accelergy
def test_accelergy_failure_is_typed(ref_dir, tmp_path):
    """An unquoted ``technology: 45nm`` makes Accelergy 0.4 fail; timeloop-model then says so and exits 0 without
    stats. Both paths -- timeloop-model running Accelergy itself, and looplab's ERT cache -- give ``accelergy``."""
    src = (ref_dir / "archs" / "gemmini_4x4" / "arch.yaml").read_text()
    assert 'technology: "45nm"' in src
    bad = tmp_path / "arch.yaml"
    bad.write_text(src.replace('technology: "45nm"', "technology: 45nm"))
    d = _full_case(ref_dir, "14_gemmini_4x4_resnet50._outputs_input.73_valid")
    work = tmp_path / "work"
    work.mkdir()
    res = run_timeloop_model(bad, d / "problem.yaml", d / "mapping.yaml", timeout_s=300, workdir_root=work)
    assert (res.valid, res.error_kind) == (None, "accelergy"), res.reason
    assert not list(work.iterdir())
    be = get_backend("timeloop", cache_dir=tmp_path / "cache", workdir_root=work)
    res = be.evaluate(bad, d / "problem.yaml", d / "mapping.yaml", timeout_s=300)
    assert (res.valid, res.error_kind) == (None, "accelergy"), res.reason
    assert not list(work.iterdir())
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]  # no half-made cache entry
