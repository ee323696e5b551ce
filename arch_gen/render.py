"""Render a family config to Timeloop architecture YAML through ``templates/arch/<family>.yaml.j2``."""

from __future__ import annotations

from pathlib import Path

from arch_gen.configs import GemminiConfig, SimbaConfig
from looplab.errors import LooplabError


def render_arch(cfg: SimbaConfig | GemminiConfig, technology: str = "45nm", cycle_seconds: float = 1e-9) -> str:
    """Timeloop v0.4 architecture YAML (classic ``subtree``/``local`` tree) for ``cfg`` (:meth:`Config.render`)."""
    if not isinstance(cfg, SimbaConfig | GemminiConfig):
        raise LooplabError(f"expected a SimbaConfig or GemminiConfig, got {type(cfg).__name__}", "render_arch")
    return cfg.render(technology=technology, cycle_seconds=cycle_seconds)


def write_arch(cfg: SimbaConfig | GemminiConfig, path: str | Path, **kwargs) -> Path:
    """Render ``cfg`` into ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_arch(cfg, **kwargs))
    return path
