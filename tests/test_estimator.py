"""ERT/ART estimator: against the real Accelergy reference ERTs and the real Accelergy grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from looplab.archspec import parse_arch
from looplab.energy import estimator as E
from looplab.energy.ert import Ert
from looplab.errors import LooplabError

GRID = Path(__file__).parent / "data" / "ert_grid" / "components.csv"


@pytest.fixture(scope="module")
def grid():
    return E.read_grid(GRID)


@pytest.fixture(scope="module")
def est():
    return E.load_estimator()


def _arch_dirs(ref_dir: Path) -> list[Path]:
    dirs = sorted(p for p in (ref_dir / "archs").iterdir() if (p / "ERT.yaml").exists())
    assert len(dirs) == 9
    return dirs


def test_reference_archs_within_5_percent(ref_dir, est):
    """Every ERT entry and every area of every reference architecture, estimated without Accelergy."""
    worst = {}
    for d in _arch_dirs(ref_dir):
        rows = E.compare_with_accelergy(d / "arch.yaml", d / "ERT.yaml", d / "ART.yaml", est)
        assert {r["action"] for r in rows} >= {"read", "write", "idle", "mac_random", "area"}
        n_components = len({r["component"] for r in rows})
        assert n_components == len(parse_arch(d / "arch.yaml").storage) + 1
        worst[d.name] = max(r["rel_err"] for r in rows)
        bad = [r for r in rows if r["rel_err"] > 0.05]
        assert not bad, bad[:3]
    print("max relative error per reference arch:", {k: f"{100 * v:.3f}%" for k, v in worst.items()})


def test_estimate_ert_is_an_ert(ref_dir, est, tmp_path):
    arch = parse_arch(ref_dir / "archs" / "simba_final" / "arch.yaml")
    ert = E.estimate_ert(arch, est)
    assert isinstance(ert, Ert)
    gb = "System.Chip.GlobalBuffer"
    # Timeloop charges data_delta=1, address_delta=1; GlobalBuffer has 4 banks -> address_delta 0..4 entries
    assert ert.energy(gb, "read") == pytest.approx(22.26, rel=0.01)  # the value the grid README quotes
    assert ert.energy(gb, "update") == ert.energy(gb, "write")
    assert ert.energy(gb, "read", 1, 0) == pytest.approx(0.7 * ert.energy(gb, "read"))
    assert len([e for e in ert.tables[gb] if e.name == "read"]) == 2 * 5
    assert ert.area[gb] > 0 and ert.area["System.DRAM"] == 0.0
    # round trip through D1's loader
    from looplab.energy.ert import load_art, load_ert

    ert_path, art_path = ert.write(tmp_path)
    back = load_ert(ert_path)
    for name in ert.components:
        for action in back.actions(name):
            assert back.energy(name, action) == pytest.approx(ert.energy(name, action))
    assert load_art(art_path) == pytest.approx(ert.area)


def test_every_grid_entry_reproduced(grid, est):
    """All 3920 grid entries (every action, every data/address delta) and areas, through the ERT entry builder."""
    errs = []
    for comp, g in grid.groupby("component"):
        first = g.iloc[0]
        attrs = {k: first[k] for k in ("depth", "width", "datawidth", "n_banks", "type") if str(first[k]) != "nan"}
        entries, area = est.component(first["class"], attrs, where=comp)
        lookup = {(e.name, e.arguments.get("data_delta"), e.arguments.get("address_delta")): e.energy
                  for e in entries}
        for r in g.itertuples():
            key = (r.action, None if np.isnan(r.data_delta) else int(r.data_delta),
                   None if np.isnan(r.address_delta) else int(r.address_delta))
            got = lookup[key]
            errs.append(abs(got - r.energy_pJ) / r.energy_pJ if r.energy_pJ else abs(got))
        errs.append(abs(area - first.area_um2) / first.area_um2 if first.area_um2 else abs(area))
    errs = np.array(errs)
    print(f"grid entries: n={errs.size} median {100 * np.median(errs):.4f}% max {100 * errs.max():.3f}%")
    assert errs.size == len(grid) + grid.component.nunique()
    assert errs.max() < 0.01


# The 4 KiB two-bank SRAMs, the smallest multi-bank size of the grid, where CACTI's read energy (and the area of
# 512x64) dips below every smooth continuation of its neighbours: the only held-out points allowed over 30%.
KNOWN_OUTLIERS = {("read", 512, 64, 2), ("read", 1024, 32, 2), ("area", 512, 64, 2)}


@pytest.mark.parametrize("scheme", ["depth", "checkerboard"])
def test_held_out_grid_beats_loglog_baseline(scheme):
    """Hold out every other grid point, fit on the rest; compare with log-log interpolation at double spacing."""
    res = E.holdout_benchmark(GRID, scheme, n_worst=10**6)
    print()
    print(E.format_benchmark({**res, "worst": res["worst"][:6]}))
    assert res["n_interior"] > 80 and len(res["worst"]) == 3 * res["n_held_out"]
    pooled = res["pooled"]
    mine, base = pooled["estimator_interior"], pooled["baseline_interior"]
    assert mine["median"] <= 0.08 and mine["max"] <= 0.30
    assert mine["median"] < base["median"] and mine["max"] < base["max"]
    for k in E.SRAM_TARGETS:  # every target, median and worst case, at least as good as log-log interpolation
        assert res[k]["estimator_interior"]["median"] < res[k]["baseline_interior"]["median"], k
        assert res[k]["estimator_interior"]["max"] <= res[k]["baseline_interior"]["max"], k
    # every held-out point, the edges and corners the baseline cannot reach included
    for k in (*E.SRAM_TARGETS, "pooled"):
        assert res[k]["estimator_all"]["median"] <= 0.08, k
    over = [w for w in res["worst"] if abs(w["rel_err"]) > 0.30]
    assert {(w["target"], w["depth"], w["width"], w["n_banks"]) for w in over} <= KNOWN_OUTLIERS, over
    assert all(abs(w["rel_err"]) <= 0.5 for w in over), over  # see test_smallest_two_bank_sram_is_a_cacti_outlier


def test_smallest_two_bank_sram_is_a_cacti_outlier():
    """Why the held-out bar has exceptions: 512x64 with 2 banks (CACTI's read energy 2.93 pJ, below the 3.39 pJ of
    the same SRAM with 1 bank) is missed by more than 30% even by a fit on all the other configurations."""
    cfg = E.sram_configs(E.read_grid(GRID))
    me = (cfg.depth == 512) & (cfg.width == 64) & (cfg.n_banks == 2)
    one_bank = cfg[(cfg.depth == 512) & (cfg.width == 64) & (cfg.n_banks == 1)]
    assert float(cfg[me].read.iloc[0]) < float(one_bank.read.iloc[0])
    loo = E.Estimator(E.fit_sram(cfg[~me]), {}).sram(512, 64, 2)
    assert float(loo["read"]) / float(cfg[me].read.iloc[0]) - 1 > 0.30


@pytest.mark.slow
def test_shipped_fit_is_the_fit_of_the_grid(tmp_path):
    """The JSON in the package is what fit_grid produces from the grid (no hand-edited numbers)."""
    fresh = E.Estimator.from_json(json.loads(json.dumps(E.fit_grid(GRID))))
    shipped = E.load_estimator()
    d = np.exp2(np.linspace(4, 17, 50))
    for w, b in [(8, 1), (40, 1), (64, 4), (200, 2), (1024, 1)]:
        a, s = fresh.sram(d, w, b), shipped.sram(d, w, b)
        for k in E.SRAM_TARGETS:
            np.testing.assert_allclose(a[k], s[k], rtol=1e-3)
    assert fresh.tables["regfile"] == pytest.approx(shipped.tables["regfile"])
    assert fresh.tables["DRAM"]["pJ_per_bit"] == pytest.approx(shipped.tables["DRAM"]["pJ_per_bit"])
    for action in ("mac_random", "mac_reused", "mac_gated", "idle"):
        np.testing.assert_allclose(fresh.intmac([4, 8, 13, 32], action), shipped.intmac([4, 8, 13, 32], action))


def test_smooth_surface_monotone_in_size(est):
    """CACTI's read energy and area rise with depth and width (banks fixed); the smooth surface keeps that."""
    d = np.exp2(np.linspace(3, 18, 300))
    w = np.exp2(np.linspace(3, 10.5, 300))
    for b in (1, 2, 4):
        for width in (8, 24, 64, 100, 512):
            r = est.sram(d, width, b, smooth=True)
            assert np.all(np.diff(r["read"]) > 0) and np.all(np.diff(r["area"]) > 0), (b, width)
        for depth in (100, 1024, 8192, 100000):
            r = est.sram(depth, w, b, smooth=True)
            assert np.all(np.diff(r["read"]) >= 0) and np.all(np.diff(r["area"]) > 0), (b, depth)


