"""Timeloop's ERROR lines: which level failed, why, and by how much.

timeloop-model checks levels from the innermost outward and prints only the first failure, e.g.::

    ERROR: couldn't map level GlobalBuffer: mapped tile size 70656 exceeds buffer capacity 65536
    ERROR: couldn't map level MACC: mapped max Arithmetic instances 1792 exceeds hardware instances 1024
    ERROR: couldn't map level AccumulationBuffer: mapped instances 224 exceeds available hardware instances 128

Kinds: ``capacity`` (tile does not fit a buffer), ``fanout`` (spatial instances / X / Y expansion exceed the
hardware), ``constraint`` (a mapping-constraint violation or an unrecognised per-level reason) and ``parse``
(Timeloop rejected the input files themselves).
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAP_ERROR_RE = re.compile(r"ERROR:\s*couldn'?t map level\s+(?P<level>[^:]+?)\s*:\s*(?P<reason>.*\S)")
_EXCEEDS_RE = re.compile(
    r"mapped\s+(?P<what>.+?)\s+(?P<mapped>\d+(?:\.\d+)?)\s+(?:for data-space\s+(?P<dataspace>\S+)\s+)?"
    r"exceeds\s+(?P<limit>.+?)\s+(?P<available>\d+(?:\.\d+)?)\s*$"
)
_CONSTRAINT_RE = re.compile(r"violat\w*\s+.*constraint", re.IGNORECASE)


class MapError(NamedTuple):
    """One parsed ERROR line. ``mapped``/``available`` are None when the reason carries no numbers."""

    level: str | None
    kind: str  # one of looplab.result.INVALID_KINDS
    reason: str
    mapped: int | None
    available: int | None


def _num(text: str | None) -> int | None:
    if text is None:
        return None
    value = float(text)
    return int(value) if value.is_integer() else None


def classify_reason(reason: str) -> tuple[str, int | None, int | None]:
    """Kind plus (mapped, available) for the text after ``couldn't map level X:``."""
    m = _EXCEEDS_RE.search(reason)
    if not m:  # e.g. a per-level constraint violation: no numbers to compare
        return "constraint", None, None
    what, limit = m["what"].lower(), m["limit"].lower()
    if "capacity" in limit or "tile" in what or "size" in what:
        kind = "capacity"
    elif any(w in what or w in limit for w in ("instances", "expansion", "fanout")):
        kind = "fanout"
    else:
        kind = "constraint"
    return kind, _num(m["mapped"]), _num(m["available"])


def parse_error_line(line: str) -> MapError | None:
    """Parse one Timeloop ERROR line; None when ``line`` is not an ERROR line.

    ``ERROR: couldn't map level L: <reason>`` -> kind capacity|fanout|constraint with mapped vs available;
    a constraint violation (``Mapping violates architecture constraints``) -> constraint; any other ERROR line
    (Timeloop rejecting its input) -> parse.
    """
    text = line.strip()
    m = MAP_ERROR_RE.search(text)
    if m:
        reason = m["reason"]
        kind, mapped, available = classify_reason(reason)
        return MapError(m["level"].strip(), kind, reason, mapped, available)
    if not text.startswith("ERROR"):
        return None
    reason = text.split(":", 1)[1].strip() if ":" in text else text
    if _CONSTRAINT_RE.search(reason):
        return MapError(None, "constraint", reason, None, None)
    return MapError(None, "parse", reason or text, None, None)


def find_error(*texts: str) -> MapError | None:
    """The first ``couldn't map level`` error in the given outputs, else the first other ERROR line."""
    other: MapError | None = None
    for text in texts:
        for line in (text or "").splitlines():
            if "ERROR" not in line:
                continue
            err = parse_error_line(line[line.index("ERROR"):])
            if err is None:
                continue
            if err.level is not None:
                return err
            other = other or err
    return other


def format_error_line(level: str, reason: str) -> str:
    """The line timeloop-model prints for an invalid mapping."""
    return f"ERROR: couldn't map level {level}: {reason}"
