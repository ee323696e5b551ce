"""Jinja rendering of Timeloop inputs (architecture, problem, mapping YAML) from ``templates/``.

One environment for all of looplab: templates come from :func:`looplab.paths.templates_dir` (``templates/``
in a checkout, ``looplab/_templates`` in a wheel), undefined variables are errors, and YAML strings go through
the ``yaml_str`` filter, which always double-quotes them (Accelergy 0.4 evaluates unquoted scalars such as
``45nm`` as expressions).

This module is the bottom layer of YAML emission: it imports no accelerator family, workload or mapping code, so
``arch_gen``, ``looplab.workloads`` and ``mappers`` render through it without an import cycle. The high-level
``looplab emit`` helpers that combine them live in :mod:`looplab.emit`.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2

from looplab.paths import templates_dir


def yaml_str(value: Any) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(str(value))


def yaml_num(value: Any) -> str:
    """A YAML number that PyYAML and Timeloop read back as the same number (ints stay ints)."""
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(value, int):
        return str(value)
    f = float(value)
    if f.is_integer() and abs(f) < 1e15:
        return str(int(f))
    text = repr(f)
    if "e" in text and "." not in text.split("e")[0]:  # 1e-09 -> 1.0e-09 (YAML 1.1 floats need a dot)
        mant, exp = text.split("e")
        text = f"{mant}.0e{exp}"
    return text


@cache
def get_env() -> jinja2.Environment:
    """The shared Jinja environment (cached)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["yaml_str"] = yaml_str
    env.filters["yaml_num"] = yaml_num
    return env


@cache
def get_template(name: str) -> jinja2.Template:
    return get_env().get_template(name)


def render_template(name: str, **context: Any) -> str:
    """Render ``templates/<name>`` with ``context``."""
    return get_template(name).render(**context)


def list_templates() -> list[str]:
    return sorted(get_env().list_templates(extensions=["j2"]))
