"""``looplab map ARCH PROBLEM --backend timeloop-mapper``: Timeloop's own mapper, driven by looplab.

:func:`map_layer` runs ``timeloop-mapper arch.yaml problem.yaml mapper.yaml constraints.yaml ERT.yaml ART.yaml``
in its own directory (``OUT/timeloop-mapper/``, kept: the mapper's stats, map and log), with the cached ERT/ART of
the architecture (:func:`looplab.timeloop.accelergy.ensure_ert`; Accelergy runs once per architecture), parses the
best mapping (``timeloop-mapper.map.yaml``) into :class:`mappers.mapping.Mapping` and the stats of that mapping
(``timeloop-mapper.stats.txt``) into the common result, and writes ``OUT/mapping.yaml`` (looplab's rendering of
that mapping, which ``looplab evaluate`` / timeloop-model read) and ``OUT/result.json``.

Mapspace: by default the architecture family's rules (:func:`mappers.families.rules_for`), as DOSA's mapspace files
state them for Gemmini -- bypass: Registers keep W, Accumulator keeps O, Scratchpad keeps W,I, DRAM all; spatial:
K across PECols (Scratchpad X), C across PERows (Accumulator Y) -- and the Simba keeps of the reference set; an
unknown architecture is left unconstrained. ``mapper_config`` (a YAML file) overrides: its ``mapper:`` keys
replace the defaults below, and its ``mapspace_constraints`` / ``mapspace`` / ``architecture_constraints``
replace the family's constraints.

``timeout_s`` is a wall-clock limit: the mapper then gets SIGINT, which makes it stop searching and write the best
mapping found so far (``result["stopped_by"] == "timeout"``); it is killed if it has not exited 30 s later.
timeloop-mapper has no seed option: ``seed`` is recorded, but the search is not reproducible run to run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from looplab.errors import LooplabError

BINARY = "timeloop-mapper"
WORKDIR = "timeloop-mapper"
METRICS = {"edp": ["edp"], "energy": ["energy", "delay"], "delay": ["delay", "energy"]}
DEFAULT_MAPPER = {"algorithm": "random_pruned", "victory_condition": 500, "timeout": 5000, "search_size": 0,
                  "max_permutations_per_if_visit": 16, "live_status": False, "diagnostics": False,
                  "log_stats": False}
CONSTRAINT_KEYS = ("mapspace_constraints", "mapspace", "architecture_constraints")
_GRACE_S = 30.0


def family_constraints(arch: Any) -> list[dict[str, Any]]:
    """The mapspace constraints of ``arch``'s family (empty for an unknown architecture)."""
    from looplab.archspec import DIMS, TENSORS
    from mappers.families import rules_for

    rules = rules_for(arch)
    if rules.family == "generic":
        return []
    out: list[dict[str, Any]] = []
    for name, keep in zip(rules.level_names, rules.keep, strict=True):
        out.append({"target": name, "type": "bypass", "keep": list(keep),
                    "bypass": [t for t in TENSORS if t not in keep]})
    for slot in rules.spatial:
        if set(slot.dims) >= set(DIMS):
            continue  # any dimension: nothing to constrain
        fixed = [d for d in DIMS if d not in slot.dims]
        perm = "".join(slot.dims) + "".join(fixed)
        out.append({"target": slot.level, "type": "spatial", "factors": " ".join(f"{d}=1" for d in fixed),
                    "permutation": perm, "split": len(slot.dims) if slot.axis == "X" else 0})
    return out


def _read_config(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise LooplabError("mapper config not found", str(p))
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise LooplabError(f"not YAML ({str(exc).splitlines()[0]})", str(p)) from None
    if not isinstance(data, dict) or not ({"mapper", *CONSTRAINT_KEYS} & set(data)):
        raise LooplabError(f"expected a 'mapper:' section and/or one of {', '.join(CONSTRAINT_KEYS)}", str(p))
    if "mapper" in data and not isinstance(data["mapper"], dict):
        raise LooplabError("'mapper' must be a mapping of options", str(p))
    return data


def mapper_inputs(arch: Any, metric: str, threads: int | None, mapper_config: str | Path | None) -> tuple[dict, dict]:
    """(mapper.yaml document, constraints document) for one run."""
    if metric not in METRICS:
        raise LooplabError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}", "--metric")
    user = _read_config(mapper_config)
    mapper = {**DEFAULT_MAPPER, "optimization_metrics": METRICS[metric],
              "num_threads": int(threads or os.cpu_count() or 1), **user.get("mapper", {})}
    given = {k: user[k] for k in CONSTRAINT_KEYS if k in user}
    constraints = given if given else {"mapspace_constraints": family_constraints(arch)}
    return {"mapper": mapper}, constraints


def _tables(arch: Path, ert: str | Path | None) -> tuple[Path, Path | None]:
    if ert is not None:
        from looplab.backends import sibling_art

        if not Path(ert).is_file():
            raise LooplabError("ERT file not found", str(ert))
        return Path(ert), sibling_art(Path(ert))
    from looplab.timeloop.accelergy import ensure_ert

    return ensure_ert(arch)


