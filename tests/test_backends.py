"""The backend registry and the Timeloop backend's handling of ERT/ART (stand-ins only exercise failures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from looplab.backends import BACKEND_NAMES, get_backend, sibling_art
from looplab.errors import LooplabError

FAKES = Path(__file__).parent / "fakes"


def _case(ref_dir):
    d = ref_dir / "full" / "00_simba_final_8x8_resnet50._outputs_input.76_valid"
    return d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d


def test_registry():
    for name in BACKEND_NAMES:
        be = get_backend(name)
        assert be.name == name
        assert isinstance(be.version(), str) and be.version()
    with pytest.raises(LooplabError, match="unknown backend 'spice'.*timeloop, pytimeloop, analytical"):
        get_backend("spice")


def test_sibling_art(ref_dir, tmp_path):
    d = ref_dir / "full" / "00_simba_final_8x8_resnet50._outputs_input.76_valid"
    assert sibling_art(d / "ERT.yaml") == d / "ART.yaml"
    assert sibling_art(tmp_path / "ERT.yaml") is None
    assert sibling_art(None) is None
    (tmp_path / "arch.ERT.yaml").write_text("")
    (tmp_path / "arch.ART.yaml").write_text("")
    assert sibling_art(tmp_path / "arch.ERT.yaml") == tmp_path / "arch.ART.yaml"


def test_timeloop_backend_passes_both_tables(ref_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "args")
    arch, prob, mapping, d = _case(ref_dir)
    res = get_backend("timeloop", workdir_root=tmp_path).evaluate(arch, prob, mapping, ert=d / "ERT.yaml")
    assert "args: arch.yaml problem.yaml mapping.yaml ERT.yaml ART.yaml" in res.reason
    assert list(tmp_path.iterdir()) == []


def test_timeloop_backend_without_tables_reports_accelergy(ref_dir, tmp_path, monkeypatch):
    """No --ert and Accelergy failing: a typed 'accelergy' failure, timeloop-model never started."""
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("LOOPLAB_FAKE_ACCELERGY", "fail")
    monkeypatch.setenv("LOOPLAB_FAKE_MODE", "args")
    arch, prob, mapping, _ = _case(ref_dir)
    res = get_backend("timeloop", cache_dir=tmp_path / "cache").evaluate(arch, prob, mapping)
    assert (res.valid, res.error_kind) == (None, "accelergy")
    assert "could not evaluate technology" in res.reason


def test_missing_simulators_are_typed_failures(ref_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    arch, prob, mapping, d = _case(ref_dir)
    res = get_backend("timeloop").evaluate(arch, prob, mapping)  # reported before trying Accelergy
    assert (res.valid, res.error_kind) == (None, "missing_binary")
    import importlib.util

    if importlib.util.find_spec("pytimeloop") is None:
        res = get_backend("pytimeloop").evaluate(arch, prob, mapping, ert=d / "ERT.yaml")
        assert (res.valid, res.error_kind) == (None, "missing_binary")
        assert "pytimeloop" in res.reason
