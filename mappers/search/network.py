"""Networks as unique layers with repeat counts, network-level cost (as DOSA), and designs with their outputs.

Network latency = sum of count x cycles, energy = sum of count x energy, EDP = their product (cycles x pJ).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from looplab.errors import LooplabError
from looplab.workloads import Layer, load_workload
from mappers.mapping import MappingBatch

CONV_KEYS = ("Wstride", "Hstride", "Wdilation", "Hdilation")


@dataclass(frozen=True)
class Network:
    """A network: its unique layers (each with its repeat count)."""

    name: str
    layers: tuple[Layer, ...]

    @classmethod
    def from_workload(cls, workload: str | Path) -> Network:
        """A shipped catalog by name or a catalog JSON file (``looplab.workloads``)."""
        layers = load_workload(workload)
        if not layers:
            raise LooplabError("workload has no layers", str(workload))
        return cls(Path(str(workload)).stem, tuple(layers))

    @classmethod
    def from_layers(cls, name: str, layers: list[Layer]) -> Network:
        """E.g. the layers of :func:`looplab.workloads.from_torch`."""
        return cls(name, tuple(layers))

    @property
    def counts(self) -> np.ndarray:
        return np.array([lay.count for lay in self.layers], np.float64)

    @property
    def folders(self) -> list[str]:
        """One output folder name per layer (``00_<name>``)."""
        return [f"{i:02d}_{lay.name.split('.', 1)[-1] or 'layer'}".replace("/", "_")
                for i, lay in enumerate(self.layers)]

    def groups(self) -> list[list[int]]:
        """Layer indices grouped by strides and dilations (layers one differentiable call can share)."""
        out: dict[tuple[int, ...], list[int]] = {}
        for i, lay in enumerate(self.layers):
            out.setdefault(tuple(lay.dims[k] for k in CONV_KEYS), []).append(i)
        return list(out.values())


def network_cost(cycles: np.ndarray, energy: np.ndarray, counts: np.ndarray) -> tuple[Any, Any, Any]:
    """(latency, energy, EDP) of per-layer ``cycles``/``energy`` ``[..., N]`` (numpy or torch) with ``counts``."""
    lat = (cycles * counts).sum(-1)
    en = (energy * counts).sum(-1)
    return lat, en, lat * en


@dataclass
class Design:
    """A hardware design with one mapping per layer and their exact per-layer results."""

    hardware: Any  # GemminiConfig
    mappings: list[MappingBatch]  # one row each
    cycles: np.ndarray  # [N]
    energy_pJ: np.ndarray  # [N]
    counts: np.ndarray  # [N]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency(self) -> float:
        return float((self.cycles * self.counts).sum())

    @property
    def energy(self) -> float:
        return float((self.energy_pJ * self.counts).sum())

    @property
    def edp(self) -> float:
        return self.latency * self.energy


def evaluate_design(net: Network, cfg: Any, mappings: list[MappingBatch], archs: Any) -> Design:
    """Exact (analytical, Timeloop-equal) per-layer results of ``mappings`` on ``cfg``; raises when one is
    invalid there."""
    from looplab.analytical import evaluate_batch

    arch, ert, _ = archs.get(cfg)
    cyc, en = np.zeros(len(net.layers)), np.zeros(len(net.layers))
    for i, (lay, m) in enumerate(zip(net.layers, mappings, strict=True)):
        r = evaluate_batch(arch, ert, lay.dims, m)
        if not r.valid[0]:
            raise LooplabError(f"mapping of layer {lay.name} is invalid on {cfg.to_params()}: {r.reason[0]}",
                               "co-search")
        cyc[i], en[i] = r.cycles[0], r.energy_pJ[0]
    return Design(cfg, mappings, cyc, en, net.counts)


def write_design(net: Network, design: Design, out: Path, archs: Any, extra: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """``out/arch.yaml`` (+ ``ERT.yaml``/``ART.yaml``), per layer ``out/<folder>/problem.yaml`` + ``mapping.yaml``
    (Timeloop's format) and ``out/network.json``; returns the network record."""
    from arch_gen import render_arch
    from mappers.canonical import mapping_to_yaml

    out.mkdir(parents=True, exist_ok=True)
    arch, _, _ = archs.get(design.hardware)
    (out / "arch.yaml").write_text(render_arch(design.hardware))
    archs.write_tables(design.hardware, out)
    layers = []
    for lay, m, folder, c, e in zip(net.layers, design.mappings, net.folders, design.cycles, design.energy_pJ,
                                    strict=True):
        d = out / folder
        d.mkdir(exist_ok=True)
        (d / "problem.yaml").write_text(lay.to_problem_yaml())
        (d / "mapping.yaml").write_text(mapping_to_yaml(m.to_mappings()[0], arch))
        layers.append({"folder": folder, "layer": lay.name, "count": lay.count, "cycles": int(c),
                       "energy_pJ": float(e)})
    rec = {"network": net.name, "hardware": design.hardware.to_params(), "layers": layers,
           "cycles": design.latency, "energy_pJ": design.energy, "edp": design.edp, **(extra or {})}
    (out / "network.json").write_text(json.dumps(rec, indent=1))
    return rec
