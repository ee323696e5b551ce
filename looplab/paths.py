"""Where looplab's shipped data lives, for an editable install and for a built wheel alike."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """The Jinja templates folder: ``looplab/_templates`` in a wheel, ``templates/`` in a checkout."""
    for cand in (_PKG / "_templates", _PKG.parent / "templates"):
        if (cand / "arch").is_dir():
            return cand
    raise FileNotFoundError(f"looplab templates not found next to {_PKG}")


def data_dir() -> Path:
    """Catalog data shipped inside the package (workloads, small reference sets)."""
    return _PKG / "data"
