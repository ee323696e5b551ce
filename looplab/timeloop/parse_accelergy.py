"""Accelergy's side outputs: ERT_summary.yaml, ART_summary.yaml and accelergy.log.

The tables themselves (ERT.yaml / ART.yaml) are read by :mod:`looplab.energy.ert`; this module answers
"which estimator produced each component, and with what" -- e.g. to refuse labels that came from Accelergy's
``dummy`` estimator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from looplab.errors import LooplabError

_EST_LINE = re.compile(r"^(?P<what>ENERGY|AREA) ESTIMATION for (?P<target>.+?)\s*$")
_RESULT_LINE = re.compile(r"^(?P<estimator>\S+) estimated (?P<value>\S+?)(?:\s|$).*?accuracy (?P<acc>[\d.]+)%")
_LOG_PREFIX = re.compile(r"^\S+ \S+ (?:INFO|WARNING|ERROR|DEBUG|CRITICAL)\s+")


def _load(source: str | Path, top: str) -> Any:
    where = None
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and Path(source).is_file()):
        where = str(source)
        text = Path(source).read_text()
    else:
        text = str(source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LooplabError(f"not valid YAML: {exc}", where) from exc
    if not isinstance(data, dict) or top not in data:
        raise LooplabError(f"no top-level '{top}' key", where)
    return data[top]


def _name(value: Any) -> str:
    return " ".join(str(value).split())


def parse_ert_summary(source: str | Path) -> dict[str, dict[str, Any]]:
    """ERT_summary -> {component: {"actions": {action: {average_energy|energy|max_energy|min_energy: pJ}},
    "estimators": {primitive: estimator}}}."""
    out: dict[str, dict[str, Any]] = {}
    for entry in _load(source, "ERT_summary").get("table_summary", []) or []:
        actions = {}
        for act in entry.get("actions", []) or []:
            actions[act["name"]] = {k: float(v) for k, v in act.items() if k != "name"}
        prims = {_name(p.get("name")): p.get("estimator")
                 for p in entry.get("primitive_estimation(s)", []) or [] if isinstance(p, dict)}
        out[_name(entry["name"])] = {"actions": actions, "estimators": prims}
    return out


def parse_art_summary(source: str | Path) -> dict[str, dict[str, Any]]:
    """ART_summary -> {component: {"area": um^2, "estimator": name}}."""
    out: dict[str, dict[str, Any]] = {}
    for entry in _load(source, "ART_summary").get("table_summary", []) or []:
        est = entry.get("primitive_estimations")
        if isinstance(est, list):  # compound components list one estimator per primitive
            est = ",".join(sorted({str(e.get("estimator", e)) if isinstance(e, dict) else str(e) for e in est}))
        out[_name(entry["name"])] = {"area": float(entry.get("area", 0.0)), "estimator": est}
    return out


def component_estimators(ert_summary: str | Path, art_summary: str | Path | None = None) -> dict[str, str]:
    """Which estimator produced each component's energy (comma-joined when several primitives differ); the
    ART summary fills in components the ERT summary lacks."""
    out: dict[str, str] = {}
    for comp, entry in parse_ert_summary(ert_summary).items():
        names = sorted({e for e in entry["estimators"].values() if e})
        if names:
            out[comp] = ",".join(names)
    if art_summary is not None:
        for comp, entry in parse_art_summary(art_summary).items():
            if comp not in out and entry["estimator"]:
                out[comp] = str(entry["estimator"])
    return out


@dataclass(frozen=True)
class Estimation:
    """One ``ENERGY|AREA ESTIMATION for ...`` request in accelergy.log and the plug-in's answer."""

    kind: str  # "energy" | "area"
    component_class: str
    target: str  # e.g. "regfile(depth=1, ...).read(data_delta=1, address_delta=0, ...)"
    estimator: str | None
    value: str | None  # as printed, e.g. "0.009p", "2.369864e-12", "5.98u^2"
    accuracy: float | None


def parse_accelergy_log(source: str | Path) -> list[Estimation]:
    """Every estimation request in accelergy.log with the estimator that answered it."""
    text = Path(source).read_text() if isinstance(source, Path) else source
    out: list[Estimation] = []
    pending: tuple[str, str] | None = None
    for raw in text.splitlines():
        line = _LOG_PREFIX.sub("", raw).strip()
        m = _EST_LINE.match(line)
        if m:
            if pending:
                out.append(_estimation(pending, None))
            pending = (m["what"].lower(), m["target"])
            continue
        m = _RESULT_LINE.match(line)
        if m and pending:
            out.append(_estimation(pending, m))
            pending = None
    if pending:
        out.append(_estimation(pending, None))
    return out


def _estimation(pending: tuple[str, str], m: re.Match | None) -> Estimation:
    kind, target = pending
    cls = target.split("(", 1)[0].strip()
    if m is None:
        return Estimation(kind, cls, target, None, None, None)
    return Estimation(kind, cls, target, m["estimator"], m["value"].rstrip("."), float(m["acc"]))


def estimators_by_class(estimations: list[Estimation]) -> dict[str, set[str]]:
    """Component class -> estimators that answered for it (e.g. {"SRAM": {"CactiSRAM"}})."""
    out: dict[str, set[str]] = {}
    for e in estimations:
        if e.estimator:
            out.setdefault(e.component_class, set()).add(e.estimator)
    return out


def uses_dummy(estimators: dict[str, str] | dict[str, set[str]]) -> list[str]:
    """Components (or classes) estimated by Accelergy's ``dummy`` placeholder tables."""
    bad = []
    for comp, est in estimators.items():
        names = est if isinstance(est, set) else set(str(est).split(","))
        if any(n.lower().startswith("dummy") for n in names):
            bad.append(comp)
    return bad