def test_torch_path_differentiable_and_consistent(est):
    torch = pytest.importorskip("torch")
    depth = torch.tensor([100.0, 1000.0, 8192.0, 50000.0], dtype=torch.float64, requires_grad=True)
    width = torch.tensor([64.0, 48.0, 128.0, 256.0], dtype=torch.float64, requires_grad=True)
    read, write, area = E.sram_torch(depth, width, 1, estimator=est)
    (read.sum() + write.sum() + 1e-4 * area.sum()).backward()
    assert torch.all(torch.isfinite(depth.grad)) and torch.all(depth.grad > 0)
    assert torch.all(torch.isfinite(width.grad)) and torch.all(width.grad > 0)
    ref = est.sram(depth.detach().numpy(), width.detach().numpy(), 1, smooth=True)  # widths multiples of 8
    np.testing.assert_allclose(read.detach().numpy(), ref["read"], rtol=1e-9)
    np.testing.assert_allclose(area.detach().numpy(), ref["area"], rtol=1e-9)
    # the grid-honouring variant agrees with numpy too
    r2, _, _ = E.sram_torch(torch.tensor([8192.0]), torch.tensor([64.0]), 4, smooth=False, estimator=est)
    assert float(r2[0]) == pytest.approx(float(est.sram(8192, 64, 4)["read"]), rel=1e-9)


