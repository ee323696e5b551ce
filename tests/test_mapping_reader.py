"""The lean mapping-file reader (:func:`mappers.mapping.read_mapping_text`): what ``evaluate --batch`` uses for
thousands of mapping files. It must give exactly what YAML gives, or None (and YAML reads the file), so results and
error messages do not depend on which reader ran."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import looplab.yamlio as yamlio
from arch_gen import get_preset, render_arch
from looplab.analytical.grouped import read_mappings
from looplab.archspec import parse_arch
from looplab.errors import LooplabError
from looplab.sweep.rows import mapping_yaml_texts, spatial_levels
from looplab.workloads import load_workload
from mappers.mapping import Mapping, MappingBatch, read_mapping_text
from mappers.sampler import sample_mappings

ROOT = Path(__file__).resolve().parents[1]

REFERENCE_LAYOUT = """mapping:
  - target: Registers
    type: temporal
    factors: R=1 S=3 P=1 Q=1 C=1 K=1 N=1
    permutation: KNSPRQC
  - target: GlobalBuffer
    type: spatial
    factors: R=1 S=1 P=1 Q=2 C=1 K=4 N=1
    permutation: QKSPRNC
    split: 1
  - target: Registers
    type: bypass
    keep: [Weights]
    bypass: [Inputs, Outputs]
  - target: DRAM
    type: bypass
    keep: [Weights, Inputs, Outputs]
    bypass: []