def _run(cmd: list[str], cwd: Path, timeout_s: float | None, progress: bool) -> tuple[int | None, bool, float]:
    """Run the mapper; SIGINT at ``timeout_s`` (it then writes its best mapping), SIGKILL after the grace time.
    Returns (exit status, stopped by the time limit, wall seconds). Progress (:class:`looplab.progress.Progress`)
    counts the seconds, out of ``timeout_s`` when there is one (its ETA is then the time limit), with the best
    mapping so far."""
    from looplab.progress import Progress

    start = time.monotonic()
    total = max(1, round(timeout_s)) if timeout_s is not None else None
    with open(cwd / "stdout.txt", "wb") as out, open(cwd / "stderr.txt", "wb") as err, \
            Progress(total=total, unit="s", desc="timeloop-mapper", enabled=progress) as prog:
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        interrupted, last_best = False, start - 5
        try:
            while proc.poll() is None:
                now = time.monotonic()
                if timeout_s is not None and not interrupted and now - start >= timeout_s:
                    os.killpg(proc.pid, signal.SIGINT)
                    interrupted = True
                if interrupted and now - start >= (timeout_s or 0) + _GRACE_S:
                    os.killpg(proc.pid, signal.SIGKILL)
                seconds = int(now - start) if total is None else min(total, int(now - start))
                if seconds > prog.done:
                    if now - last_best >= 5:  # the mapper's log grows; read it every 5 s at most
                        last_best = now
                        prog.postfix(best=_best_line(cwd) or "-")
                    prog.update(seconds - prog.done)
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return proc.returncode, interrupted, time.monotonic() - start


def _best_line(cwd: Path) -> str | None:
    try:
        lines = (cwd / "stdout.txt").read_text(errors="replace").splitlines()
    except OSError:
        return None
    hits = [ln for ln in lines if "Cycles =" in ln and "pJ/Compute" in ln]
    return re.sub(r"\s+", " ", hits[-1]).strip() if hits else None


def map_layer(arch: Path, problem: Path, out_dir: Path, *, metric: str = "edp", seed: int = 0,
              timeout_s: float | None = None, threads: int | None = None, mapper_config: str | Path | None = None,
              ert: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Best mapping of one layer on fixed hardware by timeloop-mapper (see the module doc). Writes
    ``OUT/mapping.yaml`` and ``OUT/result.json``; returns the result dict (``valid``, ``cycles``, ``energy_pJ``,
    ``edp``, ``wall_s``, ``backend``, ``metric``, ``stopped_by``, ``utilization``, ``energy_by_level``,
    ``mapping`` (a :meth:`Mapping.to_yaml_obj`), ``reason`` when nothing valid was found)."""
    from looplab.archspec import parse_arch
    from looplab.timeloop.parse_stats import parse_stats_text
    from mappers.canonical import mapping_to_yaml
    from mappers.mapping import Mapping

    arch, problem, out_dir = Path(arch), Path(problem), Path(out_dir)
    exe = shutil.which(BINARY)
    if exe is None:
        raise LooplabError(f"{BINARY} not found on PATH (set LOOPLAB_SIMULATORS=DIR or see `looplab doctor`)",
                           "--backend timeloop-mapper")
    spec = parse_arch(arch)
    mapper_doc, constraints_doc = mapper_inputs(spec, metric, threads, mapper_config)
    ert_path, art_path = _tables(arch, ert)
    work = out_dir / WORKDIR
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copyfile(arch, work / "arch.yaml")
    shutil.copyfile(problem, work / "problem.yaml")
    (work / "mapper.yaml").write_text(yaml.safe_dump(mapper_doc, sort_keys=False))
    (work / "constraints.yaml").write_text(yaml.safe_dump(constraints_doc, sort_keys=False))
    args = ["arch.yaml", "problem.yaml", "mapper.yaml", "constraints.yaml"]
    shutil.copyfile(ert_path, work / "ERT.yaml")
    args.append("ERT.yaml")
    if art_path is not None:
        shutil.copyfile(art_path, work / "ART.yaml")
        args.append("ART.yaml")
    (work / "command.txt").write_text(" ".join([BINARY, *args]) + "\n")
    rc, interrupted, wall = _run([exe, *args], work, timeout_s, progress)
    result: dict[str, Any] = {"backend": "timeloop-mapper", "metric": metric, "seed": seed, "wall_s": round(wall, 3),
                              "stopped_by": "timeout" if interrupted else "search", "exit_code": rc,
                              "constraints": str(mapper_config) if mapper_config else "family default",
                              "valid": False, "cycles": None, "energy_pJ": None, "edp": None}
    stats_file, map_file = work / "timeloop-mapper.stats.txt", work / "timeloop-mapper.map.yaml"
    stats_text = stats_file.read_text(errors="replace") if stats_file.is_file() else ""
    if stats_text.strip() and map_file.is_file():  # no valid mapping found: the mapper leaves both empty
        res = parse_stats_text(stats_text, backend="timeloop-mapper", where=str(stats_file))
        mapping = Mapping.from_yaml(map_file.read_text(), spec.storage_names,
                                    source=str(map_file))
        (out_dir / "mapping.yaml").write_text(mapping_to_yaml(mapping, spec))
        result.update(valid=True, cycles=res.cycles, energy_pJ=res.energy_pJ, edp=res.cycles * res.energy_pJ,
                      utilization=res.utilization, energy_by_level=res.energy_by_level,
                      mapping=mapping.to_yaml_obj(), best=_best_line(work))
    else:
        text = (work / "stdout.txt").read_text(errors="replace")
        said = [ln.strip() for ln in text.splitlines() if "STATEMENT" in ln or "ERROR" in ln or "No valid" in ln]
        tail = (said[-1] if said else text[-300:]) + " " + (work / "stderr.txt").read_text(errors="replace")[-300:]
        why = "killed by a signal" if rc is not None and rc < 0 else f"exit status {rc}"
        result["reason"] = f"timeloop-mapper found no valid mapping ({why}): {tail.strip()}"
    (out_dir / "result.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    return result
