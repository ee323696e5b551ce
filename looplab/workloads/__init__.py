"""Workloads: the validated :class:`Layer`, shipped network catalogs with repeat counts, Timeloop problem YAML
I/O, and :func:`from_torch` (torch.fx tracing of any ``torch.nn.Module``; torch is imported only there)."""

from __future__ import annotations

from typing import Any

from looplab.workloads.catalog import (
    find_layer,
    get_layer,
    list_workloads,
    load_workload,
    read_catalog,
    workload_info,
    write_catalog,
)
from looplab.workloads.layer import LOOP_DIMS, PROBLEM_DIMS, Layer, write_problem_yaml


def from_torch(module: Any, example_input: Any, name: str = "model", **kwargs: Any) -> list[Layer]:
    """Trace ``module`` with torch.fx on ``example_input``; unique conv/linear/matmul layers with counts.

    See :func:`looplab.workloads.trace.from_torch`.
    """
    from looplab.workloads.trace import from_torch as _from_torch

    return _from_torch(module, example_input, name=name, **kwargs)


__all__ = ["Layer", "LOOP_DIMS", "PROBLEM_DIMS", "load_workload", "list_workloads", "workload_info", "get_layer",
           "find_layer", "read_catalog", "write_catalog", "write_problem_yaml", "from_torch"]
