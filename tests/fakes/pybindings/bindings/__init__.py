"""Stand-in for pytimeloop's ``bindings`` module, for PLUMBING AND FAILURE PATHS ONLY (never for numbers).

It enforces what the real build needs from its caller (a Workload before ArchSpecs; one ArchSpecs per process;
no Engine destroyed) by dying with SIGSEGV as the real one does. LOOPLAB_FAKE_PTL picks the outcome of
``evaluate``: ``ok`` (pretty_print_stats returns the file LOOPLAB_FAKE_STATS), ``invalid`` (the second level fails),
``segv``, ``hang``, ``reject`` (the mapping config raises). Everything also prints to fd 1, as Timeloop does.
"""

import os
import signal
import sys
import time
import types

_state = {"workload": False, "specs": 0}


def _die():
    os.kill(os.getpid(), signal.SIGSEGV)


class _Node(dict):
    pass


class Config:
    class ConfigNode(_Node):
        pass

    def __init__(self, text, kind):
        import yaml

        self.root = _Node(yaml.safe_load(text))


class Workload:
    def __init__(self, node):
        print("MESSAGE: attempting to read problem shape (fake)")
        sys.stdout.flush()
        _state["workload"] = True


class ArchSpecs:
    def __init__(self, node, sparse):
        if not _state["workload"] or _state["specs"]:
            _die()
        _state["specs"] += 1

    def parse_accelergy_ert(self, node):
        assert node

    def parse_accelergy_art(self, node):
        assert node

    def level_names(self):
        return ["MACC", "Buf", "DRAM"]


class SparseOptimizationInfo:
    def __init__(self, node, specs):
        pass


class _Status:
    def __init__(self, ok, reason=""):
        self.success, self.fail_reason = ok, reason


class Engine:
    def __init__(self, specs):
        self.n = 0

    def evaluate(self, mapping, workload, sparse, break_on_failure=True):
        mode = os.environ.get("LOOPLAB_FAKE_PTL", "ok")
        print("fake engine evaluating", flush=True)
        if mode == "segv":
            _die()
        if mode == "hang":
            time.sleep(300)
        if mode == "invalid":
            return [_Status(True), _Status(False, "mapped tile size 9 exceeds buffer capacity 8"), _Status(True)]
        return [_Status(True)] * 3

    def pretty_print_stats(self):
        with open(os.environ["LOOPLAB_FAKE_STATS"]) as fh:
            return fh.read()

    def __del__(self):
        _die()


class Mapping:
    def __init__(self, node, specs, workload):
        if os.environ.get("LOOPLAB_FAKE_PTL") == "reject":
            raise RuntimeError("mapping: no such level 'Nowhere'")


config = types.SimpleNamespace(Config=Config)
model = types.SimpleNamespace(ArchSpecs=ArchSpecs, Engine=Engine, SparseOptimizationInfo=SparseOptimizationInfo)
problem = types.SimpleNamespace(Workload=Workload)
mapping = types.SimpleNamespace(Mapping=Mapping)
