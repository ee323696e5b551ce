"""ERT/ART summaries and accelergy.log: which estimator produced each component."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.timeloop.parse_accelergy import (
    component_estimators,
    estimators_by_class,
    parse_accelergy_log,
    parse_art_summary,
    parse_ert_summary,
    uses_dummy,
)

SHARED_LOG_DIR = Path("/work/shared/reference/archs")  # the full reference keeps accelergy.log; optional here


def _archs(ref_dir):
    archs = sorted(p for p in (ref_dir / "archs").iterdir() if p.is_dir())
    assert len(archs) == 9
    return archs


def test_estimators_match_params_json(ref_dir):
    """The per-component estimator read from the summaries equals the one recorded in params.json."""
    for arch in _archs(ref_dir):
        got = component_estimators(arch / "ERT_summary.yaml", arch / "ART_summary.yaml")
        assert got == json.loads((arch / "params.json").read_text())["estimators"], arch.name
        assert uses_dummy(got) == []


def test_summaries_cover_the_ert_components(ref_dir):
    import yaml

    for arch in _archs(ref_dir):
        ert = parse_ert_summary(arch / "ERT_summary.yaml")
        art = parse_art_summary(arch / "ART_summary.yaml")
        tables = yaml.safe_load((arch / "ERT.yaml").read_text())["ERT"]["tables"]
        names = {" ".join(t["name"].split()) for t in tables}
        assert set(ert) == names == set(art), arch.name
        for comp, entry in ert.items():
            assert entry["actions"], comp
            assert all(v >= 0 for act in entry["actions"].values() for v in act.values())
        assert all(a["area"] >= 0 for a in art.values())


def test_summary_errors_name_the_file(tmp_path):
    bad = tmp_path / "ERT_summary.yaml"
    bad.write_text("something: else\n")
    with pytest.raises(LooplabError, match="ERT_summary"):
        parse_ert_summary(bad)
    bad.write_text("ERT_summary: [unclosed\n")
    with pytest.raises(LooplabError, match="YAML"):
        parse_ert_summary(bad)


# Lines copied from reference/archs/simba_final/accelergy.log (Accelergy 0.4, real plug-ins; trailing blanks
# stripped). The lone CactiSRAM answer has no request line in the excerpt and must be ignored.
LOG_EXCERPT = """\
2026-11-23 09:02:57 INFO        ENERGY ESTIMATION for regfile(depth=1, width=8, datawidth=8, n_rw_ports=1, \
instances=1024, meshX=16, technology=45nm, global_cycle_seconds=1e-09, action_latency_cycles=1, cycle_seconds=1e-09, \
n_instances=1, n_ports=2, latency=5ns).read(data_delta=1, address_delta=0, global_cycle_seconds=1e-09, \
action_latency_cycles=1)
2026-11-23 09:02:57 INFO        Aladdin_table estimated 0.009p with accuracy 70%.
2026-11-23 09:02:57 INFO
2026-11-23 09:02:58 INFO        CactiSRAM estimated 2.369864e-12 with accuracy 80%. Messages:
2026-11-23 09:03:06 INFO        AREA ESTIMATION for regfile(depth=1, width=8, datawidth=8, n_rw_ports=1, \
instances=1024, meshX=16, technology=45nm, global_cycle_seconds=1e-09, action_latency_cycles=1, cycle_seconds=1e-09, \
n_instances=1, n_ports=2, latency=5ns)
2026-11-23 09:03:06 INFO        Aladdin_table estimated 5.98u^2 with accuracy 70%. Messages:
"""


def test_log_excerpt():
    est = parse_accelergy_log(LOG_EXCERPT)
    assert [(e.kind, e.component_class, e.estimator, e.value, e.accuracy) for e in est] == [
        ("energy", "regfile", "Aladdin_table", "0.009p", 70.0),
        ("area", "regfile", "Aladdin_table", "5.98u^2", 70.0),
    ]
    assert est[0].target.endswith(".read(data_delta=1, address_delta=0, global_cycle_seconds=1e-09, "
                                  "action_latency_cycles=1)")


@pytest.mark.skipif(not SHARED_LOG_DIR.is_dir(), reason="full reference (with accelergy.log) not present")
def test_full_logs_agree_with_summaries(ref_dir):
    class_of = {"Aladdin_table": {"regfile", "intmac"}, "CactiSRAM": {"SRAM"}, "CactiDRAM": {"DRAM"}}
    for arch in _archs(ref_dir):
        log = SHARED_LOG_DIR / arch.name / "accelergy.log"
        est = parse_accelergy_log(log)
        assert est and all(e.estimator for e in est), arch.name
        by_class = estimators_by_class(est)
        assert uses_dummy(by_class) == []
        used = set(component_estimators(arch / "ERT_summary.yaml").values())
        assert set().union(*by_class.values()) == used
        for estimator, classes in class_of.items():
            for cls in classes & set(by_class):
                assert by_class[cls] == {estimator}
