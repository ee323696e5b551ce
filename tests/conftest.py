"""Shared fixtures: the recorded real-Timeloop reference set copied into tests/data/reference."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REF = DATA / "reference"


@pytest.fixture(scope="session")
def ref_dir() -> Path:
    return REF


@pytest.fixture(scope="session")
def ref_cases() -> list[dict]:
    """Every recorded case (5184 rows) from cases.jsonl.gz."""
    with gzip.open(REF / "cases.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in fh]
