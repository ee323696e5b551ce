"""One loader for every spec looplab reads: YAML text, a file path, or data already loaded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from looplab.errors import LooplabError

#: libyaml's safe loader when PyYAML was built with it (several times faster), else the pure-Python one.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def is_path(source: Any) -> bool:
    return isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and Path(source).is_file())


def load_source(source: Any, what: str, where: str | None = None,
                fast: Callable[[str], Any] | None = None) -> tuple[Any, str]:
    """``(data, where)`` from ``source``: a file path (read and parsed), YAML/JSON text (parsed) or loaded data
    (returned as is). ``where`` names the file (or ``what`` for text) in errors: an unreadable file, a missing
    ``*.yaml``/``*.yml``/``*.json`` path, or text that is not YAML.

    ``fast(text)``, when given, is tried on text first: a reader for one narrow layout that returns exactly what
    YAML would, or None for anything else (which then goes through YAML, errors included)."""
    if is_path(source):
        where = where or str(source)
        try:
            with open(source) as fh:  # (what Path.read_text does, without a second Path per file)
                source = fh.read()
        except OSError as exc:
            raise LooplabError(f"cannot read {what} file: {exc.strerror or exc}", where) from None
    elif isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml", ".json")):
        raise LooplabError(f"no such {what} file", source)
    where = where or what
    if isinstance(source, str):
        if fast is not None and (got := fast(source)) is not None:
            return got, where
        try:
            source = yaml.load(source, Loader=SAFE_LOADER)  # JSON is YAML
        except yaml.YAMLError as exc:
            raise LooplabError(f"not valid YAML: {exc}", where) from None
    return source, where
