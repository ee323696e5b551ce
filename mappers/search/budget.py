"""Counting evaluations, keeping the best design and its convergence trace, and showing progress.

An *evaluation* is one network point evaluated by a cost model: a hardware design with one mapping for every
layer of the network (so N per-layer model calls for N unique layers). Picking the best of k mappings per layer
on one design costs k evaluations; one gradient step over S starts costs S (the differentiable model), and every
rounded point re-evaluated with the exact model costs one more.
"""

from __future__ import annotations

import math
import time
from typing import Any

from looplab.progress import Progress
from mappers.search.network import Design


class Tracker:
    """Evaluations spent, best design so far, and the trace ``[(evaluations, best EDP), ...]``."""

    def __init__(self, method: str, budget: int, progress: bool = False):
        self.method, self.budget = method, int(budget)
        self.evaluations = 0
        self.best: Design | None = None
        self.trace: list[tuple[int, float]] = []
        self.t0 = time.monotonic()
        self.progress = progress
        # a bar on a terminal, else a `method: done/budget eval (pct), rate, ETA` line every $LOOPLAB_PROGRESS_EVERY s
        self._prog = Progress(total=self.budget, unit="eval", desc=method, enabled=progress)

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.evaluations)

    @property
    def best_edp(self) -> float:
        return self.best.edp if self.best is not None else math.inf

    def spend(self, n: int, design: Design | None = None, curve: list[tuple[int, float]] | None = None) -> None:
        """Count ``n`` evaluations; ``design`` is the best point among them (None: none valid); ``curve`` optional
        ``(offset, EDP)`` of the best point after each of them, for a finer trace."""
        start = self.evaluations
        if curve:
            for off, edp in curve:
                self.trace.append((start + off, min(self.best_edp, edp)))
        if design is not None and design.edp < self.best_edp:
            self.best = design
        self.evaluations += int(n)
        self.trace.append((self.evaluations, self.best_edp))
        self._show(n)

    def _show(self, n: int) -> None:
        self._prog.postfix(**{"best EDP": f"{self.best_edp:.4g}"})
        self._prog.update(max(0, min(int(n), self.budget - self._prog.done)))  # a last step may overshoot

    def close(self) -> dict[str, Any]:
        self._prog.close()
        return {"evaluations": self.evaluations, "wall_s": time.monotonic() - self.t0}
