"""Dask distributed execution of sweep tasks (the optional extra ``looplab[cluster]``).

Schedulers accepted by :class:`DaskExecutor`:

* ``tcp://HOST:8786`` — a running ``dask scheduler`` with ``dask worker``s (looplab installed on every worker,
  and the sweep's ``out`` folder on a filesystem they all share: workers write the part files themselves);
* ``local`` or ``local:N`` — a ``LocalCluster`` on this machine (N worker processes);
* a dask-jobqueue spec: a dict or a YAML file ``{type: slurm|pbs|sge|lsf|..., jobs: N, <cluster kwargs>}``,
  e.g. ``{type: slurm, jobs: 8, cores: 32, memory: 64GB, walltime: "04:00:00", queue: normal}``;
* a ``distributed.Client`` (used as is, not closed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from looplab.errors import LooplabError
from looplab.sweep.spec import Task, parse_cluster
from looplab.sweep.worker import RunContext, execute_task

JOBQUEUE_CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster",
                    "htcondor": "HTCondorCluster", "moab": "MoabCluster", "oar": "OARCluster"}


def _distributed():
    try:
        import distributed
    except ImportError:
        raise LooplabError("Dask is not installed: pip install 'looplab[cluster]'", "--scheduler") from None
    return distributed


def jobqueue_cluster(spec: dict[str, Any], start: bool = True) -> Any:
    """A dask-jobqueue cluster from ``{type, jobs, **kwargs}``, scaled to ``jobs`` batch jobs when ``start``."""
    spec = parse_cluster(spec, "cluster")
    try:
        import dask_jobqueue
    except ImportError:
        raise LooplabError("dask-jobqueue is not installed: pip install 'looplab[cluster]'", "cluster") from None
    kwargs = {k: v for k, v in spec.items() if k not in ("type", "jobs")}
    cls = getattr(dask_jobqueue, JOBQUEUE_CLASSES[spec["type"]])
    try:
        cluster = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise LooplabError(f"bad {cls.__name__} options: {exc}", "cluster") from None
    if start:
        cluster.scale(jobs=int(spec.get("jobs", 1)))
    return cluster


class DaskExecutor:
    """Submits tasks to a Dask cluster; same interface as the local executors of :mod:`looplab.sweep.engine`."""

    def __init__(self, scheduler: Any):
        dist = _distributed()
        self._owned: list[Any] = []
        self._dist = dist
        if isinstance(scheduler, dist.Client):
            self.client = scheduler
            self.label = f"Dask client {scheduler.scheduler.address}"
            return
        if isinstance(scheduler, str | Path) and str(scheduler).endswith((".yaml", ".yml")):
            path = Path(scheduler)
            if not path.is_file():
                raise LooplabError("cluster spec file not found", str(path))
            scheduler = yaml.safe_load(path.read_text())
        if isinstance(scheduler, dict):
            cluster = jobqueue_cluster(scheduler)
            self._owned.append(cluster)
            self.client = dist.Client(cluster)
            self.label = f"dask-jobqueue {scheduler['type']} cluster ({scheduler.get('jobs', 1)} jobs)"
        elif isinstance(scheduler, str) and scheduler.split(":")[0] == "local":
            n = int(scheduler.split(":")[1]) if ":" in scheduler else None
            cluster = dist.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            self._owned.append(cluster)
            self.client = dist.Client(cluster)
            self.label = f"Dask LocalCluster ({len(cluster.workers)} workers)"
        elif isinstance(scheduler, str) and "://" in scheduler:
            try:
                self.client = dist.Client(scheduler, timeout=30)
            except OSError as exc:
                raise LooplabError(f"cannot reach the Dask scheduler ({exc})", scheduler) from None
            self.label = f"Dask scheduler {scheduler}"
        else:
            raise LooplabError(f"expected tcp://HOST:PORT, local[:N] or a jobqueue YAML, got {scheduler!r}",
                               "--scheduler")
        self._owned.insert(0, self.client)

    def describe(self) -> str:
        return f"{self.label}, {self.n_slots} threads"

    @property
    def n_slots(self) -> int:
        try:
            n = sum(self.client.nthreads().values())
        except Exception:  # noqa: BLE001 - scheduler momentarily unreachable
            n = 0
        return max(2, n)

    def submit(self, task: Task, ctx: RunContext) -> Any:
        return self.client.submit(execute_task, task, ctx, pure=False, key=f"looplab-{task.id}-{id(task)}")

    def wait(self, pending: set) -> tuple[set, set]:
        res = self._dist.wait(list(pending), return_when="FIRST_COMPLETED")
        return set(res.done), set(res.not_done)

    @staticmethod
    def result(fut: Any) -> dict[str, Any]:
        return fut.result()

    def close(self) -> None:
        for obj in self._owned:
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass
