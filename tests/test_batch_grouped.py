"""``evaluate --batch --backend analytical``: cases grouped by (arch, problem, ERT), each file parsed once, one
``evaluate_batch`` per group, with the same results as evaluating case by case."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import looplab.analytical.grouped as grouped
from arch_gen import get_preset, render_arch
from looplab.archspec import parse_arch
from looplab.backends import get_backend
from looplab.cli import main
from looplab.sweep.rows import mapping_yaml_texts, spatial_levels
from looplab.workloads import load_workload
from mappers.sampler import sample_mappings


def _make_cases(root: Path, ref_dir: Path, per_pair: int = 6) -> list[dict]:
    """2 presets x 2 ResNet-50 layers x per_pair mappings (half valid), one mapping file per case; the Simba
    preset's cases use its recorded ERT, the Gemmini one's the estimator."""
    layers = load_workload("resnet50")[:2]
    cases = []
    for name, ert in (("simba_final", ref_dir / "archs" / "simba_final" / "ERT.yaml"), ("gemmini_default", None)):
        cfg = get_preset(name)
        (root / f"{name}.yaml").write_text(render_arch(cfg))
        arch = parse_arch(root / f"{name}.yaml")
        for li, layer in enumerate(layers):
            (root / f"l{li}.yaml").write_text(layer.to_problem_yaml())
            batch, _ = sample_mappings(arch, layer.dims, per_pair // 2, per_pair - per_pair // 2, li, cfg.family)
            for k, text in enumerate(mapping_yaml_texts(batch, spatial_levels(arch))):
                (root / f"m_{name}_{li}_{k}.yaml").write_text(text)
                cases.append({"id": f"{name}/{li}/{k}", "arch": f"{name}.yaml", "problem": f"l{li}.yaml",
                              "mapping": f"m_{name}_{li}_{k}.yaml", "ert": str(ert) if ert else None})
    (root / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return cases


def _rows(path: Path) -> dict:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def _same(a: dict, b: dict) -> bool:
    keys = ("valid", "failed_level", "reason", "cycles", "backend", "error_kind")
    if any(a.get(k) != b.get(k) for k in keys):
        return False
    ea, eb = a["energy_pJ"], b["energy_pJ"]
    return (ea is None and eb is None) or math.isclose(ea, eb, rel_tol=1e-12)


def test_grouped_batch_parses_once_and_matches_case_by_case(tmp_path, ref_dir, monkeypatch, capsys):
    cases = _make_cases(tmp_path, ref_dir)
    import looplab.analytical.api as api

    calls = {"evaluate_batch": 0, "parse_arch": 0}

    def counting(name, fn):
        def wrapper(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(api, "evaluate_batch", counting("evaluate_batch", api.evaluate_batch))
    monkeypatch.setattr(grouped, "evaluate_batch", counting("evaluate_batch", grouped.evaluate_batch), raising=False)
    monkeypatch.setattr(grouped, "parse_arch", counting("parse_arch", grouped.parse_arch), raising=False)
    out = tmp_path / "results.jsonl"
    assert main(["evaluate", "--batch", str(tmp_path / "cases.jsonl"), "--out", str(out), "--backend", "analytical",
                 "--no-progress", "--jobs", "1"]) == 0
    assert "24 evaluated (12 valid, 12 invalid, 0 failed)" in capsys.readouterr().out
    assert calls == {"evaluate_batch": 4, "parse_arch": 2}  # one call per (arch, layer) group, one parse per arch
    rows = _rows(out)
    assert set(rows) == {c["id"] for c in cases}
    be = get_backend("analytical")
    for c in cases:
        one = be.evaluate(tmp_path / c["arch"], tmp_path / c["problem"], tmp_path / c["mapping"],
                          Path(c["ert"]) if c["ert"] else None).to_row(c["id"])
        assert _same(rows[c["id"]], one), (rows[c["id"]], one)
        assert rows[c["id"]]["wall_s"] > 0


def test_bad_files_cost_only_their_cases_and_pool_agrees(tmp_path, ref_dir, monkeypatch, capsys):
    cases = _make_cases(tmp_path, ref_dir)
    (tmp_path / cases[0]["mapping"]).write_text("mapping: [{target: Nowhere, type: temporal}]\n")
    (tmp_path / "gemmini_default.yaml").write_text("architecture: 3\n")  # every Gemmini case fails to parse
    out1, out2 = tmp_path / "r1.jsonl", tmp_path / "r2.jsonl"
    assert main(["evaluate", "--batch", str(tmp_path / "cases.jsonl"), "--out", str(out1), "--backend",
                 "analytical", "--no-progress", "--jobs", "1"]) == 0
    monkeypatch.setattr(grouped, "POOL_MIN_CASES", 0)  # the worker-process reader on a small batch
    assert main(["evaluate", "--batch", str(tmp_path / "cases.jsonl"), "--out", str(out2), "--backend",
                 "analytical", "--no-progress", "--jobs", "2"]) == 0
    capsys.readouterr()
    r1, r2 = _rows(out1), _rows(out2)
    assert r1.keys() == r2.keys() and all(_same(r1[k], r2[k]) for k in r1)
    bad = r1[cases[0]["id"]]
    assert bad["valid"] is False and bad["error_kind"] == "parse" and "Nowhere" in bad["reason"]
    gem = [r for k, r in r1.items() if k.startswith("gemmini")]
    assert len(gem) == 12 and all(r["error_kind"] == "parse" and "gemmini_default.yaml" in r["reason"] for r in gem)
    ok = [r for k, r in r1.items() if k.startswith("simba") and k != cases[0]["id"]]
    assert len(ok) == 11 and all("error_kind" not in r or r["error_kind"] != "parse" for r in ok)


@pytest.mark.parametrize("progress_every", ["0"])
def test_batch_progress_lines_on_a_log_file(tmp_path, ref_dir, monkeypatch, capsys, progress_every):
    _make_cases(tmp_path, ref_dir, per_pair=2)
    monkeypatch.setenv("LOOPLAB_PROGRESS_EVERY", progress_every)
    assert main(["evaluate", "--batch", str(tmp_path / "cases.jsonl"), "--out", str(tmp_path / "r.jsonl"),
                 "--backend", "analytical", "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "evaluate: 8/8 eval (100.0%)" in err, err


def test_analytical_json_fills_energy_by_action_and_extra(ref_dir, capsys):
    """``--json`` of the analytical backend: per-action energies with timeloop-model's keys and values."""
    from looplab.timeloop.parse_stats import parse_stats_text

    runs = [d for d in sorted((ref_dir / "full").iterdir()) if (d / "timeloop-model.stats.txt").is_file()]
    assert runs
    for d in runs:
        args = ["evaluate", *(str(d / n) for n in ("arch.yaml", "problem.yaml", "mapping.yaml")), "--ert",
                str(d / "ERT.yaml"), "--backend", "analytical", "--json"]
        rc = main(args)
        got = json.loads(capsys.readouterr().out)
        if rc != 0:
            continue
        want = parse_stats_text((d / "timeloop-model.stats.txt").read_text())
        assert got["energy_by_action"].keys() == want.energy_by_action.keys()
        for k, v in want.energy_by_action.items():
            assert math.isclose(got["energy_by_action"][k], v, rel_tol=1e-6, abs_tol=1e-6), (d.name, k)
        assert math.isclose(got["extra"]["energy_pJ_levels_sum"], want.extra["energy_pJ_levels_sum"], rel_tol=1e-6)
        assert got["wall_s"] > 0