def test_regfile_intmac_dram_rules(est):
    # regfile: width does not matter, idle = full access, larger depth costs more
    e1, _ = est.component("regfile", {"depth": 64, "width": 8})
    e2, _ = est.component("regfile", {"depth": 64, "width": 32})
    assert [e.energy for e in e1] == [e.energy for e in e2]
    full = est.regfile(64)
    assert [e.energy for e in e1 if e.name == "idle"] == [pytest.approx(full)]
    assert est.regfile(300) > est.regfile(256) > est.regfile(64)
    # intmac: monotone in width, reused < random, gated << random
    assert est.intmac(12) > est.intmac(8)
    assert est.intmac(8, "mac_reused") < est.intmac(8) and est.intmac(8, "mac_gated") < 0.2 * est.intmac(8)
    # DRAM: linear in width
    assert est.dram("HBM2", 128) == pytest.approx(2 * est.dram("HBM2", 64))


@pytest.mark.parametrize(
    "cls, attrs, field",
    [
        ("DRAM", {"type": "DDR4", "width": 64}, "type"),
        ("SRAM", {"depth": 0, "width": 64}, "depth"),
        ("SRAM", {"depth": 512, "width": "wide"}, "width"),
        ("SRAM", {"width": 64}, "depth"),
        ("fpmac", {"width": 16}, "class"),
        ("SRAM", {"depth": 512, "width": 64, "technology": "22nm"}, "technology"),
    ],
)
def test_bad_components_raise(est, cls, attrs, field):
    with pytest.raises(LooplabError) as exc:
        est.component(cls, attrs, where="arch.yaml: Buf")
    assert "Buf" in str(exc.value)
    assert field in str(exc.value)


def test_random_holdout_scheme():
    """The seeded 25% hold-out: reproducible, never the clamped-depth configurations, and on six splits the
    estimator's median beats log-log interpolation and stays within the 8% bar."""
    cfg = E.sram_configs(E.read_grid(GRID))
    a, b = E.holdout_split(cfg, "random", seed=0), E.holdout_split(cfg, "random", seed=1)
    assert (a == E.holdout_split(cfg, "random", seed=0)).all() and (a != b).any()
    clamped = cfg.depth.to_numpy() < 64 * cfg.n_banks.to_numpy()
    assert not (a & clamped).any() and 0.15 < a.mean() < 0.35
    with pytest.raises(LooplabError, match="unknown hold-out scheme"):
        E.holdout_split(cfg, "diagonal")
    for seed in range(6):
        res = E.holdout_benchmark(GRID, "random", seed=seed)
        pooled = res["pooled"]
        assert pooled["estimator_all"]["median"] <= 0.08, seed
        assert pooled["estimator_interior"]["median"] < pooled["baseline_interior"]["median"], seed
