"""Shared fixtures (the recorded real-Timeloop reference set copied into tests/data/reference) and simulator
discovery: ``LOOPLAB_SIMULATORS=DIR`` or the simulators already on PATH (:mod:`looplab.timeloop.discover`).

Tests marked ``timeloop`` run when ``timeloop-model`` is found, ``pytimeloop`` when the bindings import; else they
skip with the reason. With ``LOOPLAB_REQUIRE_SIMULATORS=1`` (CI, when a bundle is beside the repository) a
missing simulator fails those tests instead, so a broken set-up cannot pass as a row of skips. The log's header
and its last lines say which simulators were found.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

from looplab.timeloop import discover

DATA = Path(__file__).parent / "data"
REF = DATA / "reference"

discover.activate()  # before any test module computes "is timeloop-model on PATH?"
REQUIRE = os.environ.get("LOOPLAB_REQUIRE_SIMULATORS", "") not in ("", "0")


def pytest_report_header(config):
    return [discover.summary_line()]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    terminalreporter.write_line(discover.summary_line())


def _missing(marker: str) -> str | None:
    where = discover.found()
    if marker == "timeloop" and where["timeloop-model"] is None:
        return "timeloop-model not found (set LOOPLAB_SIMULATORS=DIR or put it on PATH; docs/timeloop.md)"
    if marker == "pytimeloop" and where["pytimeloop"] is None:
        return "pytimeloop bindings not importable (install them: docs/timeloop.md)"
    return None


def pytest_collection_modifyitems(config, items):
    if REQUIRE:
        return
    for item in items:
        for marker in ("timeloop", "pytimeloop"):
            if item.get_closest_marker(marker) is not None and (why := _missing(marker)) is not None:
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """LOOPLAB_REQUIRE_SIMULATORS: a live test whose simulator is missing fails (before any skipif can skip)."""
    if not REQUIRE:
        return
    for marker in ("timeloop", "pytimeloop"):
        if item.get_closest_marker(marker) is None:
            continue
        why = _missing(marker)
        if why is None and marker == "timeloop" and discover.found()["accelergy"] is None:
            why = "accelergy not found (install the bundle's Python parts: DIR/install.sh)"
        if why is not None:
            pytest.fail(f"LOOPLAB_REQUIRE_SIMULATORS is set but {why}", pytrace=False)


@pytest.fixture(scope="session")
def ref_dir() -> Path:
    return REF


@pytest.fixture(scope="session")
def ref_cases() -> list[dict]:
    """Every recorded case (5184 rows) from cases.jsonl.gz."""
    with gzip.open(REF / "cases.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="session")
def have_accelergy() -> bool:
    return shutil.which("accelergy") is not None


@pytest.fixture(scope="session")
def live_cache(tmp_path_factory) -> Path:
    """A ``LOOPLAB_CACHE`` root shared by the live tests, so Accelergy runs once per architecture per session
    (``<root>/accelergy`` is the ERT/ART cache)."""
    return tmp_path_factory.mktemp("looplab-cache")
