"""One result type for every backend: real timeloop-model, pytimeloop, and the analytical model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Failure kinds. Mapping invalidity (what Timeloop reports with "ERROR: couldn't map level ...") is
# distinct from the simulator failing to run at all.
INVALID_KINDS = ("capacity", "fanout", "constraint", "parse")
FAILURE_KINDS = ("timeout", "crash", "garbage", "missing_binary", "no_stats", "accelergy")


@dataclass
class TensorStats:
    """Per level, per data space (Weights/Inputs/Outputs) counts, per instance, as in stats.txt."""

    reads: float = 0.0
    fills: float = 0.0
    updates: float = 0.0
    utilized_capacity: float = 0.0
    utilized_instances: float = 0.0
    energy_pJ: float = 0.0


@dataclass
class LevelStats:
    cycles: float | None = None
    energy_pJ: float = 0.0
    tensors: dict[str, TensorStats] = field(default_factory=dict)


@dataclass
class EvalResult:
    """Outcome of evaluating one (architecture, layer, mapping).

    ``valid`` False with ``error_kind`` in INVALID_KINDS: the mapping does not fit (Timeloop's ERROR line).
    ``error_kind`` in FAILURE_KINDS: the evaluation itself failed; ``valid`` is None (unknown).
    """

    valid: bool | None
    backend: str
    failed_level: str | None = None
    reason: str | None = None
    error_kind: str | None = None
    cycles: int | None = None
    energy_pJ: float | None = None
    utilization: float | None = None
    computes: int | None = None
    energy_by_level: dict[str, float] = field(default_factory=dict)  # pJ per level (incl. MACC)
    energy_by_action: dict[str, float] = field(default_factory=dict)  # pJ per action kind
    levels: dict[str, LevelStats] = field(default_factory=dict)
    backend_version: str | None = None
    wall_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when the evaluation could not be carried out (as opposed to an invalid mapping)."""
        return self.error_kind in FAILURE_KINDS

    def to_row(self, id_: Any = None) -> dict[str, Any]:
        """The RESULTS line of ``looplab evaluate --batch`` (DESIGN.md)."""
        row = {"id": id_, "valid": self.valid, "failed_level": self.failed_level, "reason": self.reason,
               "cycles": self.cycles, "energy_pJ": self.energy_pJ, "backend": self.backend}
        if self.error_kind:
            row["error_kind"] = self.error_kind
        return row

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_lines(self) -> list[str]:
        """timeloop-model's summary style (or its ERROR line for an invalid mapping)."""
        if self.valid:
            return [f"Utilization: {100 * (self.utilization or 0):.2f}%", f"Cycles: {self.cycles}",
                    f"Energy: {(self.energy_pJ or 0) / 1e6:.2f} uJ"]
        if self.valid is False:
            return [f"ERROR: couldn't map level {self.failed_level}: {self.reason}"]
        return [f"ERROR: evaluation failed ({self.error_kind}): {self.reason}"]
