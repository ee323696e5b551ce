"""Optional compiled kernel (numba) of :mod:`looplab.analytical.model`: energy and cycles per mapping.

The same equations as the numpy path, one mapping per iteration, run in parallel over rows. Mappings
that need the rarer parts of the model (link transfers between PEs, mixed-axis multicast) are flagged and
re-evaluated by the numpy path, so results are identical. Used automatically by ``evaluate_batch`` when
numba is importable; ``AVAILABLE`` tells whether it is.
"""

from __future__ import annotations

import math

import numpy as np

try:
    import numba
    from numba import njit, prange

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised where numba is absent
    AVAILABLE = False


if AVAILABLE:

    @njit(cache=True)
    def _delta(ext, size, ldim, ln, lstride, start, stop, proj_t, taus, keyed, D, E, Dn, En):
        """delta_sum for one row and one boundary (loops start..stop of the nest)."""
        # translations of the live loops
        M = 0
        b0 = b1 = b2 = b3 = 0
        partial_any = False
        for q in range(start, stop):
            n = ln[q]
            if n <= 1:
                continue
            k = ldim[q]
            s = lstride[q]
            st0 = proj_t[0, k] * s
            st1 = proj_t[1, k] * s
            st2 = proj_t[2, k] * s
            st3 = proj_t[3, k] * s
            taus[M, 0] = st0 - b0
            taus[M, 1] = st1 - b1
            taus[M, 2] = st2 - b2
            taus[M, 3] = st3 - b3
            taus[M, 4] = n
            b0 += st0
            b1 += st1
            b2 += st2
            b3 += st3
            nz = 0
            ax = 0
            for a in range(4):
                if taus[M, a] != 0:
                    nz += 1
                    ax = a
            if nz == 1 and abs(taus[M, ax]) < ext[ax]:
                partial_any = True
            M += 1
        if M == 0:
            return size
        if not partial_any:
            # every non-zero move costs the whole tile
            tot = 1.0
            suffix = 1.0
            for m in range(M - 1, -1, -1):
                n = taus[m, 4]
                if taus[m, 0] != 0 or taus[m, 1] != 0 or taus[m, 2] != 0 or taus[m, 3] != 0:
                    tot += (n - 1) * suffix
                suffix *= n
            return size * tot
        NONE = M
        S = M + 1
        for e in range(S):
            D[e] = 0.0
            E[e] = e
        for j in range(M):
            n = taus[j, 4]
            zero = taus[j, 0] == 0 and taus[j, 1] == 0 and taus[j, 2] == 0 and taus[j, 3] == 0
            canon = j
            for i in range(j):
                if keyed[i] and taus[i, 0] == taus[j, 0] and taus[i, 1] == taus[j, 1] and \
                        taus[i, 2] == taus[j, 2] and taus[i, 3] == taus[j, 3]:
                    canon = i
                    break
            keyed[j] = not zero
            nz = 0
            ax = 0
            for a in range(4):
                if taus[j, a] != 0:
                    nz += 1
                    ax = a
            mag = abs(taus[j, ax])
            if nz == 0:
                sub = 0.0
            elif nz == 1 and mag < ext[ax]:
                sub = size * mag / ext[ax]
            else:
                sub = size
            w = float(n - 1)
            for e in range(S):
                x = E[e]
                if zero:
                    d = 0.0
                    y = x
                elif x == NONE or x == canon:
                    d = sub
                    y = canon if x == NONE else x
                else:
                    d = size
                    y = NONE
                Dn[e] = D[e] + w * (d + D[y])
                En[e] = E[y]
            for e in range(S):
                D[e] = Dn[e]
                E[e] = En[e]
        return size + D[NONE]

    @njit(cache=True, parallel=True)
    def evaluate_rows(t, sp, perm, keep, proj, single_dim, mixed_dims, block, e_read, e_write, e_update,
                      read_bw, write_bw, shared_bw, e_mac, mac_instances, computes):
        B, L, _ = t.shape
        energy = np.zeros(B)
        cycles = np.zeros(B, np.int64)
        util = np.zeros(B)
        e_level = np.zeros((B, L + 1))
        fallback = np.zeros(B, np.bool_)
        for b in prange(B):
            cum = np.ones((L, 7), np.int64)
            below = np.ones((L, 7), np.int64)
            for d in range(7):
                acc = 1
                for lv in range(L):
                    below[lv, d] = acc
                    acc *= t[b, lv, d] * sp[b, lv, d]
                    cum[lv, d] = acc
            ext = np.zeros((L, 3, 4), np.int64)
            size = np.zeros((L, 3))
            master = np.zeros((L, 3))
            for lv in range(L):
                for pv in range(3):
                    s = 1.0
                    ms = 1.0
                    for a in range(4):
                        e = 1
                        em = 1
                        for d in range(7):
                            e += proj[pv, a, d] * (cum[lv, d] - 1)
                            em += proj[pv, a, d] * (below[lv, d] * sp[b, lv, d] - 1)
                        ext[lv, pv, a] = e
                        s *= e
                        ms *= em
                    size[lv, pv] = s
                    master[lv, pv] = ms
            fan = np.ones(L)
            for lv in range(L):
                f = 1.0
                for d in range(7):
                    f *= sp[b, lv, d]
                fan[lv] = f
            rep = np.ones(L)
            for lv in range(L - 2, -1, -1):
                rep[lv] = rep[lv + 1] * fan[lv + 1]
            T = 1.0
            for lv in range(L):
                for d in range(7):
                    T *= t[b, lv, d]
            ldim = np.zeros(L * 7, np.int64)
            ln = np.zeros(L * 7, np.int64)
            lstride = np.zeros(L * 7, np.int64)
            for lv in range(L):
                for q in range(7):
                    k = perm[b, lv, q]
                    ldim[lv * 7 + q] = k
                    ln[lv * 7 + q] = t[b, lv, k]
                    lstride[lv * 7 + q] = below[lv, k] * sp[b, lv, k]
            taus = np.zeros((L * 7, 5), np.int64)
            keyed = np.zeros(L * 7, np.bool_)
            Dbuf = np.zeros(L * 7 + 1)
            Ebuf = np.zeros(L * 7 + 1, np.int64)
            Dn = np.zeros(L * 7 + 1)
            En = np.zeros(L * 7 + 1, np.int64)
            C = np.zeros((L, 3))
            W = np.zeros((L, 3))
            for pv in range(3):
                C[0, pv] = T
                W[0, pv] = T
            for lv in range(1, L):
                for pv in range(3):
                    if single_dim[pv]:
                        # stationarity closed form: size x trip counts from the innermost relevant loop out
                        res = 1.0
                        found = False
                        for q in range(lv * 7, L * 7):
                            n = ln[q]
                            if n <= 1:
                                continue
                            if not found:
                                for a in range(4):
                                    if proj[pv, a, ldim[q]] != 0:
                                        found = True
                            if found:
                                res *= n
                        d = size[lv - 1, pv] * res
                    else:
                        d = _delta(ext[lv - 1, pv], size[lv - 1, pv], ldim, ln, lstride, lv * 7, L * 7,
                                   proj[pv], taus, keyed, Dbuf, Ebuf, Dn, En)
                    # multicast: distinct child offsets; mixed axes with two spatial dims -> numpy path
                    u = 1.0
                    for a in range(4):
                        used = 0
                        for dd in range(7):
                            if proj[pv, a, dd] != 0 and sp[b, lv, dd] > 1:
                                used += 1
                                u *= sp[b, lv, dd]
                        if used > 1:
                            fallback[b] = True
                    if fan[lv] > 1 and not single_dim[pv]:
                        cand = False
                        for dd in range(7):
                            if mixed_dims[pv, dd] and sp[b, lv, dd] > 1:
                                cand = True
                        if cand:
                            # a link needs a non-zero move within the span of the children's offsets
                            b0 = np.zeros(4, np.int64)
                            for q in range(lv * 7, L * 7):
                                n = ln[q]
                                if n <= 1:
                                    continue
                                inside = True
                                nonzero = False
                                for a in range(4):
                                    st = proj[pv, a, ldim[q]] * lstride[q]
                                    tau = st - b0[a]
                                    b0[a] += st
                                    span = 0
                                    for dd in range(7):
                                        span += abs(proj[pv, a, dd]) * below[lv, dd] * (sp[b, lv, dd] - 1)
                                    if abs(tau) > span:
                                        inside = False
                                    if tau != 0:
                                        nonzero = True
                                if inside and nonzero:
                                    fallback[b] = True
                    C[lv, pv] = u * d
                    W[lv, pv] = fan[lv] * d
            if fallback[b]:
                continue
            pas = np.zeros((L, 3))
            for lv in range(L - 1):
                for pv in range(3):
                    pas[lv, pv] = W[lv + 1, pv] / fan[lv + 1]
            part = np.zeros((L, 3))
            for pv in range(3):
                p = np.int64(size[L - 1, pv])
                part[L - 1, pv] = p
                for lv in range(L - 2, -1, -1):
                    pfd = np.int64(master[lv + 1, pv]) if fan[lv + 1] > 1 else np.int64(size[lv, pv])
                    if pfd != 0:
                        p = (p * np.int64(size[lv, pv])) // pfd
                    part[lv, pv] = p
            alive = np.ones((L, 3), np.bool_)
            for lv in range(L):
                for pv in range(3):
                    if not keep[b, lv, pv]:
                        if lv < L - 1:
                            factor = C[lv, pv] * fan[lv + 1] / W[lv + 1, pv] if W[lv + 1, pv] > 0 else 0.0
                            C[lv + 1, pv] *= factor
                            W[lv + 1, pv] *= factor
                        alive[lv, pv] = False
            tot_e = computes * e_mac
            e_level[b, 0] = tot_e
            cyc = T
            for lv in range(L):
                rsum = 0.0
                wsum = 0.0
                el = 0.0
                for pv in range(3):
                    if not alive[lv, pv]:
                        continue
                    outermost = True
                    for l2 in range(lv + 1, L):
                        if alive[l2, pv]:
                            outermost = False
                    pa = 0.0 if outermost else pas[lv, pv]
                    if pv == 2:
                        upd = np.rint(C[lv, pv])
                        rd = np.rint(C[lv, pv] - part[lv, pv])
                        fl = np.rint(pa) if outermost else np.rint(pa - part[lv, pv])
                    else:
                        upd = 0.0
                        rd = np.rint(C[lv, pv])
                        fl = np.rint(pa)
                    bs = block[lv]
                    el += (math.ceil(rd / bs) * e_read[lv] + math.ceil(fl / bs) * e_write[lv]
                           + math.ceil(upd / bs) * e_update[lv]) * rep[lv]
                    rsum += rd / T
                    wsum += (fl + upd) / T
                e_level[b, lv + 1] = el
                tot_e += el
                slow = 1.0
                if read_bw[lv] < rsum:
                    slow = min(slow, read_bw[lv] / rsum)
                if write_bw[lv] < wsum:
                    slow = min(slow, write_bw[lv] / wsum)
                if shared_bw[lv] < rsum + wsum:
                    slow = min(slow, shared_bw[lv] / (rsum + wsum))
                c = math.ceil(T / slow)
                if c > cyc:
                    cyc = c
            energy[b] = tot_e
            cycles[b] = np.int64(cyc)
            util[b] = computes / (cyc * mac_instances)
        return energy, cycles, util, e_level, fallback

    def set_threads(n: int) -> None:
        numba.set_num_threads(n)
