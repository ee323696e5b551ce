"""Accelergy Energy/Area Reference Tables (ERT.yaml / ART.yaml) as plain Python objects.

Timeloop charges every storage action with the ERT entry whose arguments are ``data_delta: 1,
address_delta: 1`` (the "random" access); :meth:`Ert.energy` returns exactly that entry by default.
An ``update`` action absent from the table costs what ``write`` costs (Timeloop's mapping of updates).
Component names are Accelergy's full paths (``System.Chip.PE[0..15].InputBuffer``); lookups also accept
the bare component name (``InputBuffer``) when it is unique in the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from looplab.errors import LooplabError

_RANGE = re.compile(r"\[\d+\.\.\d+\]")


def _short(path: str) -> str:
    return _RANGE.sub("", path).split(".")[-1]


@dataclass(frozen=True)
class ActionEntry:
    name: str
    arguments: dict[str, Any]
    energy: float


@dataclass
class Ert:
    """Energy per action per component (pJ)."""

    tables: dict[str, list[ActionEntry]] = field(default_factory=dict)
    source: str | None = None

    @property
    def components(self) -> list[str]:
        return list(self.tables)

    def resolve(self, component: str) -> str:
        """Full table name for ``component`` (a full path or a unique bare name)."""
        if component in self.tables:
            return component
        stripped = _RANGE.sub("", component)
        hits = [n for n in self.tables if _RANGE.sub("", n) == stripped]
        if not hits:
            short = _short(component)
            hits = [n for n in self.tables if _short(n) == short]
        if len(hits) != 1:
            what = "no" if not hits else "ambiguous"
            raise LooplabError(f"{what} ERT table for component {component!r} (tables: {self.components})",
                               self.source)
        return hits[0]

    def actions(self, component: str) -> list[str]:
        return sorted({e.name for e in self.tables[self.resolve(component)]})

    def has(self, component: str) -> bool:
        try:
            self.resolve(component)
        except LooplabError:
            return False
        return True

    def energy(self, component: str, action: str, data_delta: int = 1, address_delta: int = 1) -> float:
        """Energy (pJ) of one ``action`` on ``component`` with the given argument values.

        Entries without ``data_delta``/``address_delta`` arguments (DRAM, MACs) match any value.
        """
        name = self.resolve(component)
        entries = [e for e in self.tables[name] if e.name == action]
        if not entries and action == "update":
            entries = [e for e in self.tables[name] if e.name == "write"]
        if not entries:
            raise LooplabError(f"ERT table {name!r} has no action {action!r} (has {self.actions(name)})",
                               self.source)
        want = {"data_delta": data_delta, "address_delta": address_delta}

        def score(e: ActionEntry) -> int | None:
            s = 0
            for k, v in want.items():
                if k in e.arguments:
                    if _as_num(e.arguments[k]) != v:
                        return None
                    s += 1
            return s

        scored = [(s, e) for e in entries if (s := score(e)) is not None]
        if not scored:
            raise LooplabError(f"ERT table {name!r} has no {action!r} entry with {want}", self.source)
        return max(scored, key=lambda t: t[0])[1].energy


def _as_num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _load_yaml(path: str | Path | dict, key: str) -> tuple[dict, str]:
    if isinstance(path, dict):
        data, src = path, f"<{key}>"
    else:
        src = str(path)
        p = Path(path)
        if not p.exists():
            raise LooplabError(f"{key} file not found", src)
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise LooplabError(f"not valid YAML: {exc}", src) from None
    if not isinstance(data, dict) or key not in data or not isinstance(data[key], dict):
        raise LooplabError(f"missing top-level '{key}:' mapping", src)
    tables = data[key].get("tables")
    if not isinstance(tables, list):
        raise LooplabError(f"'{key}.tables' must be a list", src)
    return data[key], src


def load_ert(path: str | Path | dict) -> Ert:
    """Read an Accelergy ERT.yaml (``ERT: {version, tables: [{name, actions: [...]}]}``)."""
    body, src = _load_yaml(path, "ERT")
    out: dict[str, list[ActionEntry]] = {}
    for i, t in enumerate(body["tables"]):
        where = f"{src}: ERT.tables[{i}]"
        if not isinstance(t, dict) or "name" not in t:
            raise LooplabError("table needs a 'name'", where)
        name = str(t["name"]).strip()
        entries = []
        for j, a in enumerate(t.get("actions") or []):
            if not isinstance(a, dict) or "name" not in a or "energy" not in a:
                raise LooplabError("action needs 'name' and 'energy'", f"{where}.actions[{j}]")
            try:
                energy = float(a["energy"])
            except (TypeError, ValueError):
                raise LooplabError(f"energy {a['energy']!r} is not a number", f"{where}.actions[{j}]") from None
            entries.append(ActionEntry(str(a["name"]), dict(a.get("arguments") or {}), energy))
        out[name] = entries
    return Ert(out, src)


def load_art(path: str | Path | dict) -> dict[str, float]:
    """Read an Accelergy ART.yaml -> {component path: area (um^2)}."""
    body, src = _load_yaml(path, "ART")
    out: dict[str, float] = {}
    for i, t in enumerate(body["tables"]):
        if not isinstance(t, dict) or "name" not in t or "area" not in t:
            raise LooplabError("table needs 'name' and 'area'", f"{src}: ART.tables[{i}]")
        try:
            out[str(t["name"]).strip()] = float(t["area"])
        except (TypeError, ValueError):
            raise LooplabError(f"area {t['area']!r} is not a number", f"{src}: ART.tables[{i}]") from None
    return out
