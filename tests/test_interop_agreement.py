"""The analytical model against the pinned timeloop-model on random valid and invalid mappings of the official
designs and variants (recorded once by bench/interop_agreement.py into tests/data/interop/agreement)."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_energy_by_action_sums_to_the_energy_with_leakage():
    """``evaluate`` splits the whole energy by action: the leakage of the designs whose ERTs charge it is in
    ``leakage``, and the actions sum to ``energy_pJ``."""
    import json

    from looplab.analytical.api import evaluate, read_problem_spec_file
    from looplab.archspec import parse_arch
    from looplab.energy.ert import load_ert
    from mappers.mapping import Mapping

    rows = [json.loads(s) for s in (AGREE / "cases.jsonl").read_text().splitlines() if s.strip()]
    leaky = 0
    for r in {r["design"]: r for r in rows if r["valid"]}.values():
        arch = parse_arch(AGREE / r["arch"])
        spec = read_problem_spec_file(AGREE / r["problem"])
        m = Mapping.from_yaml(r["mapping"], arch.storage_names, dim_names=spec.dim_names,
                              tensor_names=spec.tensor_names)
        res = evaluate(arch, load_ert(AGREE / r["ert"]), dict(spec.dims), m)
        assert sum(res.energy_by_action.values()) == pytest.approx(res.energy_pJ, rel=1e-9), r["design"]
        assert sum(lv.energy_pJ for lv in res.levels.values()) == pytest.approx(res.energy_pJ, rel=1e-9)
        leaky += res.energy_by_action["leakage"] > 0
    assert leaky >= 2  # eyeriss_like and the tutorial Eyeriss designs charge leakage
