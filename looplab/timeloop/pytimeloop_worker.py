"""The child process behind ``--backend pytimeloop``: one architecture, many mappings, in-process Timeloop.

Run as ``python -m looplab.timeloop.pytimeloop_worker ARCH.yaml ERT.yaml ART.yaml``. It reads one JSON request per
line on stdin (``{"problem": path, "mapping": path}``) and answers one JSON line per request on the protocol
stream: ``{"status": [[success, fail_reason], ...], "levels": [...], "stats": text|null}`` or ``{"error": text}``.

What this build of the bindings needs from its caller (sim/README.md, "learned the hard way"), and how it is met:

* the problem shape is process-global: a ``Workload`` is built from the first request's problem **before**
  ``ArchSpecs`` (``ArchSpecs`` segfaults without one);
* one ``ArchSpecs`` per process: this process serves exactly one (architecture, ERT, ART) for its whole life;
* destroying an ``Engine`` segfaults: one ``Engine`` is built once and never dropped; the process exits with
  ``os._exit`` so no destructor runs;
* Timeloop's C++ prints to file descriptor 1: the protocol goes through a duplicate of the original stdout, and
  fd 1 and fd 2 are pointed at a log file whose tail is sent back with errors.

Only the standard library and the bindings are imported, so the process starts in well under a second.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

LOG_TAIL = 600


def _log_tail(log_path: str) -> str:
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - LOG_TAIL))
            return fh.read().decode(errors="replace").strip()
    except OSError:
        return ""


class Server:
    """The bindings' objects for one architecture (built lazily, on the first request's workload)."""

    def __init__(self, arch: str, ert: str | None, art: str | None):
        import bindings

        self.b = bindings
        self.arch, self.ert, self.art = arch, ert, art
        self.specs: Any = None
        self.engine: Any = None
        self.sparse: Any = None
        self.levels: list[str] = []
        self._configs: list[Any] = []  # the architecture's Config objects live as long as the process

    def _root(self, path: str, keep: list[Any]) -> Any:
        """The root node of a YAML file; the Config that owns it goes into ``keep`` (its nodes die with it)."""
        with open(path) as fh:
            cfg = self.b.config.Config(fh.read(), "yaml")
        keep.append(cfg)
        return cfg.root

    def _setup(self) -> None:
        model = self.b.model
        keep = self._configs
        specs = model.ArchSpecs(self._root(self.arch, keep)["architecture"], False)
        if self.ert:
            specs.parse_accelergy_ert(self._root(self.ert, keep)["ERT"])
        if self.art:
            specs.parse_accelergy_art(self._root(self.art, keep)["ART"])
        self.specs = specs
        self.sparse = model.SparseOptimizationInfo(self.b.config.Config.ConfigNode(), specs)
        self.engine = model.Engine(specs)
        self.levels = list(specs.level_names())

    def evaluate(self, problem: str, mapping: str) -> dict[str, Any]:
        keep: list[Any] = []
        workload = self.b.problem.Workload(self._root(problem, keep)["problem"])  # before ArchSpecs, always
        if self.specs is None:
            self._setup()
        m = self.b.mapping.Mapping(self._root(mapping, keep)["mapping"], self.specs, workload)
        status = self.engine.evaluate(m, workload, self.sparse, break_on_failure=True)
        pairs = [[bool(s.success), str(s.fail_reason)] for s in status]
        stats = self.engine.pretty_print_stats() if all(p[0] for p in pairs) else None
        return {"status": pairs, "levels": self.levels, "stats": stats}


def serve(arch: str, ert: str | None, art: str | None, requests: TextIO, replies: TextIO, log_path: str) -> None:
    try:
        server = Server(arch, ert, art)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which types it
        replies.write(json.dumps({"error": f"pytimeloop bindings not usable: {exc}"}) + "\n")
        replies.flush()
        return
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    for line in requests:
        if not line.strip():
            continue
        req = json.loads(line)
        if log_path != os.devnull:  # keep only this request's native output in the log
            os.ftruncate(1, 0)
            os.lseek(1, 0, os.SEEK_SET)
        try:
            reply = server.evaluate(req["problem"], req["mapping"])
        except Exception as exc:  # noqa: BLE001 - the bindings raise their own types for rejected input
            reply = {"error": f"{type(exc).__name__}: {exc}", "log": _log_tail(log_path)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main(argv: list[str]) -> None:
    arch, ert, art, log_path = (argv + [""] * 4)[:4]
    replies = os.fdopen(os.dup(1), "w")
    log_path = log_path or os.devnull
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    sys.stdout.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    serve(arch, ert or None, art or None, sys.stdin, replies, log_path)
    replies.flush()
    os._exit(0)  # no destructors: tearing down the bindings' Engine segfaults


if __name__ == "__main__":
    main(sys.argv[1:])
