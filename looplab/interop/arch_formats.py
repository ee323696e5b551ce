"""Architecture formats other than the classic tree, turned into it: Timeloop's legacy ``arch:`` lists and the
front end's (timeloopfe) v0.4 specs."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from typing import Any

import yaml

from looplab.errors import LooplabError

_TFE_MISSING = ("this is a Timeloop front-end (timeloopfe) v0.4 specification ({what}); looplab reads it through "
                "pytimeloop.timeloopfe, which is not importable here. Install pytimeloop (see the sim bundle's "
                "install.sh), or process it once with timeloopfe (`tl mapper ...`, which writes "
                "parsed-processed-input.yaml) and give looplab that file")


#: Root attribute marking an architecture read from the legacy ``arch:`` format (its energies come from Timeloop's
#: built-in model, not Accelergy, so looplab's estimator does not stand in for them).
LEGACY_MARK = "looplab_legacy_arch_format"

_STUB_PROBLEM = """problem:
  version: 0.4
  shape:
    name: stub
    dimensions: [K]
    data_spaces:
    - {name: Weights, projection: [[[K]]]}
    - {name: Inputs, projection: [[[K]]]}
    - {name: Outputs, projection: [[[K]]], read_write: true}
  instance: {K: 1}
"""


def legacy_arch(arch: dict[str, Any], where: str) -> dict[str, Any]:
    """Timeloop's legacy ``arch: {storage: [...] (innermost first), arithmetic: {...}}`` as a classic tree."""
    storage, arith = arch.get("storage"), arch.get("arithmetic")
    if not isinstance(storage, list) or not isinstance(arith, dict):
        raise LooplabError("legacy 'arch:' format needs a 'storage' list and an 'arithmetic' mapping", where)
    local = []
    for i, s in enumerate(reversed(storage)):
        if not isinstance(s, dict) or "name" not in s:
            raise LooplabError(f"arch.storage[{len(storage) - 1 - i}] needs a 'name'", where)
        attrs = {k: v for k, v in s.items() if k not in ("name", "technology")}
        cls = "DRAM" if str(s.get("technology", "")).upper() == "DRAM" else "SRAM"
        if cls != "DRAM" and attrs.get("entries") == 0 and "sizeKB" not in attrs and "depth" not in attrs:
            attrs.pop("entries")  # entries 0: no capacity limit
        bits = int(attrs.get("word-bits", attrs.get("word_bits", attrs.get("datawidth", 16))))
        block = int(attrs.get("block-size", attrs.get("block_size", 1)))
        attrs.setdefault("datawidth", bits)
        attrs.setdefault("width", bits * block)  # for the energy estimator (Timeloop derives nothing from it here)
        if cls != "DRAM" and "depth" not in attrs:  # the estimator needs a depth; capacity stays entries/sizeKB
            words = attrs.get("entries") or (float(attrs["sizeKB"]) * 8192 / bits if "sizeKB" in attrs else None)
            if words:
                attrs["depth"] = max(1, -(-int(words) // block))
        local.append({"name": str(s["name"]), "class": cls, "attributes": attrs})
    local.append({"name": str(arith.get("name", "MACs")), "class": "intmac",
                  "attributes": {k: v for k, v in arith.items() if k != "name"}})
    return {"version": 0.2, "subtree": [{"name": "System", "attributes": {LEGACY_MARK: True}, "local": local}]}


def tfe_text(data: dict[str, Any]) -> str:
    """YAML text of an already-loaded v0.4 spec (for :func:`read_timeloopfe`)."""
    return yaml.safe_dump(data, sort_keys=False)


def read_timeloopfe(text: str, source: str | None) -> dict[str, Any]:
    """The classic architecture tree of a timeloopfe v0.4 spec, processed by ``pytimeloop.timeloopfe``."""
    where = source or "architecture"
    kind = "!Container/!Component tags" if "!" in text else "architecture.nodes"
    try:
        from pytimeloop.timeloopfe.common.backend_calls import _specification_to_yaml_string
        from pytimeloop.timeloopfe.v4 import Specification
    except ImportError:
        raise LooplabError(_TFE_MISSING.format(what=kind), where) from None
    with tempfile.TemporaryDirectory(prefix="looplab-tfe-") as tmp:
        path = os.path.join(tmp, "arch.yaml")
        if source and os.path.isfile(source):
            path = source
        else:
            with open(path, "w") as f:
                f.write(text)
        files = [path]
        if "\nproblem:" not in "\n" + text:  # timeloopfe needs a problem to process an architecture: a stub one
            files.append(os.path.join(tmp, "stub_problem.yaml"))
            with open(files[-1], "w") as f:
                f.write(_STUB_PROBLEM)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                spec = Specification.from_yaml_files(*files)
                out = yaml.safe_load(_specification_to_yaml_string(spec, for_model=True))
        except Exception as exc:  # timeloopfe raises many kinds of errors; name it and say what to do
            msg = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
            raise LooplabError(f"timeloopfe could not process this v0.4 specification ({kind}): {msg}. Give all "
                               "its files (components, problem, variables) to timeloopfe and pass looplab the "
                               "parsed-processed-input.yaml it writes", where) from None
    if not isinstance(out, dict) or "architecture" not in out:
        raise LooplabError("timeloopfe produced no architecture", where)
    return {"architecture": out["architecture"]}
