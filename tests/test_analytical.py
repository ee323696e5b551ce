"""The analytical model against the recorded real-Timeloop runs (tests/data/reference)."""

from __future__ import annotations

import collections
import re

import numpy as np
import pytest

from looplab.analytical import analyse, evaluate_batch, evaluate_files
from looplab.archspec import parse_arch
from looplab.energy.ert import load_ert
from looplab.errors import LooplabError
from mappers.mapping import Mapping, MappingBatch

TENSORS = ("Weights", "Inputs", "Outputs")
STAT_KEYS = ("reads", "fills", "updates", "utilized_capacity", "partition_size")


@pytest.fixture(scope="module")
def groups(ref_cases):
    out = collections.defaultdict(list)
    for c in ref_cases:
        out[(c["arch"], c["layer"])].append(c)
    return out


@pytest.fixture(scope="module")
def evaluated(groups, ref_dir):
    """Every (arch, layer) group evaluated once: list of (case, BatchResult row, NestStats, arch)."""
    rows = []
    for (arch_name, _), cases in groups.items():
        arch = parse_arch(ref_dir / "archs" / arch_name / "arch.yaml")
        ert = load_ert(ref_dir / "archs" / arch_name / "ERT.yaml")
        batch = MappingBatch.from_mappings([Mapping.from_record(c["mapping"]) for c in cases], arch.storage_names)
        res = evaluate_batch(arch, ert, cases[0]["layer_dims"], batch)
        valid = np.nonzero(res.valid)[0]
        st = analyse(arch, cases[0]["layer_dims"], batch[valid])
        for j, i in enumerate(valid):
            rows.append((cases[i], res, i, st, j, arch))
        for i in np.nonzero(~res.valid)[0]:
            rows.append((cases[i], res, i, None, None, arch))
    return rows


def test_validity_agrees_on_every_case(evaluated):
    assert len(evaluated) == 5184
    agree = sum(bool(res.valid[i]) == case["valid"] for case, res, i, *_ in evaluated)
    assert agree == 5184
    for case, res, i, *_ in evaluated:
        if not case["valid"]:
            assert np.isnan(res.energy_pJ[i]) and res.cycles[i] == -1


def _errors(evaluated, family):
    cyc, en = [], []
    for case, res, i, *_ in evaluated:
        if case["valid"] and case["family"] == family:
            cyc.append(res.cycles[i] / case["stats"]["cycles"] - 1)
            en.append(res.energy_pJ[i] / case["stats"]["energy_pJ_levels_sum"] - 1)
    return np.abs(cyc), np.abs(en)


@pytest.mark.parametrize("family", ["simba", "gemmini"])
def test_cycles_and_energy_agree_with_timeloop(evaluated, family):
    cyc, en = _errors(evaluated, family)
    assert len(cyc) in (1440, 1152)
    # exact: cycles equal, energy equal up to stats.txt's 2-decimal printing of each level's energy
    assert (cyc == 0).all()
    assert en.max() < 1e-8


def test_per_level_statistics_match_stats_txt(evaluated):
    """Every per-instance count printed by Timeloop, level by level and tensor by tensor."""
    total = bad = 0
    by = collections.Counter()
    for case, _, _, st, j, arch in evaluated:
        if st is None:
            continue
        for li, name in enumerate(arch.storage_names):
            spaces = case["stats"]["levels"][name].get("dataspaces", {})
            for ti, tn in enumerate(TENSORS):
                ds = spaces.get(tn)
                if ds is None:
                    assert st.utilized_capacity[j, li, ti] == 0
                    continue
                got = {"reads": st.reads, "fills": st.fills, "updates": st.updates,
                       "utilized_capacity": st.utilized_capacity, "partition_size": st.partition_size}
                for key in STAT_KEYS:
                    total += 1
                    if abs(ds[key] - got[key][j, li, ti]) > 0.5:
                        bad += 1
                        by[(tn, key)] += 1
    assert total == 105120
    assert bad == 0, by.most_common(5)


def _stats_txt_numbers(text: str, level: str) -> dict[str, dict[str, float]]:
    block = text.split(f"=== {level} ===", 1)[1].split("Level ", 1)[0]
    out: dict[str, dict[str, float]] = {}
    for tn in TENSORS:
        if f"    {tn}:" not in block:
            continue
        sub = block.split(f"    {tn}:", 1)[1]
        vals = {}
        for key, label in (("reads", "Scalar reads"), ("fills", "Scalar fills"), ("updates", "Scalar updates")):
            vals[key] = float(re.search(label + r" \(per-instance\)\s*:\s*([0-9.]+)", sub).group(1))
        vals["energy"] = float(re.search(r"Energy \(total\)\s*:\s*([0-9.]+)", sub).group(1))
        out[tn] = vals
    return out


