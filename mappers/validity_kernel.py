"""Compiled (numba) form of :func:`mappers.validity.check_batch`: one pass per mapping, no temporaries.

:func:`verdict` gives the index of the first failing check of a :class:`mappers.validity.Plan` and the mapped
value it failed on (``-1, 0`` when the mapping is valid); the analytical model's kernel calls it per row before
evaluating, :func:`check_rows` runs it over a batch in parallel. The numpy path in :mod:`mappers.validity` is the
reference (tests compare both); this module is only imported when numba is installed.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from looplab.numba_setup import KERNEL_LOCK  # noqa: F401  (also selects a fork-safe threading layer)


@njit(cache=True)
def verdict(t, sx, sy, keep, b, size, pdim, pcoef, arith, cap, floor, inst, mx, my, code, cum):
    """``(check index, mapped value)`` of row ``b`` (``-1, 0``: valid); ``cum`` [L, 7] is scratch and holds the
    cumulative factors (this level and below) afterwards."""
    L = t.shape[1]
    for d in range(7):
        acc = 1
        for lv in range(L):
            acc *= t[b, lv, d] * sx[b, lv, d] * sy[b, lv, d]
            cum[lv, d] = acc
        if acc != size[d]:
            return 0, 0
    ax = 1
    ay = 1
    for lv in range(L):
        for d in range(7):
            ax *= sx[b, lv, d]
            ay *= sy[b, lv, d]
    if ax * ay > arith[0]:
        return 1, ax * ay
    if ax > arith[1]:
        return 2, ax
    if ay > arith[2]:
        return 3, ay
    for lv in range(L):
        lx = 1
        ly = 1
        for d in range(7):
            lx *= sx[b, lv, d]
            ly *= sy[b, lv, d]
        ax //= lx  # now the X extent of the levels outside lv
        ay //= ly
        if code[lv, 0] >= 0 or code[lv, 1] >= 0:
            need = 0
            for pv in range(3):
                if not keep[b, lv, pv]:
                    continue
                s = 1
                for a in range(4):
                    e = 1
                    for q in range(2):
                        dd = pdim[pv, a, q]
                        if dd >= 0:
                            e += pcoef[pv, a, q] * (cum[lv, dd] - 1)
                    s *= e
                need += s
            if code[lv, 0] >= 0 and need > cap[lv]:
                return code[lv, 0], need
            if code[lv, 1] >= 0 and need < floor[lv]:
                return code[lv, 1], need
        if ax * ay > inst[lv]:
            return code[lv, 2], ax * ay
        if ax > mx[lv]:
            return code[lv, 3], ax
        if ay > my[lv]:
            return code[lv, 4], ay
    return -1, 0


@njit(cache=True)
def _chunk(c, t, sx, sy, keep, size, pdim, pcoef, arith, cap, floor, inst, mx, my, code, nchunk, out_code, out_value):
    B, L, _ = t.shape
    cum = np.ones((L, 7), np.int64)
    for b in range(c * B // nchunk, (c + 1) * B // nchunk):
        k, v = verdict(t, sx, sy, keep, b, size, pdim, pcoef, arith, cap, floor, inst, mx, my, code, cum)
        out_code[b] = k
        out_value[b] = v


@njit(cache=True, parallel=True)
def check_rows(t, sx, sy, keep, size, pdim, pcoef, arith, cap, floor, inst, mx, my, code, nchunk, out_code,
               out_value):
    """Verdicts of every row into ``out_code``/``out_value``, over the numba threads."""
    for c in prange(nchunk):
        _chunk(c, t, sx, sy, keep, size, pdim, pcoef, arith, cap, floor, inst, mx, my, code, nchunk, out_code,
               out_value)


@njit(cache=True)
def check_rows_serial(t, sx, sy, keep, size, pdim, pcoef, arith, cap, floor, inst, mx, my, code, nchunk, out_code,
                      out_value):
    """:func:`check_rows` on the calling thread (small batches: no thread-pool launch)."""
    _chunk(0, t, sx, sy, keep, size, pdim, pcoef, arith, cap, floor, inst, mx, my, code, 1, out_code, out_value)


#: Below this many rows a kernel runs on the calling thread: launching the thread pool costs more than it saves.
PARALLEL_MIN_ROWS = 4096


def chunks(rows: int) -> int:
    """Work chunks for ``rows`` rows (a few per thread; 1: run on the calling thread)."""
    if rows < PARALLEL_MIN_ROWS or numba.get_num_threads() == 1:
        return 1
    return max(1, min(rows, 8 * numba.get_num_threads()))
