"""Finding the simulators: ``LOOPLAB_SIMULATORS=DIR`` or whatever is already on PATH.

``DIR`` is a folder laid out like the prebuilt bundle (``bin/timeloop-model``, ``bin/timeloop-mapper``,
``problem-shapes/``, ``py/`` wheels). :func:`activate` (called by the CLI and by the test suite's conftest)

* puts ``DIR/bin`` first on PATH and sets ``TIMELOOP_DIR=DIR`` (where Timeloop looks for ``problem-shapes/``)
  unless it is already set;
* for a ``timeloop-model`` found on PATH without ``TIMELOOP_DIR``, points ``TIMELOOP_DIR`` at the folder above its
  ``bin/`` when that holds ``problem-shapes/`` (a relocatable build, or an install prefix);
* appends this interpreter's ``bin/`` to PATH when Accelergy is installed there (timeloop-model finds Accelergy with
  ``which accelergy``, so ``.venv/bin/python -m pytest`` without an activated venv still works).

The Python parts (Accelergy and its plug-ins, pytimeloop) must be installed into the environment
(``PYTHON=.venv/bin/python bash DIR/install.sh``, offline); the variable does not import from ``DIR/py``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from looplab.errors import LooplabError

ENV_VAR = "LOOPLAB_SIMULATORS"
TOOLS = ("timeloop-model", "timeloop-mapper", "accelergy")


def _add_to_path(path: Path, env: dict[str, str], first: bool = True) -> None:
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    if str(path) not in parts:
        env["PATH"] = os.pathsep.join([str(path), *parts] if first else [*parts, str(path)])


def simulators_dir(env: dict[str, str] | None = None) -> Path | None:
    """The folder ``LOOPLAB_SIMULATORS`` names (None when unset); LooplabError when it is not laid out right."""
    env = os.environ if env is None else env
    value = env.get(ENV_VAR, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    if not (root / "bin").is_dir():
        raise LooplabError(f"{root} has no bin/ folder (expected a folder laid out like the simulator bundle: "
                           "bin/timeloop-model, problem-shapes/, py/)", ENV_VAR)
    return root.resolve()


def activate(env: dict[str, str] | None = None) -> Path | None:
    """Apply the discovery rules above to ``env`` (default ``os.environ``); returns the bundle folder used."""
    env = os.environ if env is None else env
    root = simulators_dir(env)
    if root is not None:
        _add_to_path(root / "bin", env)
        if not env.get("TIMELOOP_DIR") and (root / "problem-shapes").is_dir():
            env["TIMELOOP_DIR"] = str(root)
    if not env.get("TIMELOOP_DIR"):
        exe = shutil.which("timeloop-model", path=env.get("PATH"))
        if exe is not None:
            prefix = Path(exe).resolve().parent.parent
            if (prefix / "problem-shapes").is_dir():
                env["TIMELOOP_DIR"] = str(prefix)
    here = Path(sys.executable).parent
    if (here / "accelergy").is_file() and shutil.which("accelergy", path=env.get("PATH")) is None:
        _add_to_path(here, env, first=False)
    return root


def found(env: dict[str, str] | None = None) -> dict[str, str | None]:
    """Where each simulator is (path, or None): the three executables and the pytimeloop bindings."""
    env = os.environ if env is None else env
    out: dict[str, str | None] = {t: shutil.which(t, path=env.get("PATH")) for t in TOOLS}
    spec = importlib.util.find_spec("pytimeloop")
    out["pytimeloop"] = str(Path(spec.origin).parent) if spec is not None and spec.origin else None
    return out


def summary_line(env: dict[str, str] | None = None) -> str:
    """One line naming what was found, e.g. for the test log's header."""
    env = os.environ if env is None else env
    where = found(env)
    parts = [f"{name} {'found at ' + path if path else 'NOT FOUND'}" for name, path in where.items()]
    src = f"{ENV_VAR}={env[ENV_VAR]}" if env.get(ENV_VAR) else f"PATH ({ENV_VAR} unset)"
    return f"simulators via {src}: " + "; ".join(parts)