def test_full_runs_per_level(ref_dir):
    """evaluate_files on the complete timeloop-model runs in full/: summary and per-level stats."""
    runs = [d for d in sorted((ref_dir / "full").iterdir()) if (d / "timeloop-model.stats.txt").exists()]
    assert runs
    for d in runs:
        res = evaluate_files(d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "ERT.yaml")
        text = (d / "timeloop-model.stats.txt").read_text()
        cycles = int(re.search(r"^Cycles: (\d+)", text, re.M).group(1))
        energy_uj = float(re.search(r"^Energy: ([0-9.]+) uJ", text, re.M).group(1))
        assert res.valid
        assert res.cycles == cycles, d.name
        assert res.energy_pJ / 1e6 == pytest.approx(energy_uj, abs=0.006), d.name
        for name, lvl in res.levels.items():
            if not lvl.tensors:
                continue
            ref = _stats_txt_numbers(text, name)
            for tn, ts in lvl.tensors.items():
                assert (ts.reads, ts.fills, ts.updates) == (ref[tn]["reads"], ref[tn]["fills"], ref[tn]["updates"])
                assert ts.energy_pJ == pytest.approx(ref[tn]["energy"], abs=0.01)


def test_invalid_full_runs_report_timeloop_error_line(ref_dir):
    for d in sorted((ref_dir / "full").iterdir()):
        if "invalid" not in d.name:
            continue
        res = evaluate_files(d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "ERT.yaml")
        assert res.valid is False
        assert res.summary_lines()[0] in (d / "stdout.txt").read_text() + (d / "stderr.txt").read_text()


def test_chunking_gives_identical_results(groups, ref_dir):
    (arch_name, _), cases = next(iter(groups.items()))
    arch = parse_arch(ref_dir / "archs" / arch_name / "arch.yaml")
    ert = load_ert(ref_dir / "archs" / arch_name / "ERT.yaml")
    batch = MappingBatch.from_mappings([Mapping.from_record(c["mapping"]) for c in cases], arch.storage_names)
    a = evaluate_batch(arch, ert, cases[0]["layer_dims"], batch)
    b = evaluate_batch(arch, ert, cases[0]["layer_dims"], batch, chunk=3)
    np.testing.assert_array_equal(a.cycles, b.cycles)
    np.testing.assert_array_equal(a.energy_pJ, b.energy_pJ)
    assert len(a.to_results()) == len(cases)


def test_kernel_and_numpy_paths_agree_on_sampled_mappings(ref_dir):
    """The numba kernel and the numpy path give the same numbers on fresh random mappings of several layers."""
    from looplab.analytical.api import kernel_available

    if not kernel_available():
        pytest.skip("numba not installed: only the numpy path exists")
    import json

    from mappers.sampler import sample_mappings

    layers = json.loads((ref_dir / "layers" / "layers.json").read_text())
    for arch_name, family in (("simba_final_8x8", "simba"), ("gemmini_4x4", "gemmini")):
        arch = parse_arch(ref_dir / "archs" / arch_name / "arch.yaml")
        ert = load_ert(ref_dir / "archs" / arch_name / "ERT.yaml")
        for layer in layers[::5]:
            batch, _ = sample_mappings(arch, layer["dims"], n_valid=60, n_invalid=20, seed=3, family=family)
            a = evaluate_batch(arch, ert, layer["dims"], batch, use_kernel=True, stats=True, chunk=37)
            b = evaluate_batch(arch, ert, layer["dims"], batch, use_kernel=False, stats=True)
            np.testing.assert_array_equal(a.valid, b.valid)
            assert list(a.reason) == list(b.reason) and list(a.failed_level) == list(b.failed_level)
            np.testing.assert_array_equal(a.cycles, b.cycles)
            np.testing.assert_allclose(a.energy_pJ[a.valid], b.energy_pJ[b.valid], rtol=1e-12)
            np.testing.assert_allclose(a.energy_by_level[a.valid], b.energy_by_level[b.valid], rtol=1e-12)
            for x, y in ((a.reads, b.reads), (a.fills, b.fills), (a.updates, b.updates)):
                np.testing.assert_array_equal(x, y)  # NaN where bypassed or invalid, on both paths
                assert np.isfinite(x[a.valid]).any() and np.isnan(x[~a.valid]).all()


