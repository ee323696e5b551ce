"""Layers are easy to find and to name: ``looplab list layers``, readable aliases accepted wherever a layer name is."""

from __future__ import annotations

import pytest
import yaml

from looplab.cli import main
from looplab.errors import LooplabError
from looplab.sweep import parse_spec, plan
from looplab.workloads import get_layer, list_workloads, load_workload


def test_list_layers_shows_names_aliases_dims_counts(capsys):
    assert main(["list", "layers", "resnet50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("resnet50: 24 distinct layers, 54 in the network")
    row = next(ln.split() for ln in lines if " conv1 " in ln)
    assert row[:4] == ["0", "resnet50._outputs_input.2", "conv1", "7"] and row[-2:] == ["1", "118.0"]
    assert main(["list", "layers"]) == 0  # every workload, in turn
    out = capsys.readouterr().out
    assert all(f"{w}: " in out for w in list_workloads())
    assert main(["list", "presets", "resnet50"]) == 2


def test_every_catalog_layer_has_a_distinct_readable_name():
    for w in list_workloads():
        layers = load_workload(w)
        labels = [lay.label(w) for lay in layers]
        assert len(set(labels)) == len(labels), w
        assert all(get_layer(w, lab) == lay for lab, lay in zip(labels, layers, strict=True))


def test_resnet50_aliases_are_the_torch_module_paths():
    assert get_layer("resnet50", "conv1").name == "resnet50._outputs_input.2"
    assert get_layer("resnet50", "layer1.0.conv2").name == "resnet50._outputs_input.8"
    assert get_layer("resnet50", "fc").name == "resnet50._outputs_3356"
    assert get_layer("resnet50", "_outputs_input.2") == get_layer("resnet50", "conv1")
    with pytest.raises(LooplabError, match=r"unknown layer 'layer9'.*_outputs_input.2 \(conv1\)"):
        get_layer("resnet50", "layer9")


def test_aliases_accepted_by_emit_and_sweep(tmp_path, capsys):
    assert main(["emit", "problem", "--workload", "resnet50", "--layer", "layer2.0.conv2"]) == 0
    inst = yaml.safe_load(capsys.readouterr().out)["problem"]["instance"]
    assert (inst["R"], inst["P"], inst["C"], inst["Wstride"]) == (3, 28, 128, 2)
    spec = parse_spec({"name": "a", "out": str(tmp_path / "o"), "accelerators": {"presets": ["simba_final"]},
                       "workloads": [{"workload": "resnet50", "layers": ["conv1", "layer1.0.conv2", 23]}],
                       "mappings": {"valid": 1, "invalid": 1}, "points_per_task": 2})
    assert [t.units[0].layer.name for t in plan(spec)] == ["resnet50._outputs_input.2", "resnet50._outputs_input.8",
                                                           "resnet50._outputs_3356"]
