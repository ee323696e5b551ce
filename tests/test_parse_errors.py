"""Timeloop ERROR lines -> (level, kind, reason, mapped, available), against the recorded real runs."""

from __future__ import annotations

import json
import re

import pytest

from looplab.result import INVALID_KINDS
from looplab.timeloop.errors import find_error, format_error_line, parse_error_line


def test_every_invalid_full_run(ref_dir, ref_cases):
    by_id = {c["case_id"]: c for c in ref_cases}
    index = json.loads((ref_dir / "full" / "index.json").read_text())
    invalid = [e for e in index if not e["valid"]]
    assert len(invalid) >= 5
    for e in invalid:
        run = ref_dir / "full" / e["dir"]
        rec = by_id[e["case_id"]]
        assert not (run / "timeloop-model.stats.txt").exists()
        err = find_error((run / "stderr.txt").read_text(), (run / "stdout.txt").read_text())
        assert err is not None, e["dir"]
        assert format_error_line(err.level, err.reason) == rec["error"] == e["error"]
        assert err.kind == rec["error_kind"]
        nums = [int(n) for n in re.findall(r"\d+", err.reason)]
        assert (err.mapped, err.available) == (nums[-2], nums[-1])
        assert err.mapped > err.available
        # the record's list of failing levels starts with the reported one
        assert rec["all_failing_levels"][0][1] == err.reason


def test_every_recorded_error_line(ref_cases):
    """All invalid records (capacity and fan-out, every level): kind and numbers recovered from the line."""
    n = 0
    for rec in ref_cases:
        if rec["valid"]:
            continue
        err = parse_error_line(rec["error"])
        assert err.kind == rec["error_kind"] and err.kind in INVALID_KINDS
        assert rec["error"] == f"ERROR: couldn't map level {err.level}: {err.reason}"
        assert err.mapped is not None and err.available is not None and err.mapped > err.available
        n += 1
    assert n == sum(not r["valid"] for r in ref_cases) > 0


@pytest.mark.parametrize("line,level,kind,mapped,available", [
    ("ERROR: couldn't map level GlobalBuffer: mapped tile size 70656 exceeds buffer capacity 65536",
     "GlobalBuffer", "capacity", 70656, 65536),
    ("ERROR: couldn't map level MACC: mapped max Arithmetic Y expansion 16 exceeds hardware instances 8",
     "MACC", "fanout", 16, 8),
    ("ERROR: couldn't map level PE_buf: mapped instances 12 for data-space Inputs exceeds available hardware "
     "instances 8", "PE_buf", "fanout", 12, 8),
    ("ERROR: couldn't map level GLB: mapped X expansion 32 exceeds available hardware instances 16",
     "GLB", "fanout", 32, 16),
    ("ERROR: couldn't map level GLB: some per-level constraint is not satisfied", "GLB", "constraint", None, None),
])
def test_line_shapes(line, level, kind, mapped, available):
    err = parse_error_line(line)
    assert (err.level, err.kind, err.mapped, err.available) == (level, kind, mapped, available)


def test_non_level_errors():
    err = parse_error_line("ERROR: Mapping violates architecture constraints.")
    assert (err.level, err.kind) == (None, "constraint")
    err = parse_error_line("ERROR: while parsing mapping: factors for dimension C do not multiply to 64")
    assert (err.level, err.kind) == (None, "parse")
    assert parse_error_line("Warning: neither block size nor cluster size specified") is None
    # a level error wins over an earlier generic ERROR line
    err = find_error("ERROR: something\n", "ERROR: couldn't map level X: mapped tile size 3 exceeds buffer "
                                           "capacity 2\n")
    assert err.level == "X"
    assert find_error("all fine\n", "") is None