"""


def _sampled_texts(n: int = 8) -> tuple[list[str], list[str], dict[str, int]]:
    arch = parse_arch(render_arch(get_preset("simba_final")))
    layer = load_workload("resnet50")[1]
    batch, _ = sample_mappings(arch, layer.dims, n // 2, n - n // 2, 0, "simba")
    return mapping_yaml_texts(batch, spatial_levels(arch)), list(arch.storage_names), dict(layer.dims)


def test_reference_layout_is_read_lean_and_equals_yaml():
    texts, _, _ = _sampled_texts()
    for text in [REFERENCE_LAYOUT, REFERENCE_LAYOUT.replace("\n", "\r\n"), "\n\n" + REFERENCE_LAYOUT + "\n  \n",
                 REFERENCE_LAYOUT.replace("  - ", "- ").replace("    ", "  "), *texts]:
        got = read_mapping_text(text)
        assert got is not None, text
        assert got == yaml.safe_load(text)


def test_every_stored_mapping_file_reads_the_same_either_way():
    """Each mapping YAML file of the repository (test data, reference runs, examples): the lean reader gives YAML's
    data or leaves the file to YAML."""
    files = [p for p in ROOT.rglob("*.yaml") if ".venv" not in p.parts and "mapping" in p.name]
    assert len(files) > 20
    lean = 0
    for p in files:
        text = p.read_text()
        got = read_mapping_text(text)
        if got is not None:
            lean += 1
            assert got == yaml.safe_load(text), p
    assert lean > 10


@pytest.mark.parametrize("text", [
    "mapping:\n  - target: on\n    type: temporal\n",  # YAML 1.1 reads `on` as True
    "mapping:\n  - target: X\n    type: spatial\n    split: 07\n",  # octal
    "mapping:\n  - target: X\n    type: spatial\n    split: 1.5\n",
    "mapping:\n  - target: X\n    type: bypass\n    keep: [null]\n",
    "mapping:\n  - target: X\n    type: bypass\n    keep: [Yes, Inputs]\n",
    "mapping:\n  - target: X\n    type: bypass\n    keep:\n",
    "mapping:\n  - target: X\n    type: bypass\n    keep: ~\n",
    "mapping:\n  - target: X  # the buffer\n    type: temporal\n",
    "mapping:\n  - target: 'X'\n    type: temporal\n",
    "mapping:\n  - target: X\n\ttype: temporal\n",
    "mapping:\n  - target:X\n    type: temporal\n",
    "mapping:\n  - target: X\n      type: temporal\n",
    "mapping:\n  - target: X\n    type: temporal\n    factors: C=4 M=2\n    extra: 1\n",
    "mapping:\n  - target: &a X\n    type: temporal\n",
    "mapping:\n  - {target: X, type: temporal}\n",
    "---\nmapping:\n  - target: X\n    type: temporal\n",
    "mapping:\n  - target: X\n    type: temporal\nother: 1\n",
    "- target: X\n  type: temporal\n",
    "mapping: []\n",
    "mapping:\n",
    "mapping:\n  - target: X\n    type: bypass\n    keep: [Weights\n",
    "mapping:\n  - target: X\n    type: bypass\n    keep: [Weights,]\n",
    "mapping:\n  - target: X\n    type: temporal\n    factors: C=-1\n",
])
def test_anything_else_is_left_to_yaml(text):
    assert read_mapping_text(text) is None


@pytest.mark.parametrize("text, message", [
    ("mapping:\n  - target: Nowhere\n    type: temporal\n", r"entry 0: target 'Nowhere' is not a storage level"),
    ("mapping:\n  - target: DRAM\n    type: temporal\n    factors: C=x\n", r"entry 0: bad factor 'C=x'"),
    ("mapping:\n  - target: DRAM\n    type: temporal\n    factors: C=0\n", r"entry 0: factor 'C=0' must be >= 1"),
    ("mapping:\n  - target: DRAM\n    type: temporal\n    permutation: CC\n", r"entry 0: bad permutation 'CC'"),
    ("mapping:\n  - target: DRAM\n    type: sideways\n", r"entry 0: unknown directive type 'sideways'"),
    ("mapping:\n  - target: DRAM\n    type: bypass\n    keep: [Psums]\n", r"entry 0: unknown data space 'Psums'"),
    ("mapping:\n  - target: DRAM\n    type: temporal\n    colour: red\n", r"entry 0: unknown keys \['colour'\]"),
    ("mapping:\n  - target: DRAM\n    type: temporal\n  factors: [C\n", r"not valid YAML"),
])
def test_bad_mapping_files_give_one_line_naming_file_and_field(tmp_path, text, message):
    _, names, dims = _sampled_texts(2)
    p = tmp_path / "bad_mapping.yaml"
    p.write_text(text)
    with pytest.raises(LooplabError, match=message) as info:
        Mapping.from_yaml(p, names)
    assert str(info.value).startswith(f"{p}: ")
    if "YAML" not in message:
        assert "\n" not in str(info.value)
    _, idx, errors, _ = read_mappings([str(p)], names, dims)
    assert idx == [] and errors == {0: str(info.value)}


def test_batch_reads_mapping_files_without_pyyaml(tmp_path, monkeypatch):
    """``read_mappings`` (one group of ``evaluate --batch``) reads N reference-layout mapping files with the lean
    reader: PyYAML, whose Python object construction dominated a batch's time, is not called for them."""
    texts, names, dims = _sampled_texts(8)
    paths = []
    for i, text in enumerate(texts):
        (tmp_path / f"m{i}.yaml").write_text(text)
        paths.append(str(tmp_path / f"m{i}.yaml"))
    calls = {"yaml": 0}
    real_load = yamlio.yaml.load

    def counting(*a, **k):
        calls["yaml"] += 1
        return real_load(*a, **k)

    monkeypatch.setattr(yamlio.yaml, "load", counting)
    batch, idx, errors, _ = read_mappings(paths, names, dims)
    assert calls["yaml"] == 0
    assert batch is not None and len(batch) + len(errors) == len(paths)
    want = MappingBatch.from_mappings([Mapping.from_yaml(yaml.safe_load(texts[i]), names) for i in idx], names)
    for field in ("temporal", "spatial_x", "spatial_y", "perm", "keep", "sperm"):
        assert (getattr(batch, field) == getattr(want, field)).all(), field
