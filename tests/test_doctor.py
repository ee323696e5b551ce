"""``looplab doctor``: reports every tool, found or not, with what to do; always exit 0; --json."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from looplab import doctor
from looplab.cli import main

FAKES = Path(__file__).parent / "fakes"


def test_nothing_installed(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LOOPLAB_SIMULATORS", raising=False)
    monkeypatch.delenv("TIMELOOP_DIR", raising=False)
    # discovery would add this interpreter's bin/ (Accelergy may be installed there): keep PATH as the test set it
    monkeypatch.setattr("looplab.timeloop.discover.activate", lambda env=None: None)
    statuses = {s.name: s for s in doctor.collect()}
    assert set(statuses) == {"timeloop-model", "timeloop-mapper", "accelergy", "pytimeloop", "problem-shapes"}
    assert not statuses["problem-shapes"].found and "LOOPLAB_SIMULATORS" in statuses["problem-shapes"].hint
    for name in ("timeloop-model", "timeloop-mapper", "accelergy"):
        assert not statuses[name].found and statuses[name].hint
    text = doctor.format_text(list(statuses.values()))
    assert "[MISSING] timeloop-model" in text and "docker" in text.lower()
    assert "backends usable here:" in text and "analytical" in text
    assert main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == ["timeloop-model", "timeloop-mapper", "accelergy", "pytimeloop",
                                         "problem-shapes"]
    assert all({"found", "version", "path", "hint", "detail"} <= set(d) for d in data)


def test_found_binary_without_version(monkeypatch):
    """A binary on PATH is reported as found (and its path) even when it prints no version."""
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    st = doctor.check_binary("timeloop-model")
    assert st.found and st.path == str(FAKES / "timeloop-model") and st.version is None
    acc = doctor.check_accelergy()  # the stand-in fails `accelergy -h`: reported, not raised
    assert acc.path == str(FAKES / "accelergy") and not acc.found and "accelergy -h" in acc.detail


def test_accelergy_packages_lists_only_related_distributions():
    pkgs = doctor.accelergy_packages()
    assert all(n.lower().startswith(("accelergy", "timeloop", "pytimeloop", "cacti")) for n in pkgs)


def test_accelergy_python_from_shebang(tmp_path, monkeypatch):
    script = tmp_path / "accelergy"
    script.write_text(f"#!{sys.executable}\nprint('hi')\n")
    script.chmod(0o755)
    assert doctor.accelergy_python(str(script)) == sys.executable
    script.write_text("#!/usr/bin/env python3\n")
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    assert doctor.accelergy_python(str(script)) is not None
    script.write_text("#!/bin/sh\n")
    assert doctor.accelergy_python(str(script)) is None
    assert doctor.accelergy_python(str(tmp_path / "missing")) is None


def test_simulators_variable(monkeypatch, tmp_path):
    """LOOPLAB_SIMULATORS=DIR puts DIR/bin first on PATH and sets TIMELOOP_DIR; a folder without bin/ is an error
    naming the variable."""
    from looplab.errors import LooplabError
    from looplab.timeloop import discover

    (tmp_path / "bin").mkdir()
    (tmp_path / "problem-shapes").mkdir()
    exe = tmp_path / "bin" / "timeloop-model"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", discover.ENV_VAR: str(tmp_path)}
    assert discover.activate(env) == tmp_path.resolve()
    assert env["PATH"].split(os.pathsep)[0] == str(tmp_path.resolve() / "bin")
    assert env["TIMELOOP_DIR"] == str(tmp_path.resolve())
    assert discover.found(env)["timeloop-model"] == str(tmp_path.resolve() / "bin" / "timeloop-model")
    assert "found at" in discover.summary_line(env) and discover.ENV_VAR in discover.summary_line(env)
    env2 = {"PATH": f"{tmp_path / 'bin'}:/usr/bin"}  # on PATH only: TIMELOOP_DIR from the folder above bin/
    discover.activate(env2)
    assert env2["TIMELOOP_DIR"] == str(tmp_path.resolve())
    with pytest.raises(LooplabError, match="LOOPLAB_SIMULATORS"):
        discover.activate({"PATH": "", discover.ENV_VAR: str(tmp_path / "bin")})
