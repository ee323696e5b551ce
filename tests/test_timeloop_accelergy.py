"""The ERT/ART cache: keyed by content, produced once even under concurrent processes, atomic entries.

A Python producer that copies a recorded real ERT/ART stands in for the Accelergy run here: these tests check
the cache's bookkeeping, not Accelergy. Accelergy's failure paths use the stand-in in tests/fakes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.timeloop.accelergy import AccelergyError, cache_key, cached_entries, ensure_ert

FAKES = Path(__file__).parent / "fakes"
FP = "test-fingerprint"


def _copy_producer(src: Path, log: Path | None = None, delay: float = 0.0):
    def produce(arch: Path, out: Path) -> None:
        if log is not None:
            with open(log, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        time.sleep(delay)
        for name in ("ERT.yaml", "ART.yaml", "ERT_summary.yaml", "ART_summary.yaml"):
            shutil.copyfile(src / name, out / name)
    return produce


def test_key_depends_on_content_and_toolchain(ref_dir, tmp_path):
    a = ref_dir / "archs" / "simba_final" / "arch.yaml"
    b = ref_dir / "archs" / "arch0" / "arch.yaml"
    copy = tmp_path / "elsewhere.yaml"
    copy.write_bytes(a.read_bytes())
    assert cache_key(a, fingerprint=FP) == cache_key(copy, fingerprint=FP)  # path does not matter
    assert cache_key(a, fingerprint=FP) != cache_key(b, fingerprint=FP)
    assert cache_key(a, fingerprint=FP) != cache_key(a, fingerprint=FP + "-accelergy-0.5")
    assert cache_key(a, [b], fingerprint=FP) != cache_key(a, fingerprint=FP)


def test_produced_once_then_reused(ref_dir, tmp_path):
    src = ref_dir / "archs" / "simba_final"
    log = tmp_path / "calls"
    cache = tmp_path / "cache"
    ert, art = ensure_ert(src / "arch.yaml", cache, producer=_copy_producer(src, log), fingerprint=FP)
    assert ert.read_text() == (src / "ERT.yaml").read_text() and art.name == "ART.yaml"
    again = ensure_ert(src / "arch.yaml", cache, producer=_copy_producer(src, log), fingerprint=FP)
    assert again == (ert, art)
    assert log.read_text().split() == [str(os.getpid())]  # the producer ran once
    assert cached_entries(cache) == [ert.parent]
    assert (ert.parent / "arch.yaml").read_bytes() == (src / "arch.yaml").read_bytes()
    meta = json.loads((ert.parent / "meta.json").read_text())
    assert meta["estimators"] == json.loads((src / "params.json").read_text())["estimators"]
    assert meta["dummy_estimated"] == []
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp")]


def _worker(args):
    arch, cache, src, log = args
    ert, art = ensure_ert(Path(arch), Path(cache), producer=_copy_producer(Path(src), Path(log), delay=0.3),
                          fingerprint=FP)
    return str(ert), str(art)


def test_concurrent_processes_produce_once(ref_dir, tmp_path):
    src = ref_dir / "archs" / "gemmini_4x4"
    log = tmp_path / "calls"
    cache = tmp_path / "cache"
    with mp.get_context("fork").Pool(4) as pool:
        out = pool.map(_worker, [(str(src / "arch.yaml"), str(cache), str(src), str(log))] * 8)
    assert len(set(out)) == 1
    assert len(log.read_text().split()) == 1
    assert len(cached_entries(cache)) == 1
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp")]


def test_failed_producer_leaves_no_entry(ref_dir, tmp_path):
    def broken(arch: Path, out: Path) -> None:
        (out / "ERT.yaml").write_text("half")
        raise AccelergyError("boom", str(arch))

    cache = tmp_path / "cache"
    with pytest.raises(AccelergyError, match="boom"):
        ensure_ert(ref_dir / "archs" / "arch1" / "arch.yaml", cache, producer=broken, fingerprint=FP)
    assert cached_entries(cache) == []
    assert not [p for p in cache.iterdir() if p.is_dir()]

    def no_art(arch: Path, out: Path) -> None:
        (out / "ERT.yaml").write_text("ERT: {}\n")

    with pytest.raises(AccelergyError, match="ART.yaml"):
        ensure_ert(ref_dir / "archs" / "arch1" / "arch.yaml", cache, producer=no_art, fingerprint=FP)


@pytest.mark.parametrize("mode,match", [("fail", "status 1.*could not evaluate technology"),
                                        ("empty", "did not write ERT.yaml, ART.yaml")])
def test_accelergy_stand_in_failures(ref_dir, tmp_path, monkeypatch, mode, match):
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("LOOPLAB_FAKE_ACCELERGY", mode)
    with pytest.raises(AccelergyError, match=match):
        ensure_ert(ref_dir / "archs" / "arch1" / "arch.yaml", tmp_path / "c", fingerprint=FP)
    assert cached_entries(tmp_path / "c") == []


def test_accelergy_timeout(ref_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("LOOPLAB_FAKE_ACCELERGY", "sleep")
    start = time.monotonic()
    with pytest.raises(AccelergyError, match="did not finish within 1 s"):
        ensure_ert(ref_dir / "archs" / "arch1" / "arch.yaml", tmp_path / "c", fingerprint=FP, timeout_s=1)
    assert time.monotonic() - start < 15


def test_missing_accelergy_and_missing_arch(ref_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AccelergyError, match="accelergy not found on PATH"):
        ensure_ert(ref_dir / "archs" / "arch1" / "arch.yaml", tmp_path / "c", fingerprint=FP)
    with pytest.raises(LooplabError, match="architecture file not found"):
        ensure_ert(tmp_path / "nope.yaml", tmp_path / "c", fingerprint=FP)


def test_default_cache_dir_honours_env(monkeypatch, tmp_path):
    from looplab.timeloop.accelergy import default_cache_dir

    monkeypatch.setenv("LOOPLAB_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "accelergy"
