"""Sweep spec validation, the deterministic plan, row building and the crash-safe store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from looplab.archspec import parse_arch
from looplab.errors import LooplabError
from looplab.result import EvalResult, LevelStats, TensorStats
from looplab.sweep.engine import plan
from looplab.sweep.rows import (
    build_table,
    from_results,
    mapping_vectors,
    mapping_yaml_texts,
    schema_for,
    spatial_levels,
)
from looplab.sweep.spec import parse_spec, split_quota
from looplab.sweep.store import DatasetStore, write_parquet_atomic
from mappers.mapping import Mapping, MappingBatch

ROOT = Path(__file__).resolve().parents[1]


def small_spec(out, **kw):
    d = {"name": "t", "out": str(out), "seed": 7, "accelerators": {"presets": ["simba_final", "gemmini_default"]},
         "workloads": [{"workload": "resnet50", "layers": [0, 23]}], "mappings": {"valid": 5, "invalid": 6},
         "points_per_task": 4}
    d.update(kw)
    return d


def test_default_spec_parses_and_plans():
    spec = parse_spec(ROOT / "sweeps" / "default.yaml")
    tasks = plan(spec)
    assert len(tasks) == len({t.id for t in tasks})
    assert spec.backend == "timeloop"


@pytest.mark.parametrize("patch, match", [
    ({"backend": "gem5"}, "backend.*unknown backend"),
    ({"mappings": {"valid": -1}}, "mappings.valid.*>= 0"),
    ({"mappings": {"valid": 0, "invalid": 0}}, "quotas are both zero"),
    ({"accelerators": {"presets": ["nope"]}}, "accelerators.presets.*unknown preset 'nope'"),
    ({"accelerators": {}}, "no accelerators"),
    ({"workloads": [{"workload": "resnet50", "layers": [99]}]}, r"workloads\[0\].*out of range"),
    ({"workloads": [{"workload": "resnet50", "layers": ["conv_x"]}]}, r"workloads\[0\].*no layer 'conv_x'"),
    ({"execution": {"workerz": 2}}, "execution.*unknown keys"),
    ({"points_per_task": 0}, "points_per_task.*>= 1"),
    ({"cluster": {"type": "kubernetes"}}, "cluster.*'type' must be one of"),
    ({"execution": {"kernel": "cuda"}}, "execution.kernel.*expected one of"),
])
def test_bad_spec_names_the_field(tmp_path, patch, match):
    with pytest.raises(LooplabError, match=match):
        plan(parse_spec(small_spec(tmp_path, **patch), source="s.yaml"))


def test_spec_file_errors(tmp_path):
    with pytest.raises(LooplabError, match="missing.yaml: no such sweep spec file"):
        parse_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(LooplabError, match="bad.yaml: not valid YAML"):
        parse_spec(bad)


def test_kernel_choice_is_fixed_per_dataset(tmp_path):
    from looplab.sweep.engine import NUMBA_MIN_POINTS, resolve_kernel

    spec = parse_spec(small_spec(tmp_path))
    assert resolve_kernel(spec, 1000, None) == "numpy"
    assert resolve_kernel(spec, 1000, {"kernel": "numpy"}) == "numpy"
    big = resolve_kernel(spec, NUMBA_MIN_POINTS, None)
    try:
        import numba  # noqa: F401

        assert big == "numba"
    except ImportError:
        assert big == "numpy"
    assert resolve_kernel(parse_spec(small_spec(tmp_path, backend="timeloop")), 10**9, None) == "numpy"


def test_plan_is_deterministic_and_splits_quotas(tmp_path):
    a = plan(parse_spec(small_spec(tmp_path / "a")))
    b = plan(parse_spec(small_spec(tmp_path / "b")))
    assert [(t.id, t.units) for t in a] == [(t.id, t.units) for t in b]
    assert parse_spec(small_spec(tmp_path / "a")).plan_hash == parse_spec(small_spec(tmp_path / "b")).plan_hash
    assert parse_spec(small_spec(tmp_path, seed=8)).plan_hash != parse_spec(small_spec(tmp_path)).plan_hash
    # 11 points per (arch, layer) in batches of <= 4 points: 3 batches (4+4+3); one task per batch here.
    assert len(a) == 2 * 2 * 3
    units = [u for t in a for u in t.units if u.accel_index == 0 and u.layer_index == 0]
    assert sum(u.n_valid for u in units) == 5 and sum(u.n_invalid for u in units) == 6
    assert all(t.n_points <= 4 for t in a)
    assert len({u.seed for t in a for u in t.units}) == len(a)
    # Larger tasks pack consecutive batches of one family (never Simba with Gemmini); a batch's seed depends on
    # its accelerator, layer and index only.
    c = plan(parse_spec(small_spec(tmp_path / "c", points_per_task=30)))
    assert [len(t.units) for t in c] == [2, 2] and all(t.n_points == 22 for t in c)
    assert [t.family for t in c] == ["simba", "gemmini"]
    assert {u.seed for t in c for u in t.units} <= {u.seed for t in a for u in t.units}
    assert split_quota(7, 3) == [3, 2, 2]


def _sample(arch, dims, family):
    from mappers.sampler import sample_mappings

    return sample_mappings(arch, dims, 20, 20, seed=3, family=family)


@pytest.mark.parametrize("name,family", [("simba_final", "simba"), ("gemmini_default", "gemmini")])
def test_fast_yaml_and_vectors_match_mapping_model(ref_dir, name, family):
    arch = parse_arch(ref_dir / "archs" / name / "arch.yaml")
    dims = dict(R=3, S=3, P=14, Q=14, C=256, K=256, N=1, Wstride=1, Hstride=1, Wdilation=1, Hdilation=1)
    batch, _ = _sample(arch, dims, family)
    texts = mapping_yaml_texts(batch, spatial_levels(arch))
    for text, m in zip(texts, batch.to_mappings(), strict=True):
        assert text == m.to_yaml(spatial_levels(arch))
        back = Mapping.from_yaml(text, arch.storage_names)
        assert [(lm.temporal, lm.spatial_x, lm.spatial_y, lm.permutation, lm.keep) for lm in back.levels] == \
            [(lm.temporal, lm.spatial_x, lm.spatial_y, lm.permutation, lm.keep) for lm in m.levels]
    from mappers.flat import from_vector

    back = from_vector(mapping_vectors(batch), arch.storage_names)
    for f in ("temporal", "spatial_x", "spatial_y", "perm", "keep", "sperm"):
        np.testing.assert_array_equal(getattr(back, f), getattr(batch, f))


def test_rows_from_recorded_timeloop_results(ref_dir, ref_cases):
    """EvalResults carrying the recorded real-Timeloop stats become rows with the same numbers."""
    from looplab.sweep.spec import AccelRef, LayerRef, Unit

    arch = parse_arch(ref_dir / "archs" / "simba_final" / "arch.yaml")
    cases = [c for c in ref_cases if c["arch"] == "simba_final"][:30]
    results = []
    for c in cases:
        if not c["valid"]:
            results.append(EvalResult(valid=False, backend="timeloop", failed_level=c["error"].split()[4][:-1],
                                      reason=c["error"], error_kind=c["error_kind"]))
            continue
        st = c["stats"]
        levels = {lv: LevelStats(tensors={t: TensorStats(reads=d["reads"], fills=d["fills"], updates=d["updates"])
                                          for t, d in s.get("dataspaces", {}).items()})
                  for lv, s in st["levels"].items()}
        results.append(EvalResult(valid=True, backend="timeloop", cycles=st["cycles"], energy_pJ=st["energy_pJ"],
                                  utilization=st["utilization"], levels=levels,
                                  energy_by_level={lv: s["energy_pJ"] for lv, s in st["levels"].items()
                                                   if "energy_pJ" in s}))
    batch = MappingBatch.from_mappings([Mapping.from_record(c["mapping"]) for c in cases], arch.storage_names)
    params = {"pes": 16, "macs": 1024, "accum_kib_per_pe": 3, "weight_kib_per_pe": 32, "input_kib_per_pe": 8,
              "global_kib": 64}
    layer = LayerRef(cases[0]["layer"], "resnet50", cases[0]["layer_dims"])
    acc = AccelRef("simba_final", "simba", params, "preset")
    schema = schema_for(arch, list(params))
    table = build_table("t000000", [Unit(0, acc, 0, layer, 0, 0, 0, 1)], [len(batch)], arch, schema, batch,
                        np.array([c["valid"] for c in cases]), from_results(results, arch), "timeloop", "test", True)
    assert table.schema == schema and table.num_rows == len(cases)
    rows = table.to_pylist()
    for row, c in zip(rows, cases, strict=True):
        assert row["valid"] == c["valid"]
        assert Mapping.from_yaml(row["mapping_yaml"], arch.storage_names) == Mapping.from_record(c["mapping"])
        if c["valid"]:
            assert row["cycles"] == c["stats"]["cycles"] and row["energy_pJ"] == c["stats"]["energy_pJ"]
            gb = c["stats"]["levels"]["GlobalBuffer"]["dataspaces"]["Inputs"]
            assert row["reads_GlobalBuffer_Inputs"] == gb["reads"]
        else:
            assert row["cycles"] is None and row["failed_level"] in c["error"]


def test_atomic_part_and_done_ids(tmp_path):
    st = DatasetStore(tmp_path / "ds")
    st.init({"plan_hash": "abc", "name": "x"}, resume=False)
    t = pa.table({"a": [1, 2, 3]})
    st.write_part("simba_final", "t000000", t)
    assert st.done_ids() == {"t000000"}
    assert not list(st.parts.rglob("*.tmp"))
    # A temp file left by a killed writer (dead pid on this host) is removed on the next init.
    from looplab.sweep.store import _HOST

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = st.parts / "simba_final" / f".t000001.parquet.{_HOST}.{int(dead.stdout)}.5.tmp"
    stale.write_bytes(b"PAR1 half")
    live = st.parts / "simba_final" / f".t000002.parquet.{_HOST}.{os.getpid()}.5.tmp"
    live.write_bytes(b"PAR1 half")
    st.init({"plan_hash": "abc", "name": "x"}, resume=True)
    assert not stale.exists() and live.exists()
    assert st.done_ids() == {"t000000"}
    with pytest.raises(LooplabError, match="pass --resume"):
        st.init({"plan_hash": "abc"}, resume=False)
    with pytest.raises(LooplabError, match="different sweep"):
        st.init({"plan_hash": "zzz"}, resume=True)
    assert st.read().num_rows == 3


def test_failure_records_count_attempts(tmp_path):
    st = DatasetStore(tmp_path)
    assert st.record_failure("t1", "boom")["attempts"] == 1
    assert st.record_failure("t1", "boom again")["attempts"] == 2
    assert st.failure("t1")["reason"] == "boom again"
    st.clear_failure("t1")
    assert st.failures() == []


def test_write_parquet_atomic_replaces_whole_file(tmp_path):
    p = tmp_path / "x.parquet"
    write_parquet_atomic(pa.table({"a": list(range(10))}), p)
    write_parquet_atomic(pa.table({"a": list(range(5))}), p)
    import pyarrow.parquet as pq

    assert pq.read_table(p).num_rows == 5
    assert [f.name for f in tmp_path.iterdir()] == ["x.parquet"]


def test_failing_task_is_recorded_and_given_up(tmp_path, monkeypatch):
    """A task that raises is retried up to max_attempts, recorded with its reason, then skipped on resume."""
    import looplab.sweep.worker as worker
    from looplab.sweep.engine import run_sweep

    def broken(acc, ctx):
        raise RuntimeError(f"cannot build {acc.name}")

    monkeypatch.setattr(worker, "_bundle", broken)
    spec = parse_spec(small_spec(tmp_path / "ds", execution={"workers": 1, "max_attempts": 2}))
    s = run_sweep(spec, progress=False, echo=lambda m: None)
    n = s["tasks_total"]
    assert s["tasks_failed"] == n and s["rows_run"] == 0
    fails = s["task_failures"]
    assert sum(fails.values()) == n and len(fails) == 2
    assert all(k.startswith(("RuntimeError: cannot build simba_final", "RuntimeError: cannot build gemmini_default"))
               for k in fails)
    st = DatasetStore(tmp_path / "ds")
    assert all(f["attempts"] == 2 for f in st.failures()) and len(st.failures()) == n
    again = run_sweep(spec, resume=True, progress=False, echo=lambda m: None)
    assert again["tasks_given_up_before"] == n and again["tasks_run"] == 0 and again["tasks_failed"] == 0


def test_import_dosa_csv(tmp_path):
    from looplab.cli import main
    from looplab.sweep.dataset import info
    from mappers.dosa import read_dosa_csv

    src = ROOT / "tests" / "data" / "dosa" / "timeloop_dataset_sample.csv"
    assert main(["import-dosa", str(src), "--out", str(tmp_path / "d"), "--rows-per-part", "7"]) == 0
    rows = read_dosa_csv(src)
    d = info(tmp_path / "d")
    assert d["rows"] == len(rows) and d["parts"] == -(-len(rows) // 7)
    table = DatasetStore(tmp_path / "d").read().to_pylist()
    levels = ("Registers", "Accumulator", "Scratchpad", "DRAM")
    for got, want in zip(table, rows, strict=True):
        assert got["cycles"] == int(want.targets["cycle"]) and got["dosa_energy"] == want.targets["energy"]
        assert got["arch_pe_dim"] == want.arch_params["pe_dim"] and got["K"] == want.dims["K"]
        m = Mapping.from_yaml(got["mapping_yaml"], levels)
        assert m.dim_products() == want.mapping.dim_products()
        assert [lm.temporal for lm in m.levels] == [lm.temporal for lm in want.mapping.levels]
    with pytest.raises(LooplabError, match="already exists"):
        from looplab.sweep.dosa_import import import_dosa

        import_dosa(src, tmp_path / "d")
    # DOSA's FireSim set: target.cycle is FireSim's count, so `cycles` takes Timeloop's from target.edp/energy
    fs = ROOT / "tests" / "data" / "dosa" / "firesim_training_head30.csv"
    assert main(["import-dosa", str(fs), "--out", str(tmp_path / "f")]) == 0
    for got in DatasetStore(tmp_path / "f").read().to_pylist():
        assert got["dosa_cycle"] == got["dosa_gemmini_cycle"]
        assert got["cycles"] == round(got["dosa_edp"] / got["dosa_energy"] * 1e6) != got["dosa_cycle"]


def test_jobqueue_spec(tmp_path):
    pytest.importorskip("dask_jobqueue")
    from looplab.sweep.dask_runner import jobqueue_cluster

    with pytest.raises(LooplabError, match="'type' must be one of"):
        jobqueue_cluster({"type": "k8s"})
    with pytest.raises(LooplabError, match="bad SLURMCluster options"):
        jobqueue_cluster({"type": "slurm", "cores": 4, "memory": "8GB", "no_such_option": 1}, start=False)
    spec = parse_spec(small_spec(tmp_path, cluster={"type": "slurm", "jobs": 2, "cores": 8, "memory": "16GB",
                                                    "walltime": "01:00:00", "queue": "normal"}))
    cluster = jobqueue_cluster(spec.cluster, start=False)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH" in script and "normal" in script and "01:00:00" in script


@pytest.mark.parametrize("use_kernel", [False, True], ids=["numpy", "numba"])
def test_analytical_rows_carry_recorded_access_counts(ref_dir, ref_cases, use_kernel):
    """Rows from the analytical backend hold per-level per-tensor reads/fills/updates equal to real Timeloop's
    (null where Timeloop reports no such tensor at the level)."""
    from looplab.energy.ert import load_ert

    if use_kernel:
        pytest.importorskip("numba")
    compared = 0
    for name in ("simba_final", "gemmini_default"):
        arch = parse_arch(ref_dir / "archs" / name / "arch.yaml")
        ert = load_ert(ref_dir / "archs" / name / "ERT.yaml")
        arch_cases = [c for c in ref_cases if c["arch"] == name]
        for layer in sorted({c["layer"] for c in arch_cases})[:4]:
            cases = [c for c in arch_cases if c["layer"] == layer]
            compared += _compare_access_counts(arch, ert, cases, use_kernel)
    assert compared > 2000


def _compare_access_counts(arch, ert, cases, use_kernel) -> int:
    from looplab.analytical import evaluate_batch
    from looplab.sweep.rows import from_batch_result

    compared = 0
    batch = MappingBatch.from_mappings([Mapping.from_record(c["mapping"]) for c in cases], arch.storage_names)
    br = evaluate_batch(arch, ert, cases[0]["layer_dims"], batch, use_kernel=use_kernel, stats=True)
    cols = from_batch_result(br, arch)
    for i, c in enumerate(cases):
        assert bool(br.valid[i]) == c["valid"]
        for lv in arch.storage_names:
            ds = c["stats"]["levels"].get(lv, {}).get("dataspaces", {}) if c["valid"] else {}
            for t in ("Weights", "Inputs", "Outputs"):
                for a in ("reads", "fills", "updates"):
                    got = cols[f"{a}_{lv}_{t}"][i].as_py()
                    want = ds[t][a] if t in ds else None
                    assert got == want, (c["case_id"], lv, t, a)
                    compared += want is not None
    return compared
