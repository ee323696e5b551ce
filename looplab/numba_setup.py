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
