"""``looplab doctor``: which simulators and plug-ins are installed, their versions, and what to do when missing."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

DOCKER_HINT = "or use the Docker image: `make docker-build` then `docker run -it looplab:latest` (docs/timeloop.md)"
HINTS = {
    "timeloop-model": "build Timeloop (https://github.com/NVlabs/timeloop, `scons --accelergy`) and put its bin/ on "
                      "PATH, " + DOCKER_HINT + "; without it use `--backend analytical`",
    "timeloop-mapper": "built together with timeloop-model; looplab itself only needs timeloop-model",
    "accelergy": "`pip install` Accelergy 0.4 and its plug-ins (Accelergy-Project: accelergy, "
                 "accelergy-cacti-plug-in, accelergy-aladdin-plug-in, accelergy-table-based-plug-ins), "
                 + DOCKER_HINT + "; without it pass cached tables with --ert/--art",
    "pytimeloop": "optional (in-process backend): install timeloop-python built against the same Timeloop, "
                  "or use `--backend timeloop`",
}
_VERSION_RE = re.compile(r"\b(v?\d+\.\d+(?:\.\d+)?[\w.+-]*)")
_PKG_RE = re.compile(r"^(accelergy|timeloop|pytimeloop|cacti)", re.IGNORECASE)


@dataclass
class ToolStatus:
    name: str
    found: bool
    path: str | None = None
    version: str | None = None
    detail: str = ""
    hint: str = ""
    extra: dict = field(default_factory=dict)


def _run(cmd: list[str], timeout: float = 15) -> tuple[int | None, str]:
    """Run a probe command in a scratch directory (so nothing it writes lands in the caller's cwd)."""
    with tempfile.TemporaryDirectory(prefix="looplab-doctor-") as tmp:
        try:
            proc = subprocess.run(cmd, cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  errors="replace", timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


_LIST_PKGS = ("import importlib.metadata as m, json, re\n"
              "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()\n"
              "      if re.match(r'(accelergy|timeloop|pytimeloop|cacti)', d.metadata['Name'] or '', re.I)}))")


def accelergy_python(accelergy_path: str | None = None) -> str | None:
    """The interpreter the ``accelergy`` script runs with (its shebang), when it is a Python script."""
    path = accelergy_path or shutil.which("accelergy")
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            first = fh.readline(300).decode(errors="replace").strip()
    except OSError:
        return None
    if not first.startswith("#!") or "python" not in first:
        return None
    parts = first[2:].split()
    if Path(parts[0]).name == "env" and len(parts) > 1:
        return shutil.which(parts[1])
    return parts[0] if Path(parts[0]).is_file() else None


def accelergy_packages() -> dict[str, str]:
    """Installed Python distributions of Accelergy, its plug-ins and Timeloop's Python packages -- in this
    interpreter and in the one the ``accelergy`` script runs with (they differ inside the Docker image)."""
    out: dict[str, str] = {}
    for dist in md.distributions():
        name = dist.metadata.get("Name") or ""
        if _PKG_RE.match(name):
            out[name] = dist.version
    py = accelergy_python()
    if py and Path(py).resolve() != Path(sys.executable).resolve():
        rc, text = _run([py, "-c", _LIST_PKGS], timeout=60)
        if rc == 0:
            try:
                out.update(json.loads(text.splitlines()[-1]))
            except (ValueError, IndexError):
                pass
    return out


def plugin_dirs() -> list[str]:
    """Estimator plug-in folders Accelergy will scan (``share/accelergy/estimation_plug_ins`` under the usual
    prefixes, plus any listed in ``~/.config/accelergy/accelergy_config.yaml``)."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path.home() / ".local", Path("/usr/local"), Path("/usr")}
    found: list[str] = []
    for root in sorted(roots):
        d = root / "share" / "accelergy" / "estimation_plug_ins"
        if d.is_dir():
            found += sorted(str(p) for p in d.iterdir() if p.is_dir())
    cfg = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "accelergy" / "accelergy_config.yaml"
    if cfg.is_file():
        try:
            import yaml

            data = yaml.safe_load(cfg.read_text()) or {}
            for p in data.get("estimator_plug_ins", []) or []:
                if Path(p).is_dir():
                    found += sorted(str(q) for q in Path(p).iterdir() if q.is_dir())
        except Exception:  # noqa: BLE001 - a broken config is reported by accelergy itself
            pass
    return sorted(set(found))


def check_binary(name: str) -> ToolStatus:
    path = shutil.which(name)
    if path is None:
        return ToolStatus(name, False, detail="not found on PATH", hint=HINTS[name])
    version = None
    rc, out = _run([path, "--version"])
    if rc == 0 and (m := _VERSION_RE.search(out)):
        version = m.group(1)
    detail = "found" if version else "found (does not report a version; the build is what its source tree says)"
    return ToolStatus(name, True, path=path, version=version, detail=detail)


def check_accelergy() -> ToolStatus:
    path = shutil.which("accelergy")
    pkgs = accelergy_packages()
    plugins = sorted(n for n in pkgs if n.lower().startswith("accelergy") and n.lower() != "accelergy")
    extra = {"python_packages": pkgs, "plugin_dirs": plugin_dirs()}
    if path is None:
        return ToolStatus("accelergy", False, detail="not found on PATH", hint=HINTS["accelergy"], extra=extra)
    version = pkgs.get("accelergy") or pkgs.get("Accelergy")
    rc, out = _run([path, "-h"])
    if version is None:
        rc_v, out_v = _run([path, "--version"])
        if rc_v == 0 and (m := _VERSION_RE.search(out_v)):
            version = m.group(1)
    ok = rc == 0
    detail = "runs (`accelergy -h` ok)" if ok else f"`accelergy -h` failed: {out[-200:]}"
    detail += f"; plug-in packages: {', '.join(f'{p} {pkgs[p]}' for p in plugins) or 'none found via pip'}"
    detail += f"; plug-in folders: {len(extra['plugin_dirs'])}"
    cacti = any("cacti" in d.lower() for d in extra["plugin_dirs"]) or any("cacti" in p.lower() for p in plugins)
    hint = "" if ok else HINTS["accelergy"]
    if ok and not cacti:
        hint = "no CACTI plug-in found: SRAM/DRAM energies would come from another (possibly dummy) estimator"
    return ToolStatus("accelergy", ok, path=path, version=version, detail=detail, hint=hint, extra=extra)


def check_pytimeloop() -> ToolStatus:
    if importlib.util.find_spec("pytimeloop") is None:
        return ToolStatus("pytimeloop", False, detail="not importable", hint=HINTS["pytimeloop"])
    version = None
    for dist in ("pytimeloop", "timeloop-python", "timeloopfe"):
        try:
            version = md.version(dist)
            break
        except md.PackageNotFoundError:
            continue
    # import in a child process: broken native bindings must not take the doctor down
    rc, out = _run([sys.executable, "-c", "import pytimeloop\ntry:\n import bindings\nexcept ImportError:\n"
                                          " from pytimeloop import bindings\n"
                                          "print(getattr(bindings, '__version__', ''))"], timeout=60)
    ok = rc == 0
    detail = "imports (bindings ok)" if ok else f"import failed: {out[-300:]}"
    return ToolStatus("pytimeloop", ok, path=str(Path(importlib.util.find_spec("pytimeloop").origin or "").parent),
                      version=version or (out.strip() if ok and out.strip() else None), detail=detail,
                      hint="" if ok else HINTS["pytimeloop"])


def check_problem_shapes() -> ToolStatus:
    """Timeloop reads ``cnn_layer.yaml`` from ``$TIMELOOP_DIR/problem-shapes`` (no fallback in these builds)."""
    from looplab.timeloop.discover import ENV_VAR

    src = f"{ENV_VAR}={os.environ[ENV_VAR]}" if os.environ.get(ENV_VAR) else f"PATH ({ENV_VAR} unset)"
    tdir = os.environ.get("TIMELOOP_DIR")
    shapes = Path(tdir) / "problem-shapes" if tdir else None
    if shapes is not None and (shapes / "cnn_layer.yaml").is_file():
        return ToolStatus("problem-shapes", True, path=str(shapes), detail=f"simulators via {src}")
    return ToolStatus("problem-shapes", False, detail=f"simulators via {src}; TIMELOOP_DIR="
                      f"{tdir or '(unset)'} has no problem-shapes/cnn_layer.yaml",
                      hint=f"set {ENV_VAR}=DIR (a folder with bin/ and problem-shapes/) or TIMELOOP_DIR")


def collect() -> list[ToolStatus]:
    from looplab.timeloop.discover import activate

    activate()
    return [check_binary("timeloop-model"), check_binary("timeloop-mapper"), check_accelergy(), check_pytimeloop(),
            check_problem_shapes()]


def format_text(statuses: list[ToolStatus]) -> str:
    lines = []
    for s in statuses:
        mark = "ok     " if s.found else "MISSING"
        ver = f" {s.version}" if s.version else ""
        where = f" ({s.path})" if s.path else ""
        lines.append(f"[{mark}] {s.name}{ver}{where}: {s.detail}")
        if s.hint:
            lines.append(f"          -> {s.hint}")
    usable = {"timeloop": statuses[0].found, "pytimeloop": statuses[3].found, "analytical": True}
    lines.append("backends usable here: " + ", ".join(n for n, ok in usable.items() if ok))
    if statuses[0].found and not statuses[2].found:
        lines.append("note: timeloop-model without Accelergy needs --ert/--art (cached tables) for every run")
    return "\n".join(lines)


def to_json(statuses: list[ToolStatus]) -> str:
    return json.dumps([asdict(s) for s in statuses], indent=1)
