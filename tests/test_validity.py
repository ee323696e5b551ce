"""Validity against the recorded real-Timeloop verdicts, plus the rules on small hand-made cases."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
import yaml

from looplab.archspec import parse_arch
from looplab.errors import LooplabError
from mappers.mapping import LevelMapping, Mapping, MappingBatch
from mappers.validity import capacity, check, check_batch, mesh


@pytest.fixture(scope="module")
def specs(ref_dir):
    return {p.parent.name: parse_arch(p) for p in (ref_dir / "archs").glob("*/arch.yaml")}


@pytest.mark.parametrize("use_kernel", [False, True], ids=["numpy", "numba"])
def test_reference_cases_verdict_level_and_reason(ref_cases, specs, use_kernel):
    """Every recorded case: same verdict, same failing level, and the same CLI error line as Timeloop, on the
    numpy path and on the compiled one."""
    if use_kernel:
        pytest.importorskip("numba")
    groups = defaultdict(list)
    for case in ref_cases:
        groups[(case["arch"], case["layer"])].append(case)
    n = same_valid = same_level = same_line = 0
    for (arch, _), cases in groups.items():
        spec = specs[arch]
        batch = MappingBatch.from_mappings([Mapping.from_record(c["mapping"]) for c in cases], spec.storage_names)
        v = check_batch(spec, cases[0]["layer_dims"], batch, use_kernel=use_kernel)
        for i, c in enumerate(cases):
            n += 1
            same_valid += bool(v.valid[i]) == c["valid"]
            level = None if c["valid"] else c["error"].split("couldn't map level ")[1].split(":")[0]
            same_level += v.failed_level[i] == level
            same_line += v.error_line(i) == c.get("error")
            if not c["valid"]:
                assert v.kind[i] == c["error_kind"], c["case_id"]
    assert n == 5184
    assert (same_valid, same_level, same_line) == (n, n, n)


def test_cli_runs_from_files(ref_dir):
    """The complete timeloop-model CLI runs: arch/problem/mapping files in, stdout error line out."""
    index = json.loads((ref_dir / "full" / "index.json").read_text())
    assert index
    for entry in index:
        d = ref_dir / "full" / entry["dir"]
        spec = parse_arch(d / "arch.yaml")
        dims = yaml.safe_load((d / "problem.yaml").read_text())["problem"]["instance"]
        m = Mapping.from_yaml(d / "mapping.yaml", spec.storage_names)
        valid, level, _, reason = check(spec, dims, m)
        out = (d / "stdout.txt").read_text() + (d / "stderr.txt").read_text()
        errors = [ln for ln in out.splitlines() if ln.startswith("ERROR:")]
        assert valid == (not errors) == entry["valid"], entry["dir"]
        if errors:
            assert errors[0] == f"ERROR: couldn't map level {level}: {reason}"


# ---- small hand-made architecture --------------------------------------------------------------------

ARCH = """
architecture:
  version: 0.4
  subtree:
  - name: System
    local:
    - {name: DRAM, class: DRAM, attributes: {width: 64, datawidth: 8}}
    subtree:
    - name: Chip
      local:
      - {name: Buf, class: SRAM, attributes: {depth: 4, width: 32, datawidth: 8, instances: 1}}
      subtree:
      - name: PE[0..3]
        local:
        - {name: Reg, class: regfile, attributes: {depth: 2, width: 8, datawidth: 8, instances: 4}}
        - {name: MAC, class: intmac, attributes: {datawidth: 8, instances: 4}}
