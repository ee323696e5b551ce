"""Gemmini RTL-latency predictors (surrogates.rtl) on a seeded 240-row sample of DOSA's FireSim training file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from looplab.cli import main
from looplab.errors import LooplabError
from mappers.dosa import dosa_timeloop_cycles, read_dosa_csv
from surrogates.rtl.counts import CountModel, count_inputs, gemmini_counts
from surrogates.rtl.data import load_rtl_csv
from surrogates.rtl.estimators import RtlLatencyRegressor
from surrogates.rtl.evaluate import (
    cross_validate,
    extreme_rows,
    full_array_rows,
    group_kfold,
    metrics,
    random_share,
)
from surrogates.rtl.features import design_matrix, rtl_features

DOSA = Path(__file__).parent / "data" / "dosa"
SAMPLE = DOSA / "firesim_training_sample240.csv"


@pytest.fixture(scope="module")
def data():
    return load_rtl_csv(SAMPLE, require_target=True)


def test_rows_in_file_order_with_dosa_timeloop_cycles(data):
    rows = read_dosa_csv(SAMPLE)
    assert list(data.lines) == [r.line for r in rows] == list(range(2, 2 + len(rows)))
    assert np.array_equal(data.rtl_cycles, [r.targets["gemmini_cycle"] for r in rows])
    # the analytical model reproduces DOSA's Timeloop (cycles recovered from target.edp) on almost every row
    tl = np.array([dosa_timeloop_cycles(r.targets)[0] for r in rows])
    rel = np.abs(data.ana_cycles - tl) / tl
    assert np.mean(rel < 1e-3) > 0.95, np.sort(rel)[-10:]
    assert len(set(data.layer_ids)) > 40


def test_csv_without_targets_and_bad_rows(tmp_path):
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(5)
    p = tmp_path / "no_target.csv"
    df.drop(columns=[c for c in df.columns if c.startswith("target.")]).to_csv(p, index=False)
    d = load_rtl_csv(p)
    assert d.rtl_cycles is None and len(d) == 5 and (d.ana_cycles > 0).all()
    with pytest.raises(LooplabError, match="gemmini_cycle"):
        load_rtl_csv(p, require_target=True)
    df.loc[3, "mapping.mapping"] = "L3[WIO] K7 - L0[W] P2"
    df.to_csv(p, index=False)
    with pytest.raises(LooplabError, match="line 5"):
        load_rtl_csv(p)


def test_rtl_features_of_one_mapping(tmp_path):
    # L3[WIO] K8 Q28 - L2[WI] N1 K4X - L1[O] K2 S7 R7 Q4 P7 C3X - L0[W] P16 on R=S=7, P=Q=112, C=3, K=64, stride 2
    df = pd.read_csv(DOSA / "firesim_training_head30.csv", dtype=str, keep_default_na=False).head(1)
    df.to_csv(tmp_path / "one.csv", index=False)
    f = rtl_features(load_rtl_csv(tmp_path / "one.csv")).iloc[0]
    assert f["log_Cx"] == pytest.approx(np.log2(3)) and f["log_Kx"] == 2
    assert f["used_C"] == pytest.approx(3 / 16) and f["used_K"] == pytest.approx(4 / 16)
    assert f["log_blocks"] == 0
    assert f["log_rows_per_preload"] == 4  # P16 at the Registers
    assert f["log_iter_DRAM"] == pytest.approx(np.log2(8 * 28))
    assert f["log_DRAM_K"] == 3 and f["log_Accumulator_RS"] == pytest.approx(np.log2(49))
    macs = 7 * 7 * 112 * 112 * 3 * 64
    assert f["log_macs"] == pytest.approx(np.log2(macs))
    # compute cycles = MACs / used PEs; preloads = compute cycles / rows per preload
    assert f["log_compute"] == pytest.approx(np.log2(macs / 12))
    assert f["log_preloads"] == pytest.approx(np.log2(macs / 12 / 16))


def test_gemmini_counts_of_one_mapping():
    # L3[WIO] K8 Q28 - L2[WI] N1 K4X - L1[O] K2 S7 R7 Q4 P7 C3X - L0[W] P16 on R=S=7, P=Q=112, C=3, K=64, stride 2:
    # one call per DRAM iteration (8 x 28) on a tile of R7 S7 P112 Q4 C3 K8 (one C block and one K block of 16)
    t = np.ones((1, 4, 7))
    sp = np.ones((1, 4, 7))
    t[0, 3, [5, 3]] = [8, 28]  # DRAM: K8 Q28
    t[0, 1, [5, 1, 0, 3, 2]] = [2, 7, 7, 4, 7]  # Accumulator: K2 S7 R7 Q4 P7
    t[0, 0, 2] = 16  # Registers: P16
    sp[0, 2, 5], sp[0, 1, 4] = 4, 3  # K4X at the Scratchpad, C3X at the Accumulator
    dims = np.array([[7, 7, 112, 112, 3, 64, 1, 2, 2, 1, 1]])
    c = gemmini_counts(t, sp, dims, 16).iloc[0]
    calls = 8 * 28
    assert c["log_n_calls"] == pytest.approx(np.log2(calls))
    assert c["log_n_stream"] == pytest.approx(np.log2(calls * 112 * 4 * 49))  # pixels x kernel positions
    in_rows, in_cols = (112 - 1) * 2 + 7, (4 - 1) * 2 + 7
    assert c["log_n_in_rows"] == pytest.approx(np.log2(calls * in_rows * in_cols))
    assert c["log_n_w_rows"] == pytest.approx(np.log2(calls * 49 * 3))
    assert c["log_n_out_rows"] == pytest.approx(np.log2(calls * 112 * 4))
    assert c["matmul"] == 0
    fc = np.array([[1, 1, 1, 1, 3, 64, 1, 1, 1, 1, 1]])
    assert gemmini_counts(np.ones((1, 4, 7)), np.ones((1, 4, 7)), fc).iloc[0]["matmul"] == 1


def test_count_model_recovers_cycles_per_count_and_splits_matmuls():
    import torch

    rng = np.random.default_rng(4)
    n = 400
    cols = ["log_n_calls", "log_n_stream", "log_n_in_rows", "log_n_w_rows", "log_n_out_rows", "log_preloads",
            "log_compute_instr"]
    X = pd.DataFrame(rng.uniform(2, 20, (n, len(cols))), columns=cols)
    X["matmul"] = (np.arange(n) % 4 == 0).astype(float)
    X["log_ana"] = rng.uniform(5, 25, n)
    # convolutions pay 100 cycles per call and 2 per streamed row, matrix multiplications 3 per call; plus 0.5 x ana
    y = np.where(X["matmul"] > 0, 3 * np.exp2(X["log_n_calls"]),
                 100 * np.exp2(X["log_n_calls"]) + 2 * np.exp2(X["log_n_stream"])) + 0.5 * np.exp2(X["log_ana"])
    N = count_inputs(X)
    assert N.shape == (n, 15) and np.isneginf(N[X["matmul"].to_numpy() > 0, :7]).all()
    m = CountModel().fit(N, y)
    assert m.coef_[[0, 1, 7, 14]] == pytest.approx([100, 2, 3, 0.5], rel=1e-3)
    assert np.delete(m.coef_, [0, 1, 7, 14]).max() < 1e-3
    assert np.allclose(m.predict(N), y, rtol=1e-4)
    reg = RtlLatencyRegressor(mode="counts", calibrate="none").fit(X, y)
    t = torch.tensor(X.to_numpy(), dtype=torch.float64)
    assert np.allclose(reg.torch_log2(t).numpy(), reg.predict_log2(X), atol=1e-9)
    assert set(reg.count_coefficients().nlargest(4).index) == {"conv n_calls", "conv n_stream", "matmul n_calls",
                                                                "ana"}
    with pytest.raises(LooplabError, match="'rtl' feature set"):
        RtlLatencyRegressor(mode="residual", base="counts").fit(X.drop(columns="matmul"), y)


def test_residual_over_the_count_model_has_a_torch_path():
    import torch

    rng = np.random.default_rng(5)
    d = load_rtl_csv(SAMPLE, require_target=True)
    X = design_matrix(d, "rtl")
    m = RtlLatencyRegressor(mode="residual", estimator="mlp", base="counts", calibrate="none",
                            random_state=int(rng.integers(100))).fit(X, d.rtl_cycles)
    t = torch.tensor(X.to_numpy(), dtype=torch.float32, requires_grad=True)
    out = m.torch_log2(t)
    assert np.allclose(out.detach().numpy(), m.predict_log2(X), atol=1e-3)
    out.sum().backward()
    assert torch.isfinite(t.grad).all() and t.grad[:, list(X.columns).index("log_n_calls")].abs().sum() > 0


def test_estimator_contract_and_analytical_calibration():
    rng = np.random.default_rng(0)
    a = rng.uniform(5, 25, 200)
    X = pd.DataFrame({"log_ana": a, "z": rng.normal(size=200)})
    y = np.exp2(1.5 + 0.9 * a)
    m = RtlLatencyRegressor(mode="analytical")
    assert m.fit(X, y) is m and m.get_params() == clone(m).get_params()
    assert m.slope_ == pytest.approx(0.9) and m.intercept_ == pytest.approx(1.5)
    assert np.allclose(m.predict(X), y, rtol=1e-9)
    with pytest.raises(LooplabError, match="log_ana"):
        RtlLatencyRegressor().fit(X.drop(columns="log_ana"), y)
    with pytest.raises(LooplabError, match="> 0"):
        RtlLatencyRegressor().fit(X, -y)


@pytest.mark.parametrize("estimator", ["gbm", "mlp"])
def test_residual_learns_a_log_ratio_on_unseen_rows(estimator):
    rng = np.random.default_rng(1)
    n = 600
    X = pd.DataFrame({"log_ana": rng.uniform(8, 24, n), "u": rng.uniform(-1, 1, n), "v": rng.normal(size=n)})
    ratio = 1.0 + 1.5 * (X["u"] > 0) + X["u"] ** 2  # RTL / analytical, depends on u only
    y = np.exp2(X["log_ana"]) * ratio
    tr, te = np.arange(450), np.arange(450, n)
    m = RtlLatencyRegressor(mode="residual", estimator=estimator, calibrate="none").fit(X.iloc[tr], y[tr])
    err = np.abs(m.predict(X.iloc[te]) - y[te]) / y[te]
    base = np.abs(np.exp2(X["log_ana"].to_numpy()[te]) - y[te]) / y[te]
    assert np.median(err) < 0.1 < np.median(base)
    assert all(name.endswith("_") for name in ("columns_", "estimators_", "feature_names_in_"))


def test_mlp_torch_path_matches_predict_and_has_gradients():
    import torch

    rng = np.random.default_rng(2)
    X = pd.DataFrame({"log_ana": rng.uniform(8, 24, 300), "u": rng.uniform(-1, 1, 300)})
    y = np.exp2(X["log_ana"] + X["u"])
    m = RtlLatencyRegressor(mode="residual", estimator="mlp", calibrate="none").fit(X, y)
    t = torch.tensor(X.to_numpy(), dtype=torch.float64, requires_grad=True)
    out = m.torch_log2(t)
    assert np.allclose(out.detach().numpy(), m.predict_log2(X))
    out.sum().backward()
    assert torch.isfinite(t.grad).all() and t.grad[:, 0].abs().sum() > 0
    hidden = [e.hidden for e in m.estimators_]
    assert hidden == [(64, 32, 16, 4)]  # the surrogates' MLP, as DOSA's
    with pytest.raises(LooplabError, match="differentiable"):
        RtlLatencyRegressor(mode="residual", estimator="gbm").fit(X, y).torch_log2(t)


def test_protocols_and_extreme_rows(data):
    prot = group_kfold(data.layer_ids, 5)
    groups = data.layer_ids
    assert sorted(prot.test_indices) == list(range(len(data)))
    for tr, te in prot.splits:
        assert not set(groups[tr]) & set(groups[te])
    rnd = random_share(len(data), 0.08, repeats=3, seed=0)
    assert all(len(te) == np.ceil(0.08 * len(data)) for _, te in rnd.splits)
    a = np.ones(100)
    y = np.exp(np.random.default_rng(0).normal(0, 0.1, 100))
    y[[3, 50]] = [100.0, 0.01]
    mask, (lo, hi) = extreme_rows(a, y)
    assert list(np.flatnonzero(mask)) == [3, 50] and lo < 1 < hi


def test_full_array_rows():
    sp = np.ones((4, 4, 7), int)  # rows x levels x (R S P Q C K N)
    sp[0, 1, 4], sp[0, 2, 5] = 16, 16  # C16 at one level, K16 at another: fills the array
    sp[1, 1, 4], sp[1, 2, 5] = 16, 8  # K only half
    sp[2, 1, 4], sp[2, 2, 4], sp[2, 2, 5] = 4, 8, 32  # C 4 x 8 over two levels, K 32: fills it
    assert list(full_array_rows(sp, 16)) == [True, False, True, False]
    assert list(full_array_rows(sp, 8)) == [True, True, True, False]


def test_metrics():
    m = metrics(np.array([1.0, 2.1, 2.85, 4.8]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert m["spearman"] == pytest.approx(1.0) and m["within_10pct"] == 0.75
    assert m["mape"] == pytest.approx((0.05 + 0.05 + 0.2) / 4) and m["median_ape"] == pytest.approx(0.05)
    assert 0.9 < m["pearson"] < 1


#: the whole FireSim training file, where a checkout sits beside the project's shared reference data
FULL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "dosa" / "firesim_training.csv"


@pytest.mark.skipif(not FULL.is_file(), reason=f"DOSA's full FireSim training file is not at {FULL}")
def test_residual_beats_the_analytical_model_on_unseen_layers():
    # 240 rows over 61 layers are too few to learn from; the acceptance proxy needs the whole file
    full = load_rtl_csv(FULL, require_target=True)
    X = {"rtl": design_matrix(full, "rtl")}
    oof = cross_validate(X, full.rtl_cycles, full.ana_cycles, group_kfold(full.layer_ids, 5),
                         ["analytical", "residual-gbm-rtl"], progress=False, groups=full.layer_ids)
    y = full.rtl_cycles[oof["_index"]]
    ana, res = metrics(oof["analytical"], y), metrics(oof["residual-gbm-rtl"], y)
    assert res["spearman"] > ana["spearman"] + 0.03 and res["mape"] < ana["mape"], (res, ana)
    assert res["pearson"] > ana["pearson"]
    # over the count model the residual is right in magnitude more often: Pearson without the extreme rows and the
    # median error both improve on the residual over the analytical model alone
    more = cross_validate(X, full.rtl_cycles, full.ana_cycles, group_kfold(full.layer_ids, 5),
                          ["residual-gbm-rtl-counts"], progress=False, groups=full.layer_ids)
    ext = extreme_rows(full.ana_cycles, full.rtl_cycles)[0][oof["_index"]]
    cnt = metrics(more["residual-gbm-rtl-counts"], y)
    cnt_n, res_n = (metrics(o[~ext], y[~ext]) for o in (more["residual-gbm-rtl-counts"], oof["residual-gbm-rtl"]))
    assert cnt_n["pearson"] > res_n["pearson"] + 0.05 and cnt["median_ape"] < res["median_ape"] - 0.03, (cnt, res)
    assert cnt["mape"] < ana["mape"] and cnt["spearman"] > ana["spearman"] + 0.03
    # where the mapping fills the array the analytical model is right in magnitude up to a factor: the residual
    # keeps its Pearson correlation there and ranks and scales better
    full = full_array_rows(full.spatial)[oof["_index"]]
    ana_f, res_f = metrics(oof["analytical"][full], y[full]), metrics(oof["residual-gbm-rtl"][full], y[full])
    assert res_f["pearson"] > 0.9 and res_f["spearman"] > ana_f["spearman"] + 0.03, (res_f, ana_f)
    assert res_f["mape"] < ana_f["mape"], (res_f, ana_f)


def test_cli_train_predict(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", str(SAMPLE), "--model", "rtl-residual", "--target", "rtl_cycles", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "cross-validated" in printed and "extreme rows" in printed and "fills the 16x16 array" in printed
    meta = json.loads((out / "meta.json").read_text())
    n_full = int(full_array_rows(load_rtl_csv(SAMPLE).spatial).sum())
    assert 0 < n_full < 240 and meta["cv"]["full_array_rows"] == n_full
    assert {r["n"] for r in meta["cv"]["full_array"].values()} == {n_full}
    assert meta["kind"] == "rtl" and meta["features"] == "rtl" and meta["n_train"] == 240
    pred = tmp_path / "p.jsonl"
    assert main(["predict", str(out), str(DOSA / "timeloop_dataset_sample.csv"), "--out", str(pred)]) == 0
    lines = [json.loads(s) for s in pred.read_text().splitlines()]
    assert [r["id"] for r in lines] == list(range(40)) and all(r["prediction"] > 0 for r in lines)
    # the same rows give the same predictions whatever else is in the file
    pred2 = tmp_path / "p2.jsonl"
    df = pd.read_csv(DOSA / "timeloop_dataset_sample.csv", dtype=str, keep_default_na=False)
    df.iloc[::-1].to_csv(tmp_path / "rev.csv", index=False)
    assert main(["predict", str(out), str(tmp_path / "rev.csv"), "--out", str(pred2)]) == 0
    rev = [json.loads(s)["prediction"] for s in pred2.read_text().splitlines()]
    assert np.allclose(rev[::-1], [r["prediction"] for r in lines])


def test_cv_command_checks_its_paths_up_front(tmp_path, capsys):
    from surrogates.rtl.__main__ import main as rtl_main

    assert rtl_main(["cv", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert f"{tmp_path}: is a directory; expected a file" in capsys.readouterr().err
    (tmp_path / "f").write_text("x")
    assert rtl_main(["cv", str(SAMPLE), "--out", str(tmp_path / "f")]) == 2
    assert "is a file; give a folder to write into" in capsys.readouterr().err


def test_cli_errors(tmp_path, capsys):
    assert main(["train", str(SAMPLE), "--model", "rtl-gbm", "--target", "cycles", "--out", str(tmp_path / "a")]) == 2
    assert "looplab: error: --target: RTL models predict rtl_cycles" in capsys.readouterr().err
    assert main(["train", str(SAMPLE), "--model", "rtl-gbm", "--features", "bogus",
                 "--out", str(tmp_path / "b")]) == 2
    assert "--features" in capsys.readouterr().err
    assert main(["train", str(DOSA / "timeloop_dataset_sample.csv"), "--model", "rtl-analytical",
                 "--out", str(tmp_path / "c")]) == 2
    assert "gemmini_cycle" in capsys.readouterr().err
    # one layer shape: no group k-fold possible; one error line, not sklearn's ValueError
    assert main(["train", str(DOSA / "firesim_training_head30.csv"), "--model", "rtl-analytical",
                 "--out", str(tmp_path / "d")]) == 2
    assert "needs rows of at least 2 layer shapes, got 1" in capsys.readouterr().err


def test_mape_offset_calibration():
    from surrogates.rtl.estimators import mape_offset

    truth = np.zeros(1000)
    pred = np.random.default_rng(3).normal(0, 1.0, 1000)  # log2 errors of a median-unbiased model
    c = mape_offset(pred, truth)
    assert c < -0.2  # too-high predictions cost more percentage error than too-low ones
    ape = lambda off: np.abs(np.exp2(pred + off) - 1).mean()  # noqa: E731
    assert ape(c) <= min(ape(0.0), ape(c - 0.05), ape(c + 0.05))
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"log_ana": rng.uniform(8, 24, 300), "u": rng.normal(size=300)})
    y = np.exp2(X["log_ana"] + rng.normal(0, 1.0, 300))
    groups = np.arange(300) % 30
    m = RtlLatencyRegressor(mode="analytical").fit(X, y, groups=groups)
    assert m.offset_ < 0
    assert np.allclose(m.predict_log2(X), m.intercept_ + m.slope_ * X["log_ana"] + m.offset_)
