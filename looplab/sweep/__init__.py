"""Sweeps at scale: spec -> deterministic tasks -> process pool or Dask -> partitioned Parquet dataset.

Public API::

    from looplab.sweep import parse_spec, run_sweep, plan, DatasetStore, open_store
    spec = parse_spec("sweeps/default.yaml")           # validated SweepSpec (LooplabError names the field)
    summary = run_sweep(spec, resume=True)             # scheduler="tcp://HOST:8786" | "local:4" | jobqueue dict
    table = open_store(spec.out).read()                # pyarrow Table of every row (sorted by task id)
"""

from looplab.sweep.engine import format_summary, plan, run_sweep
from looplab.sweep.spec import AccelRef, LayerRef, SweepSpec, Task, parse_spec, plan_tasks
from looplab.sweep.store import DatasetStore, open_store

__all__ = ["AccelRef", "DatasetStore", "LayerRef", "SweepSpec", "Task", "format_summary", "open_store",
           "parse_spec", "plan", "plan_tasks", "run_sweep"]