def test_evaluate_files_without_ert_uses_the_estimator(ref_dir):
    d = ref_dir / "full" / "05_simba_final_resnet50._outputs_input.76_valid"
    exact = evaluate_files(d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml", d / "ERT.yaml")
    est = evaluate_files(d / "arch.yaml", d / "problem.yaml", d / "mapping.yaml")
    assert est.backend == "analytical" and est.cycles == exact.cycles
    assert est.energy_pJ == pytest.approx(exact.energy_pJ, rel=0.05)


def test_bad_inputs_raise_looplab_errors(ref_dir, tmp_path):
    from looplab.errors import LooplabError

    d = ref_dir / "full" / "05_simba_final_resnet50._outputs_input.76_valid"
    wrong = tmp_path / "problem.yaml"
    wrong.write_text((d / "problem.yaml").read_text().replace("K: 1024", "K: 512"))
    with pytest.raises(LooplabError, match="factor"):
        evaluate_files(d / "arch.yaml", wrong, d / "mapping.yaml", d / "ERT.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("problem: {}\n")
    with pytest.raises(LooplabError):
        evaluate_files(d / "arch.yaml", empty, d / "mapping.yaml", d / "ERT.yaml")


def test_kernel_survives_fork_and_concurrent_threads(ref_dir, tmp_path):
    """After a compiled evaluation the process can fork (a multiprocessing pool, a DataLoader) and use the kernel
    in the child; two Python threads evaluating at once get the serial results."""
    pytest.importorskip("numba")
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "fork_after_kernel.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing as mp
        from concurrent.futures import ThreadPoolExecutor
        import numpy as np
        from looplab.analytical import evaluate_batch
        from looplab.archspec import parse_arch
        from looplab.energy.ert import load_ert
        from mappers.sampler import sample_mappings

        d = {str(ref_dir / "archs" / "simba_final")!r}
        arch, ert = parse_arch(d + "/arch.yaml"), load_ert(d + "/ERT.yaml")
        dims = dict(R=3, S=3, P=14, Q=14, C=64, K=64, N=1, Wstride=1, Hstride=1, Wdilation=1, Hdilation=1)
        batch, _ = sample_mappings(arch, dims, 2500, 2500, seed=0)  # >= PARALLEL_MIN_ROWS: the thread pool runs

        def energy(_=None):
            return evaluate_batch(arch, ert, dims, batch, use_kernel=True).energy_pJ

        ref = energy()
        with mp.get_context("fork").Pool(1) as pool:
            child = pool.map_async(energy, [0]).get(timeout=120)[0]  # a child killed by OpenMP never answers
        with ThreadPoolExecutor(4) as ex:
            par = list(ex.map(energy, range(4)))
        assert all(np.array_equal(x, ref, equal_nan=True) for x in [child, *par])
        print("ok")
    """))
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_parallel_and_serial_kernel_launches_agree(ref_dir):
    """A batch large enough for the thread pool gives the rows a small (calling-thread) launch gives, and the
    numpy path's."""
    pytest.importorskip("numba")
    from mappers.sampler import sample_mappings
    from mappers.validity_kernel import PARALLEL_MIN_ROWS

    arch = parse_arch(ref_dir / "archs" / "gemmini_4x4" / "arch.yaml")
    ert = load_ert(ref_dir / "archs" / "gemmini_4x4" / "ERT.yaml")
    dims = dict(R=3, S=3, P=28, Q=28, C=64, K=32, N=1, Wstride=2, Hstride=2, Wdilation=1, Hdilation=1)
    batch, _ = sample_mappings(arch, dims, 3000, 3000, seed=5)
    assert len(batch) >= PARALLEL_MIN_ROWS
    big = evaluate_batch(arch, ert, dims, batch, use_kernel=True, stats=True)
    small = evaluate_batch(arch, ert, dims, batch, use_kernel=True, stats=True, chunk=PARALLEL_MIN_ROWS // 4)
    ref = evaluate_batch(arch, ert, dims, batch[::7], use_kernel=False, stats=True)
    for a in (big, small):
        np.testing.assert_array_equal(a.validity.code, small.validity.code)
        np.testing.assert_array_equal(a.cycles, small.cycles)
        np.testing.assert_array_equal(a.energy_pJ, small.energy_pJ)
        np.testing.assert_array_equal(a.reads, small.reads)
    np.testing.assert_array_equal(big.cycles[::7], ref.cycles)
    np.testing.assert_allclose(big.energy_pJ[::7], ref.energy_pJ, rtol=1e-12)
    assert 0 < big.valid.sum() < len(batch)


def test_dosa_build_changes_only_write_bandwidth_demand(ref_dir):
    """``build="dosa"`` adds the elided first output reads to the innermost output level's write demand: cycles
    never drop, energy and validity are untouched, and the compiled kernel refuses it."""
    import gzip
    import json

    with gzip.open(ref_dir / "cases.jsonl.gz", "rt") as fh:
        cases = [c for c in map(json.loads, fh) if c["arch"] == "gemmini_default"][:96]
    arch = parse_arch(ref_dir / "archs" / "gemmini_default" / "arch.yaml")
    ert = load_ert(ref_dir / "archs" / "gemmini_default" / "ERT.yaml")
    by_layer: dict = {}
    for c in cases:
        by_layer.setdefault(c["layer"], []).append(c)
    grew = 0
    for cs in by_layer.values():
        batch = MappingBatch.from_mappings([Mapping.from_record(c["mapping"]) for c in cs], arch.storage_names)
        ref = evaluate_batch(arch, ert, cs[0]["layer_dims"], batch, use_kernel=False)
        dosa = evaluate_batch(arch, ert, cs[0]["layer_dims"], batch, build="dosa")
        np.testing.assert_array_equal(ref.valid, dosa.valid)
        np.testing.assert_array_equal(ref.energy_pJ, dosa.energy_pJ)
        assert (dosa.cycles[ref.valid] >= ref.cycles[ref.valid]).all()
        grew += int((dosa.cycles[ref.valid] > ref.cycles[ref.valid]).sum())
        with pytest.raises(LooplabError, match="reference build only"):
            evaluate_batch(arch, ert, cs[0]["layer_dims"], batch, use_kernel=True, build="dosa")
    assert grew > 0
