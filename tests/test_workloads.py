"""Workloads: Layer validation, the shipped catalogs, Timeloop problem YAML read/write."""

from __future__ import annotations

import json

import pytest

from looplab.errors import LooplabError
from looplab.workloads import PROBLEM_DIMS, Layer, get_layer, list_workloads, load_workload, workload_info


def test_resnet50_catalog_matches_reference_layers(ref_dir):
    ref = json.loads((ref_dir / "layers" / "layers.json").read_text())
    layers = load_workload("resnet50")
    assert [lay.name for lay in layers] == [r["name"] for r in ref]
    assert [lay.dims for lay in layers] == [r["dims"] for r in ref]
    assert [lay.count for lay in layers] == [r["count"] for r in ref]
    assert sum(lay.count for lay in layers) == 54
    assert len({lay.shape_key() for lay in layers}) == 24  # computationally distinct
    fc = layers[-1]
    assert (fc.C, fc.K, fc.P, fc.Q, fc.R, fc.S) == (2048, 1000, 1, 1, 1, 1)


def test_every_reference_problem_roundtrips_byte_identical(ref_dir):
    files = sorted((ref_dir / "layers").glob("*.yaml"))
    assert len(files) == 24
    by_name = {lay.name: lay for lay in load_workload("resnet50")}
    for path in files:
        lay = Layer.from_problem_yaml(path)
        assert lay.name == path.stem
        assert lay.dims == by_name[path.stem].dims
        assert lay.to_problem_yaml() == path.read_text(), path.name


def test_layer_is_frozen_and_derived_views():
    lay = Layer(3, 3, 56, 56, 64, 64, name="c", count=3)
    with pytest.raises(AttributeError):
        lay.P = 5  # type: ignore[misc]
    assert list(lay.dims) == list(PROBLEM_DIMS)
    assert lay.macs == 3 * 3 * 56 * 56 * 64 * 64
    assert lay.input_size == (58, 58)
    assert Layer(3, 3, 28, 28, 8, 8, Wstride=2, Hstride=2).input_size == (57, 57)
    assert lay.with_(K=128).K == 128 and lay.with_(K=128).name == "c"
    assert Layer(1.0, 1, 2, 2, 4, 4).R == 1 and isinstance(Layer(1.0, 1, 2, 2, 4, 4).R, int)


@pytest.mark.parametrize("field,value,match", [
    ("P", 0, "P must be a positive integer, got 0"),
    ("K", -4, "K must be a positive integer, got -4"),
    ("C", 2.5, "C must be a positive integer, got 2.5"),
    ("R", "3", "R must be a positive integer, got '3'"),
    ("Wstride", True, "Wstride must be a positive integer"),
    ("count", 0, "count must be a positive integer"),
])
def test_layer_rejects_bad_values_naming_the_field(field, value, match):
    kwargs = dict(R=1, S=1, P=2, Q=2, C=4, K=4, name="bad")
    kwargs[field] = value
    with pytest.raises(LooplabError, match=match) as exc:
        Layer(**kwargs)
    assert "layer 'bad'" in str(exc.value)


def test_layer_from_dims_unknown_and_missing_keys():
    with pytest.raises(LooplabError, match=r"unknown dimension\(s\) \['X'\]"):
        Layer.from_dims({"R": 1, "S": 1, "P": 1, "Q": 1, "C": 1, "K": 1, "X": 2})
    with pytest.raises(LooplabError, match=r"missing dimension\(s\) \['K'\]"):
        Layer.from_dims({"R": 1, "S": 1, "P": 1, "Q": 1, "C": 1})
    with pytest.raises(LooplabError, match=r"unknown key\(s\) \['dimz'\]"):
        Layer.from_dict({"name": "a", "dimz": {}})


def test_problem_yaml_errors_name_the_place(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("problem:\n  version: 0.4\n  shape: cnn_layer\n  instance: {R: 1, S: 1, P: 0, Q: 1, C: 1, K: 1}\n")
    with pytest.raises(LooplabError, match=r"bad.yaml: problem.instance: P must be a positive integer"):
        Layer.from_problem_yaml(p)
    p.write_text("problme: {}\n")
    with pytest.raises(LooplabError, match="missing top-level 'problem'"):
        Layer.from_problem_yaml(p)
    p.write_text("problem:\n  instance: {R: 1, S: 1, P: 1, Q: 1, C: 1, K: 1, Hstrid: 2}\n")
    with pytest.raises(LooplabError, match=r"unknown dimension\(s\) \['Hstrid'\]"):
        Layer.from_problem_yaml(p)


def test_problem_yaml_v03_shape_and_defaults():
    text = ("problem:\n  shape:\n    name: CNN-Layer\n  instance:\n    R: 3\n    S: 3\n    P: 7\n    Q: 7\n"
            "    C: 8\n    K: 16\n")
    lay = Layer.from_problem_yaml(text, name="v03")
    assert lay.dims == {"R": 3, "S": 3, "P": 7, "Q": 7, "C": 8, "K": 16, "N": 1, "Wstride": 1, "Hstride": 1,
                        "Wdilation": 1, "Hdilation": 1}
    assert Layer.from_problem_yaml(lay.to_problem_yaml()).dims == lay.dims


def test_unknown_workload_and_layer():
    with pytest.raises(LooplabError, match="unknown workload 'resnet51'.*resnet50"):
        load_workload("resnet51")
    with pytest.raises(LooplabError, match="unknown layer 'nope' in workload 'resnet50'"):
        get_layer("resnet50", "nope")
    assert get_layer("resnet50", "_outputs_3356").name == "resnet50._outputs_3356"


def test_every_shipped_catalog_is_valid():
    names = list_workloads()
    assert "resnet50" in names
    for name in names:
        info = workload_info(name)
        assert info["name"] == name and info["description"]
        layers = info["layers"]
        assert layers and all(isinstance(lay, Layer) for lay in layers)
        # unique names and computationally distinct layers (counts carry the repeats)
        assert len({lay.name for lay in layers}) == len(layers)
        assert len({lay.shape_key() for lay in layers}) == len(layers), name


def test_catalog_file_roundtrip_and_errors(tmp_path):
    from looplab.workloads import read_catalog, write_catalog

    layers = load_workload("resnet50")[:3]
    path = write_catalog(tmp_path / "mine.json", "mine", layers, description="three layers")
    assert load_workload(path) == layers
    assert read_catalog(path)["description"] == "three layers"
    text = path.read_text()
    path.write_text(text.replace('"count": 1', '"count": 0', 1))
    with pytest.raises(LooplabError, match=r"mine.json: layers\[0\].*count must be a positive integer"):
        load_workload(path)
    path.write_text(text.replace(layers[1].name, layers[0].name))
    with pytest.raises(LooplabError, match="duplicate layer name"):
        load_workload(path)
    path.write_text(text.replace('"description"', '"descr"'))
    with pytest.raises(LooplabError, match=r"unknown key\(s\) \['descr'\]"):
        load_workload(path)
