"""How looplab's compiled kernels use numba's parallel threads, safely under fork and under threads.

numba picks OpenMP when it can, and GNU OpenMP aborts a process that forks after using it ("fork() called from
a process already using GNU OpenMP"): a PyTorch DataLoader or a ``multiprocessing`` pool started after an
evaluation would die. Unless the user chose a layer (``NUMBA_THREADING_LAYER``), the kernels run on a fork-safe
layer (TBB when installed, else numba's own workqueue). The workqueue layer must not be entered from two Python
threads at once, so every kernel launch holds :data:`KERNEL_LOCK` (a launch already uses every numba thread).
"""

from __future__ import annotations

import os
import threading

import numba

KERNEL_LOCK = threading.RLock()

if not os.environ.get("NUMBA_THREADING_LAYER"):
    numba.config.THREADING_LAYER = "forksafe"

_ANNOUNCED: set[int] = set()


def announce_compile(dispatcher: object, what: str, stream: object = None) -> bool:
    """Before the first call of ``dispatcher`` in this process: when numba has neither compiled it here nor cached
    it on disk, print one line saying that a one-time compile starts (it takes tens of seconds) and return True."""
    import sys

    key = id(dispatcher)
    if key in _ANNOUNCED:
        return False
    _ANNOUNCED.add(key)
    if getattr(dispatcher, "signatures", None):
        return False
    cache = getattr(dispatcher, "_cache", None)
    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
    if index is None or os.path.exists(index):
        return False
    print(f"looplab: compiling {what} with numba (first use on this machine: about a minute of CPU; cached "
          "afterwards)", file=stream or sys.stderr, flush=True)
    return True
