"""One progress reporter for every long command: it counts itself, draws a tqdm bar on a terminal and prints a plain
``desc: done/total unit (pct), rate unit/s, ETA ...`` line every ``every_s`` seconds otherwise (nohup, Slurm logs).

    with Progress(total=len(todo), unit="pt", desc="sweep") as prog:
        for ... :
            prog.update(n)
            prog.postfix(valid="42.0%")

``enabled=False`` (``--no-progress``) shows nothing but still counts. The plain-line interval defaults to 30 s and
can be set with ``$LOOPLAB_PROGRESS_EVERY`` (seconds; 0 = a line per update). The rate and the ETA are measured from
this reporter's start over the units it counted, so set-up time does not distort them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

DEFAULT_EVERY_S = 30.0


def _every_from_env() -> float:
    raw = os.environ.get("LOOPLAB_PROGRESS_EVERY")
    if raw is None or not raw.strip():
        return DEFAULT_EVERY_S
    try:
        return max(0.0, float(raw))
    except ValueError:
        return DEFAULT_EVERY_S


def format_duration(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``, ``1.4 d``."""
    if seconds != seconds or seconds == float("inf"):  # nan / inf
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def progress_line(desc: str, done: int, total: int | None, elapsed_s: float, unit: str = "it",
                  postfix: dict[str, Any] | None = None) -> str:
    """The plain progress line (a pure function of the counts and the elapsed time)."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    head = f"{desc}: " if desc else ""
    if total:
        line = f"{head}{done}/{total} {unit} ({100 * done / total:.1f}%)"
    else:
        line = f"{head}{done} {unit}"
    line += f", {rate:,.1f} {unit}/s" if rate < 10 else f", {rate:,.0f} {unit}/s"
    if total:
        left = max(0, total - done)
        line += ", ETA " + (format_duration(left / rate) if rate > 0 else "?") if left else ", finished"
    line += f", elapsed {format_duration(elapsed_s)}"
    if postfix:
        line += ", " + ", ".join(f"{k} {v}" for k, v in postfix.items())
    return line


class Progress:
    """Counts units of work and shows them: a tqdm bar on a terminal, a plain line every ``every_s`` s otherwise."""

    def __init__(self, total: int | None, unit: str = "it", desc: str = "", enabled: bool = True,
                 every_s: float | None = None, stream: TextIO | None = None,
                 echo: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.unit, self.desc = unit, desc
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = _every_from_env() if every_s is None else every_s
        self._echo = echo or (lambda s: print(s, file=self.stream, flush=True))
        self._clock = clock
        self._t0 = clock()
        self._last = self._t0
        self._postfix: dict[str, Any] = {}
        self.lines_printed = 0
        self._printed_at = -1  # the count the last plain line showed
        self._bar = None
        self.mode = "off"
        if enabled:
            isatty = getattr(self.stream, "isatty", None)
            if isatty is not None and isatty():
                from tqdm import tqdm

                self._bar = tqdm(total=total, unit=unit, desc=desc or None, file=self.stream, dynamic_ncols=True,
                                 smoothing=0.05)
                self.mode = "bar"
            else:
                self.mode = "lines"

    @property
    def elapsed_s(self) -> float:
        return self._clock() - self._t0

    def line(self) -> str:
        return progress_line(self.desc, self.done, self.total, self.elapsed_s, self.unit, self._postfix)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode == "lines":
            now = self._clock()
            if now - self._last >= self.every_s:
                self._last = now
                self._print()

    def add_total(self, delta: int) -> None:
        """Grow or shrink the total (e.g. work given up)."""
        self.total = (self.total or 0) + delta
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def postfix(self, **values: Any) -> None:
        self._postfix.update(values)
        if self._bar is not None:
            self._bar.set_postfix(self._postfix, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "lines" and self.lines_printed and self._printed_at != self.done:
            self._print()  # end a logged run with its final count, unless the last line already showed it
        self.mode = "off"

    def _print(self) -> None:
        self._echo(self.line())
        self.lines_printed += 1
        self._printed_at = self.done

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
