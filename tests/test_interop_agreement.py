"""The analytical model against the pinned timeloop-model on random valid and invalid mappings of the official
designs and variants (recorded once by bench/interop_agreement.py into tests/data/interop/agreement)."""

from __future__ import annotations

from pathlib import Path

from looplab.interop.agreement import agreement, check_folder

AGREE = Path(__file__).parent / "data" / "interop" / "agreement"


def test_recorded_random_mappings_agree_with_timeloop_model():
    rows = check_folder(AGREE)
    a = agreement(rows)
    assert a["rows"] >= 100 and a["valid_rows"] >= 20
    bad = [(r["design"], r["variant"], r["layer"], r["valid"], r["model_valid"], r.get("error"))
           for r in rows if r["valid"] != r["model_valid"]]
    assert not bad, bad[:5]
    assert a["failed_level_agreement"] == 1.0
    assert a["cycles_exact"] == 1.0
    # the recorded energy is the summary line's two-decimal uJ: the model rounds to it on every valid row
    assert a["energy_within_summary_rounding"] == 1.0
    assert a["energy_within_0.1pct"] >= 0.99
