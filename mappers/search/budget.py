"""Counting evaluations, keeping the best design and its convergence trace, and showing progress.

An *evaluation* is one network point evaluated by a cost model: a hardware design with one mapping for every
layer of the network (so N per-layer model calls for N unique layers). Picking the best of k mappings per layer
on one design costs k evaluations; one gradient step over S starts costs S (the differentiable model), and every
rounded point re-evaluated with the exact model costs one more.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from mappers.search.network import Design


class Tracker:
    """Evaluations spent, best design so far, and the trace ``[(evaluations, best EDP), ...]``."""

    def __init__(self, method: str, budget: int, progress: bool = False):
        self.method, self.budget = method, int(budget)
        self.evaluations = 0
        self.best: Design | None = None
        self.trace: list[tuple[int, float]] = []
        self.t0 = time.monotonic()
        self._bar = None
        self._last_line = self.t0
        self.progress = progress
        if progress and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.budget, desc=method, unit="eval", file=sys.stderr, dynamic_ncols=True)

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
        if self._bar is not None:
            self._bar.update(min(n, self._bar.total - self._bar.n))
            self._bar.set_postfix_str(f"best EDP {self.best_edp:.3g}", refresh=False)
        elif self.progress and time.monotonic() - self._last_line > 5:
            self._last_line = time.monotonic()
            print(f"{self.method}: {self.evaluations}/{self.budget} evaluations, best EDP {self.best_edp:.4g}, "
                  f"{time.monotonic() - self.t0:.0f} s", file=sys.stderr, flush=True)

    def close(self) -> dict[str, Any]:
        if self._bar is not None:
            self._bar.close()
        return {"evaluations": self.evaluations, "wall_s": time.monotonic() - self.t0}
