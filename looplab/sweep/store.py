"""Partitioned Parquet dataset with a manifest, safe against being killed at any moment.

Layout of a dataset folder::

    manifest.json                     spec, plan hash, task count, schema notes (written atomically)
    parts/<family>/<task_id>.parquet  one file per finished task (temp file, fsynced, renamed); one schema
                                      per family folder (``pandas.read_parquet("<out>/parts/simba")``)
    log.jsonl                         append-only (fsync) record of finished tasks: rows, valid, timings
    failures/<task_id>.json           tasks that raised: attempts and the last reason
    summary.json                      the last run's summary

A task is done exactly when its part file exists: the file name is the task id, the rename is atomic, so a
rerun never duplicates or loses rows, whatever the moment the previous run was killed. ``log.jsonl`` is only
informational (a crash between the rename and the log append loses a log line, never a row).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from looplab.errors import LooplabError

MANIFEST = "manifest.json"
FORMAT = "looplab-sweep/1"
_HOST = socket.gethostname().replace(".", "_")


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.{time.monotonic_ns() % 10**9}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode())


#: Columns that get min/max statistics (for filtering); the rest are written without (much faster).
STATS_COLUMNS = ("task_id", "arch", "family", "workload", "layer", "backend", "valid", "sampler_valid", "failed_level",
                 "error_kind", "cycles", "energy_pJ", "utilization")
#: High-cardinality columns: no dictionary encoding (it never pays off on them and costs time).
NO_DICTIONARY = ("mapping_yaml", "mapping_vec", "reason")


def write_parquet_atomic(table: pa.Table, path: Path, compression: str = "lz4") -> None:
    """Write ``table`` to ``path`` so that ``path`` either does not exist or holds the whole table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    names = table.column_names
    try:
        pq.write_table(table, tmp, compression=None if compression == "none" else compression,
                       use_dictionary=[c for c in names if c not in NO_DICTIONARY],
                       write_statistics=[c for c in STATS_COLUMNS if c in names])
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def safe_partition(name: str) -> str:
    bad = set('/\\\0=') | {c for c in name if ord(c) < 32}
    return "".join("_" if c in bad else c for c in name)


class DatasetStore:
    """A sweep's output folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.parts = self.root / "parts"
        self.failures_dir = self.root / "failures"
        self.log_path = self.root / "log.jsonl"

    # ---- manifest --------------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.is_file():
            return None
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise LooplabError(f"damaged manifest ({exc})", str(self.manifest_path)) from None

    def init(self, manifest: dict[str, Any], resume: bool) -> None:
        """Create the folder, or check that it holds the same sweep (same plan hash) when resuming."""
        old = self.manifest()
        if old is not None:
            if not resume:
                raise LooplabError("the output folder already holds a sweep; pass --resume to continue it "
                                   "(or choose another 'out')", str(self.root))
            if old.get("plan_hash") != manifest.get("plan_hash"):
                raise LooplabError(f"the output folder holds a different sweep (plan {old.get('plan_hash')}, "
                                   f"this spec {manifest.get('plan_hash')}); use another 'out'", str(self.root))
            manifest = {**old, "resumed": old.get("resumed", 0) + 1, "last_started": manifest.get("created")}
        elif self.parts.is_dir() and any(self.parts.rglob("*.parquet")):
            raise LooplabError("folder has part files but no manifest; refusing to mix sweeps", str(self.root))
        self.root.mkdir(parents=True, exist_ok=True)
        manifest = {"format": FORMAT, **manifest}
        atomic_write_json(self.manifest_path, manifest)
        self.cleanup_tmp()

    # ---- parts -------------------------------------------------------------------------------------------------
    def part_path(self, partition: str, task_id: str) -> Path:
        return self.parts / safe_partition(partition) / f"{task_id}.parquet"

    def part_files(self) -> list[Path]:
        if not self.parts.is_dir():
            return []
        return sorted(p for p in self.parts.glob("*/*.parquet") if not p.name.startswith("."))

    def done_ids(self) -> set[str]:
        return {p.stem for p in self.part_files()}

    def write_part(self, partition: str, task_id: str, table: pa.Table, compression: str = "lz4") -> Path:
        path = self.part_path(partition, task_id)
        write_parquet_atomic(table, path, compression)
        return path

    def cleanup_tmp(self, min_age_s: float = 0.0) -> int:
        """Remove temp files left by killed writers of this host (their process is gone)."""
        n = 0
        for d in (self.parts, self.failures_dir, self.root):
            if not d.is_dir():
                continue
            for p in list(d.rglob(".*.tmp")):
                bits = p.name.rsplit(".", 4)
                try:
                    host, pid = bits[1], int(bits[2])
                except (IndexError, ValueError):
                    host, pid = "", -1
                if host == _HOST and _alive(pid):
                    continue
                if host != _HOST and time.time() - p.stat().st_mtime < 86400:
                    continue  # maybe a live writer on another machine
                if time.time() - p.stat().st_mtime >= min_age_s:
                    p.unlink(missing_ok=True)
                    n += 1
        return n

    # ---- log and failures -----------------------------------------------------------------------------------------
    def append_log(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, default=str) + "\n"
        with open(self.log_path, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def log_records(self) -> Iterator[dict[str, Any]]:
        """Finished-task records (a torn last line from a crash is skipped)."""
        if not self.log_path.is_file():
            return
        with open(self.log_path) as fh:
            for line in fh:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def failure(self, task_id: str) -> dict[str, Any] | None:
        p = self.failures_dir / f"{task_id}.json"
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            return None

    def record_failure(self, task_id: str, reason: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        old = self.failure(task_id) or {"task_id": task_id, "attempts": 0}
        rec = {**old, **(extra or {}), "attempts": int(old["attempts"]) + 1, "reason": reason, "time": time.time()}
        atomic_write_json(self.failures_dir / f"{task_id}.json", rec)
        return rec

    def clear_failure(self, task_id: str) -> None:
        (self.failures_dir / f"{task_id}.json").unlink(missing_ok=True)

    def failures(self) -> list[dict[str, Any]]:
        if not self.failures_dir.is_dir():
            return []
        out = []
        for p in sorted(self.failures_dir.glob("*.json")):
            try:
                out.append(json.loads(p.read_text()))
            except json.JSONDecodeError:
                continue
        return out

    # ---- reading ---------------------------------------------------------------------------------------------------
    def schema(self, files: Iterable[Path] | None = None) -> pa.Schema:
        files = list(files if files is not None else self.part_files())
        if not files:
            raise LooplabError("dataset has no part files", str(self.root))
        schemas, seen = [], set()
        for f in files:
            s = pq.read_schema(f)
            key = tuple(s.names)
            if key not in seen:
                seen.add(key)
                schemas.append(s)
        return pa.unify_schemas(schemas)

    def dataset(self, files: Iterable[Path] | None = None):
        """A ``pyarrow.dataset`` over every part (schemas of both families unified; missing columns are null)."""
        import pyarrow.dataset as ds

        files = list(files if files is not None else self.part_files())
        return ds.dataset([str(f) for f in files], schema=self.schema(files), format="parquet")

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """The whole dataset as one table (sorted by task id and point, so identical sweeps read identically)."""
        files = self.part_files()
        if not files:
            return pa.table({})
        files = sorted(files, key=lambda p: p.stem)
        return self.dataset(files).to_table(columns=columns)

    def n_rows(self) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.part_files())


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_store(path: str | Path) -> DatasetStore:
    st = DatasetStore(path)
    if st.manifest() is None and not st.part_files():
        raise LooplabError("not a looplab sweep dataset (no manifest.json, no parts/)", str(path))
    return st