"""


def _mapping(buf_t=None, buf_x=None, buf_y=None, reg_t=None, keep_buf=("Inputs",)):
    return Mapping([
        LevelMapping("Reg", temporal=reg_t or {}, keep=["Weights"], bypass=["Inputs", "Outputs"]),
        LevelMapping("Buf", temporal=buf_t or {}, spatial_x=buf_x or {}, spatial_y=buf_y or {},
                     keep=list(keep_buf), bypass=[t for t in ("Weights", "Inputs", "Outputs") if t not in keep_buf]),
        LevelMapping("DRAM", temporal={}),
    ])


def _dims(**kw):
    d = dict(R=1, S=1, P=1, Q=1, C=1, K=1, N=1, Wstride=1, Hstride=1, Wdilation=1, Hdilation=1)
    d.update(kw)
    return d


def _fix_dram(m: Mapping, dims: dict) -> Mapping:
    """Put whatever the inner levels leave of each dim at DRAM."""
    prod = m.dim_products()
    m.level("DRAM").temporal = {d: int(dims[d]) // prod[d] for d in prod}
    return m


def test_mesh_defaults_follow_timeloop():
    spec = parse_arch(ARCH)
    # No meshX given: Timeloop takes meshX = instances, meshY = 1.
    assert mesh(spec.compute) == (4, 1)
    assert mesh(spec.level("Reg")) == (4, 1)


def test_sliding_window_input_tile():
    spec = parse_arch(ARCH)  # Buf holds 4*4 = 16 words
    dims = _dims(R=3, P=4, Wstride=2)
    # Buf keeps Inputs with R=3, P=2 inside: W extent (2-1)*2 + (3-1)*1 + 1 = 5 words -> fits.
    m = _fix_dram(_mapping(buf_t={"R": 3, "P": 2}), dims)
    assert check(spec, dims, m) == (True, None, None, None)
    # P=4 inside: (4-1)*2 + 2 + 1 = 9 words; with C=2 as well 18 > 16.
    dims = _dims(R=3, P=4, C=2, Wstride=2)
    m = _fix_dram(_mapping(buf_t={"R": 3, "P": 4, "C": 2}), dims)
    assert check(spec, dims, m) == (False, "Buf", "capacity", "mapped tile size 18 exceeds buffer capacity 16")
    # Dilation widens the window too: (2-1)*1 + (3-1)*3 + 1 = 8 words.
    dims = _dims(R=3, P=2, C=2, Wdilation=3)
    m = _fix_dram(_mapping(buf_t={"R": 3, "P": 2, "C": 2}), dims)
    assert check(spec, dims, m)[0] is True
    dims = _dims(R=3, P=3, C=2, Wdilation=3)
    m = _fix_dram(_mapping(buf_t={"R": 3, "P": 3, "C": 2}), dims)
    assert check(spec, dims, m)[3] == "mapped tile size 18 exceeds buffer capacity 16"


def test_bypassed_tensors_do_not_count():
    spec = parse_arch(ARCH)
    dims = _dims(K=16, P=2)
    m = _fix_dram(_mapping(buf_t={"K": 16}), dims)  # Buf keeps only Inputs (1 word): fine
    assert check(spec, dims, m)[0]
    m = _fix_dram(_mapping(buf_t={"K": 16}, keep_buf=("Inputs", "Weights")), dims)  # + 16 weights
    assert check(spec, dims, m)[3] == "mapped tile size 17 exceeds buffer capacity 16"


def test_spatial_checks_arithmetic_first_then_levels():
    spec = parse_arch(ARCH)
    dims = _dims(K=8, C=64)
    # 8 PEs wanted, 4 exist: reported at the arithmetic level even though Buf also overflows (C=64 kept).
    m = _fix_dram(_mapping(buf_t={"C": 64}, buf_x={"K": 8}, keep_buf=("Inputs", "Weights")), dims)
    assert check(spec, dims, m) == (False, "MAC", "fanout",
                                    "mapped max Arithmetic instances 8 exceeds hardware instances 4")
    # Y extent 2 on a 4x1 mesh: instances fit (2 <= 4) but Y does not.
    m = _fix_dram(_mapping(buf_y={"K": 2}), dims)
    assert check(spec, dims, m)[3] == "mapped max Arithmetic Y expansion 2 exceeds hardware instances 1"
    # Registers hold one weight word per entry (depth 2): a K=4 temporal loop at Reg overflows it.
    m = _fix_dram(_mapping(reg_t={"K": 4}), dims)
    assert check(spec, dims, m) == (False, "Reg", "capacity", "mapped tile size 4 exceeds buffer capacity 2")


def test_batch_level_order_and_factor_mismatch():
    spec = parse_arch(ARCH)
    dims = _dims(R=3, P=4, Wstride=2)
    good = _fix_dram(_mapping(buf_t={"R": 3, "P": 2}), dims)
    wrong = _mapping(buf_t={"R": 3})  # P never mapped
    batch = MappingBatch.from_mappings([good, wrong], ["DRAM", "Buf", "Reg"])  # outer-first order
    v = check_batch(spec, dims, batch)
    assert v.valid.tolist() == [True, False]
    assert v.kind[1] == "factors" and "P: factors give 1, layer has 4" in v.reason[1]
    assert v.error_line(0) is None
    with pytest.raises(LooplabError, match="not storage levels"):
        check_batch(spec, dims, MappingBatch.from_mappings([good], ["Reg", "Buf", "L2"]))


def test_empty_batch():
    spec = parse_arch(ARCH)
    batch = MappingBatch.from_mappings([_mapping()], spec.storage_names)[0:0]
    v = check_batch(spec, _dims(), batch)
    assert len(v) == 0 and v.valid.dtype == np.bool_


def test_capacity_follows_timeloop_size_attributes():
    def lvl(**attrs):
        text = ARCH.replace("{depth: 4, width: 32, datawidth: 8, instances: 1}",
                            "{" + ", ".join(f"{k}: {v}" for k, v in attrs.items()) + ", instances: 1}")
        return parse_arch(text).level("Buf")

    assert capacity(lvl(depth=4, width=32, datawidth=8)) == (16, 0.0)  # block = width / datawidth
    assert capacity(lvl(depth=4, width=32, datawidth=8, **{"block-size": 2})) == (8, 0.0)
    assert capacity(lvl(depth=4, width=32, datawidth=8, **{"cluster-size": 2})) == (8, 0.0)
    assert capacity(lvl(entries=10, depth=4, width=32, datawidth=8)) == (10, 0.0)
    assert capacity(lvl(sizeKB=1, datawidth=16)) == (512, 0.0)
    assert capacity(lvl(depth=5, width=32, datawidth=8, **{"multiple-buffering": 2})) == (10, 0.0)
    spec = parse_arch(ARCH.replace("{depth: 4, width: 32, datawidth: 8, instances: 1}",
                                   "{depth: 4, width: 32, datawidth: 8, min-utilization: 0.5, instances: 1}"))
    dims = _dims(K=16)
    m = _fix_dram(_mapping(), dims)  # Buf holds 1 input word, 16 * 0.5 = 8 required
    assert check(spec, dims, m)[3] == "mapped tile size 1 is less than constrained minimum utilization 8"


def test_compiled_and_numpy_paths_agree_on_random_mappings(specs):
    """Sampled mappings of every family, plus broken factor products: same code, value and text on both paths."""
    pytest.importorskip("numba")
    from mappers.sampler import sample_mappings

    layers = [dict(R=3, S=3, P=28, Q=28, C=128, K=128, N=1, Wstride=1, Hstride=1, Wdilation=1, Hdilation=1),
              dict(R=7, S=7, P=112, Q=112, C=3, K=64, N=1, Wstride=2, Hstride=2, Wdilation=1, Hdilation=1),
              dict(R=3, S=3, P=14, Q=14, C=64, K=32, N=2, Wstride=1, Hstride=1, Wdilation=2, Hdilation=2)]
    checked = 0
    for name in ("simba_final", "arch0", "gemmini_default", "gemmini_4x4"):
        spec = specs[name]
        for li, dims in enumerate(layers):
            batch, _ = sample_mappings(spec, dims, n_valid=100, n_invalid=700, seed=li)
            t = batch.temporal.copy()
            t[::50, 0, 2] += 1  # every 50th mapping no longer multiplies out to P
            batch = MappingBatch(batch.level_names, t, batch.spatial_x, batch.spatial_y, batch.perm, batch.keep,
                                 batch.sperm)
            a = check_batch(spec, dims, batch, use_kernel=False)
            b = check_batch(spec, dims, batch, use_kernel=True)
            assert np.array_equal(a.code, b.code) and np.array_equal(a.value, b.value)
            assert list(a.reason) == list(b.reason) and list(a.failed_level) == list(b.failed_level)
            assert (a.kind == "factors").sum() >= len(batch) // 50
            assert len(set(a.code[~a.valid].tolist())) >= 3
            checked += len(batch)
    assert checked == 4 * 3 * 800
