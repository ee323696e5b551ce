"""Co-search and the fixed-hardware mapper (mappers.search): encoding, rounding, local search, network cost,
design inference, the methods' outputs, and the live check of emitted files in the real timeloop-model."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from arch_gen import GemminiConfig, render_arch
from looplab.analytical import evaluate_batch, evaluate_files
from looplab.analytical.model import level_costs
from looplab.analytical.torch_model import evaluate_torch
from looplab.archspec import parse_arch
from looplab.energy.ert import load_ert
from looplab.energy.estimator import estimate_ert
from looplab.errors import LooplabError
from looplab.workloads import Layer, write_catalog
from mappers.mapping import MappingBatch
from mappers.sampler import sample_mappings
from mappers.search.encoding import Encoding
from mappers.search.hardware import GemminiSpace
from mappers.search.local import LayerProblem, local_search
from mappers.search.network import network_cost

REF = Path(__file__).parent / "data" / "reference" / "archs" / "gemmini_default"
CONV = {"R": 3, "S": 3, "P": 14, "Q": 14, "C": 32, "K": 64, "N": 1, "Wstride": 1, "Hstride": 1, "Wdilation": 1,
        "Hdilation": 1}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small torch models run fastest on one thread (and do not oversubscribe a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def gemmini():
    arch = parse_arch(REF / "arch.yaml")
    return arch, load_ert(REF / "ERT.yaml")


@pytest.fixture()
def tiny_workload(tmp_path) -> Path:
    """Three small layers with counts, one strided (two stride groups)."""
    layers = [Layer(3, 3, 8, 8, 16, 32, name="tiny.conv", count=2),
              Layer(3, 3, 4, 4, 32, 32, Wstride=2, Hstride=2, name="tiny.down", count=1),
              Layer(1, 1, 1, 1, 64, 40, name="tiny.fc", count=3)]
    return write_catalog(tmp_path / "tiny.json", "tiny", layers)


def test_encoding_round_trips_sampled_mappings(gemmini):
    arch, _ = gemmini
    enc = Encoding(arch, CONV)
    batch, _ = sample_mappings(arch, CONV, 40, 0, seed=3)
    back = enc.decode(enc.encode(batch), batch.perm)
    for f in ("temporal", "spatial_x", "spatial_y", "keep"):
        assert np.array_equal(getattr(back, f), getattr(batch, f)), f
    # mutations keep every dimension's product equal to the layer
    rng = np.random.default_rng(0)
    c, p = enc.mutate(rng, enc.encode(batch), batch.perm, np.full(len(batch), 3), p_perm=1.0)
    m = enc.decode(c, p)
    prod = (m.temporal * m.spatial_x * m.spatial_y).prod(axis=1)
    assert (prod == np.array([CONV[d] for d in "RSPQCKN"])).all()
    assert (np.sort(m.perm, axis=2) == np.arange(7)).all()


def test_rounding_is_exact_on_integers_and_legal_elsewhere(gemmini):
    arch, _ = gemmini
    enc = Encoding(arch, CONV)
    batch, _ = sample_mappings(arch, CONV, 30, 0, seed=5)
    lf = np.log2(np.stack([batch.temporal, batch.spatial_x, batch.spatial_y], 1).astype(float))
    r = enc.round_log2(lf)
    assert np.array_equal(r.temporal, batch.temporal) and np.array_equal(r.spatial_y, batch.spatial_y)
    noisy = lf + np.random.default_rng(1).normal(0, 0.7, lf.shape)
    cap = np.full((3, enc.L), np.inf)
    cap[1:] = 2.0  # spatial factors at most 4
    r = enc.round_log2(noisy, cap)
    prod = (r.temporal * r.spatial_x * r.spatial_y).prod(axis=1)
    assert (prod == np.array([CONV[d] for d in "RSPQCKN"])).all()
    assert (r.spatial_x <= 4).all() and (r.spatial_y <= 4).all()
    assert (r.temporal[:, 0, [0, 1, 4, 5]] == 1).all()  # never a weight factor in the one-word register


def test_local_search_beats_random_sampling_and_is_valid(gemmini):
    arch, ert = gemmini
    prob = LayerProblem(arch, ert, CONV)
    sample = prob.sample(500, 0)
    _, _, valid, score = prob.evaluate(sample)
    res = local_search(prob, 0, max_evals=20_000)
    assert res.evaluations <= 20_000 + 64 * 16 + 1024
    r = evaluate_batch(arch, ert, CONV, res.batch)
    assert r.valid[0]
    assert np.log(float(r.cycles[0]) * r.energy_pJ[0]) == pytest.approx(res.score)
    assert res.score < score[valid].min()  # strictly better than the best of 500 random valid mappings
    assert [s for _, s in res.trace] == sorted((s for _, s in res.trace), reverse=True)


def test_map_layer_writes_timeloop_mapping_and_result(gemmini, tmp_path):
    from looplab.workloads import write_problem_yaml
    from mappers.search.fixed import map_layer

    prob = write_problem_yaml(Layer.from_dims(CONV, name="c"), tmp_path / "problem.yaml")
    out = tmp_path / "out"
    res = map_layer(REF / "arch.yaml", prob, out, metric="edp", seed=1, timeout_s=20, ert=REF / "ERT.yaml",
                    progress=False)
    assert res["valid"] and res["backend"] == "looplab"
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["edp"] == pytest.approx(res["cycles"] * res["energy_pJ"])
    again = evaluate_files(REF / "arch.yaml", prob, out / "mapping.yaml", REF / "ERT.yaml")
    assert again.valid and again.cycles == res["cycles"] and again.energy_pJ == pytest.approx(res["energy_pJ"])
    # energy as the metric: no more energy than the EDP search's mapping
    res_e = map_layer(REF / "arch.yaml", prob, tmp_path / "oe", metric="energy", seed=1, timeout_s=20,
                      ert=REF / "ERT.yaml", progress=False)
    assert res_e["energy_pJ"] <= res["energy_pJ"] * (1 + 1e-9)
    with pytest.raises(LooplabError, match="timeloop-mapper backend only"):
        map_layer(REF / "arch.yaml", prob, out, mapper_config="x.yaml", progress=False)


def test_map_cli_bad_input_is_one_error_line(tmp_path, capsys):
    from looplab.cli import main

    assert main(["map", str(REF / "arch.yaml"), str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.yaml: no such file" in capsys.readouterr().err


def test_network_cost_is_dosa_sum_of_counts():
    cyc, en, counts = np.array([10.0, 20.0]), np.array([3.0, 5.0]), np.array([2.0, 1.0])
    lat, e, edp = network_cost(cyc, en, counts)
    assert (lat, e, edp) == (40.0, 11.0, 440.0)


def test_inferred_design_holds_the_mappings():
    space = GemminiSpace()
    cfg = space.infer(12, 70_000, 300)
    assert (cfg.pe_dim, cfg.sp_kib, cfg.acc_kib) == (16, 128, 32)  # 70000 words -> 128 KiB; 300*16/256 -> 32 KiB
    assert space.infer(1000, 1e12, 1e12).to_params() == {"pe_dim": 128, "sp_kib": 2048, "acc_kib": 2048}
    arch = parse_arch(render_arch(cfg))
    assert arch.storage[1].attributes["depth"] * 16 >= 300 * 16  # accumulator words per column
    rng = np.random.default_rng(0)
    designs = space.random(rng, 50)
    assert all(d.pe_dim in space.choices["pe_dim"] and d.sp_kib in space.choices["sp_kib"] for d in designs)


def test_torch_model_rows_of_several_layers_and_designs(gemmini):
    """One call over rows of two layers with equal strides, each on its own design, equals per-layer calls."""
    layers = [dict(CONV), {**CONV, "R": 1, "S": 1, "P": 7, "Q": 7, "C": 64, "K": 16}]
    cfgs = [GemminiConfig(16, 128, 32), GemminiConfig(32, 256, 64)]
    archs = [parse_arch(render_arch(c)) for c in cfgs]
    lcs = [level_costs(a, estimate_ert(a)) for a in archs]
    batches = [sample_mappings(archs[0], d, 4, 0, seed=2)[0] for d in layers]
    whole = MappingBatch.concat(batches)
    from looplab.analytical.model import LevelCosts

    rows = lambda f: np.stack([getattr(lcs[i // 4], f) for i in range(8)])  # noqa: E731
    lc = LevelCosts(*(rows(f) for f in ("block", "e_read", "e_write", "e_update", "read_bw", "write_bw",
                                        "shared_bw")), np.array([lcs[i // 4].e_mac for i in range(8)]), 0)
    out = evaluate_torch(archs[0], lc, layers[0], whole)
    for i, (d, b) in enumerate(zip(layers, batches, strict=True)):
        ref = evaluate_batch(archs[i], estimate_ert(archs[i]), d, b)
        assert np.allclose(out["energy_pJ"][4 * i:4 * i + 4].detach().numpy(), ref.energy_pJ, rtol=1e-9)
        assert np.array_equal(out["cycles"][4 * i:4 * i + 4].detach().numpy(), ref.cycles)


def test_mlp_surrogate_follows_the_estimator_contract():
    from sklearn.base import clone

    from mappers.search.mindmappings import MLPSurrogate

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 3))
    y = np.stack([X[:, 0] ** 2 + X[:, 1], np.sin(2 * X[:, 2])], 1)
    est = MLPSurrogate(hidden=(32, 32), epochs=60, lr=1e-2, batch_size=64)
    assert est.fit(X, y) is est and hasattr(est, "net_") and not hasattr(clone(est), "net_")
    assert est.score(X[:100], y[:100]) > 0.9
    g = torch.tensor(X[:5], requires_grad=True)
    est.forward_torch(g).sum().backward()
    assert torch.isfinite(g.grad).all() and g.grad.abs().sum() > 0


def test_search_writes_every_output_and_the_files_agree(tiny_workload, tmp_path):
    """All five methods at a small budget: summary, per-method designs whose files the exact model reads back to
    the same per-layer numbers and whose network EDP is (sum count x cycles) x (sum count x energy)."""
    from mappers.search.run import run_search

    out = tmp_path / "s"
    opts = {"gradient": {"starts": 3, "steps_per_round": 4, "max_steps": 8},
            "mindmappings": {"epochs": 5, "max_steps": 20, "starts": 3}}
    summary = run_search(tiny_workload, out, ["gradient", "random", "bo", "botorch", "mindmappings"],
                         budget=400, seed=0, energy="estimator", progress=False, options=opts)
    assert (out / "convergence.png").stat().st_size > 0 and "## Settings" in (out / "report.md").read_text()
    on_disk = json.loads((out / "summary.json").read_text())
    assert set(on_disk) == {"gradient", "random", "bo", "botorch", "mindmappings"}
    assert on_disk["random"]["evaluations"] == 400
    assert json.loads((out / "run.json").read_text())["final_energy"] == "estimator"
    for m in ("gradient", "random", "bo", "botorch", "mindmappings"):
        r = summary[m]
        assert r["evaluations"] <= 400 and r["best_edp"] is not None, m
        net = json.loads((out / m / "network.json").read_text())
        lat = sum(x["count"] * x["cycles"] for x in net["layers"])
        en = sum(x["count"] * x["energy_pJ"] for x in net["layers"])
        assert net["edp"] == pytest.approx(lat * en) and r["best_edp"] == pytest.approx(net["edp"])
        assert r["best_edp"] <= min(v for _, v in r["trace"]) * (1 + 1e-9)
        for x in net["layers"]:
            d = out / m / x["folder"]
            res = evaluate_files(out / m / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", out / m / "ERT.yaml")
            assert res.valid and res.cycles == x["cycles"], (m, x["folder"])
            assert res.energy_pJ == pytest.approx(x["energy_pJ"], rel=1e-6)


def test_search_cli_errors_are_one_line(tmp_path, capsys):
    from looplab.cli import main

    assert main(["search", "--workload", "nosuch", "--out", str(tmp_path)]) == 2
    assert "unknown workload 'nosuch'" in capsys.readouterr().err
    assert main(["search", "--workload", "bert", "--method", "grad", "--out", str(tmp_path)]) == 2
    assert "unknown method" in capsys.readouterr().err


needs_timeloop = pytest.mark.skipif(shutil.which("timeloop-model") is None or shutil.which("accelergy") is None,
                                    reason="needs the real timeloop-model and accelergy on PATH")


def _timeloop(arch: Path, problem: Path, mapping: Path, cwd: Path, *tables: Path) -> tuple[int, float]:
    from looplab.timeloop.parse_stats import parse_stats_text

    cwd.mkdir(parents=True, exist_ok=True)
    subprocess.run(["timeloop-model", str(arch), str(problem), str(mapping), *map(str, tables)], cwd=cwd,
                   capture_output=True, timeout=300, check=False)
    stats = cwd / "timeloop-model.stats.txt"
    assert stats.is_file(), f"timeloop-model wrote no stats in {cwd}"
    r = parse_stats_text(stats.read_text())
    return r.cycles, r.energy_pJ


@pytest.mark.timeloop
@needs_timeloop
def test_emitted_designs_run_in_real_timeloop_with_equal_edp(tiny_workload, tmp_path):
    """A small search (Accelergy's tables for the reported designs): every emitted arch/problem/mapping of two
    methods runs in the real timeloop-model (which runs Accelergy itself) with the cycles and energy of
    network.json, so the network EDP is equal; and `looplab map --backend looplab` output likewise."""
    from mappers.search.fixed import map_layer
    from mappers.search.run import run_search

    out = tmp_path / "s"
    run_search(tiny_workload, out, ["gradient", "random"], budget=200, seed=1, energy="accelergy", progress=False,
               options={"gradient": {"starts": 2, "steps_per_round": 3, "max_steps": 3}})
    for m in ("gradient", "random"):
        net = json.loads((out / m / "network.json").read_text())
        lat = en = 0.0
        for x in net["layers"]:
            d = out / m / x["folder"]
            cyc, e = _timeloop(out / m / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "tl")
            assert cyc == x["cycles"]
            assert e == pytest.approx(x["energy_pJ"], rel=2e-4)  # stats.txt prints energies rounded
            lat, en = lat + x["count"] * cyc, en + x["count"] * e
        assert lat * en == pytest.approx(net["edp"], rel=2e-4)
    prob = out / "gradient" / json.loads((out / "gradient" / "network.json").read_text())["layers"][0]["folder"]
    res = map_layer(out / "gradient" / "arch.yaml", prob / "problem.yaml", tmp_path / "m", seed=0, timeout_s=30,
                    progress=False)
    cyc, e = _timeloop(out / "gradient" / "arch.yaml", prob / "problem.yaml", tmp_path / "m" / "mapping.yaml",
                       tmp_path / "m" / "tl")
    assert cyc == res["cycles"] and e == pytest.approx(res["energy_pJ"], rel=2e-4)
