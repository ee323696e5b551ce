"""Optional compiled kernel (numba) of :mod:`looplab.analytical.model`: energy and cycles per mapping.

The same equations as the numpy path (including link transfers and mixed-axis multicast), one mapping per
iteration, run in parallel over rows; results equal the numpy path's up to float summation order. Used
automatically by ``evaluate_batch`` when numba is importable; ``AVAILABLE`` tells whether it is. The
``fallback`` output flags rows the kernel leaves to the numpy path (none at present).
"""

from __future__ import annotations

import math

import numpy as np

try:
    import numba
    from numba import njit, prange

    from looplab.numba_setup import KERNEL_LOCK  # noqa: F401  (also selects a fork-safe threading layer)
    from mappers.validity_kernel import chunks as validity_chunks
    from mappers.validity_kernel import verdict

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised where numba is absent
    AVAILABLE = False


#: Rows per block handed to one work chunk at a time.
ROW_BLOCK = 64

if AVAILABLE:

    @njit(cache=True)
    def _canon(taus, keyed, j):
        """The first earlier non-zero move equal to move ``j`` (``j`` itself when none)."""
        for i in range(j):
            if keyed[i] and taus[i, 0] == taus[j, 0] and taus[i, 1] == taus[j, 1] and \
                    taus[i, 2] == taus[j, 2] and taus[i, 3] == taus[j, 3]:
                return i
        return j

    @njit(cache=True)
    def _move(taus, j, ext, size):
        """(words a move brings in, whether it is a partial slide): a slide along one axis by less than the
        tile's extent there brings in ``size * |move| / extent``; any other non-zero move the whole tile."""
        nz = 0
        ax = 0
        for a in range(4):
            if taus[j, a] != 0:
                nz += 1
                ax = a
        if nz == 0:
            return 0.0, False
        mag = abs(taus[j, ax])
        if nz == 1 and mag < ext[ax]:
            return size * mag / ext[ax], True
        return size, False

    @njit(cache=True)
    def _multicast(sp_lv, pdim_pv):
        """(children sharing a parent access, whether two spatial dims feed one tile axis) of a fan-out whose
        spatial factors are ``sp_lv``: the product of the spatial factors of the dims the data space depends on
        (exact unless ``mixed``, when :func:`_distinct_u` or the offsets enumeration count the distinct ones)."""
        u = 1.0
        mixed = False
        for a in range(4):
            used = 0
            for qq in range(2):
                dd = pdim_pv[a, qq]
                if dd >= 0 and sp_lv[dd] > 1:
                    u *= sp_lv[dd]
                    used += 1
            if used > 1:
                mixed = True
        return u, mixed

    @njit(cache=True)
    def _delta(ext, size, ldim, ln, lstride, start, stop, proj_t, taus, keyed, D, E, Dn, En):
        """delta_sum for one row and one boundary (loops start..stop of the nest)."""
        M = _taus(ldim, ln, lstride, start, stop, proj_t, taus)
        partial_any = False
        for m in range(M):
            if _move(taus, m, ext, size)[1]:
                partial_any = True
                break
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
            keyed[j] = not zero
            if zero:  # an irrelevant loop repeats everything inside it: every state's sum times n, same state
                for e in range(S):
                    D[e] *= n
                continue
            canon = _canon(taus, keyed, j)
            sub = _move(taus, j, ext, size)[0]
            w = float(n - 1)
            for e in range(S):
                x = E[e]
                if x == NONE or x == canon:
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

    @njit(cache=True)
    def _taus(ldim, ln, lstride, start, stop, proj_t, taus):
        """Translations (and trip counts in column 4) of the live loops start..stop; returns their number."""
        M = 0
        b0 = b1 = b2 = b3 = 0
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
            b0 += st0
            b1 += st1
            b2 += st2
            b3 += st3
            taus[M, 4] = n
            M += 1
        return M

    @njit(cache=True)
    def _children(sx, sy, sperm, below, proj_t, F, offs):
        """Offsets [F, 4] of the children of a fan-out in Timeloop's logical order (see links.child_offsets)."""
        mult = np.ones(7, np.int64)
        off7 = np.zeros((F, 7), np.int64)
        rem = np.arange(F)
        for which in range(2):
            fac = sx if which == 0 else sy
            for q in range(7):
                k = sperm[q]
                f = fac[k]
                if f <= 1:
                    continue
                for i in range(F):
                    off7[i, k] += (rem[i] % f) * below[k] * mult[k]
                    rem[i] //= f
                mult[k] *= f
        for i in range(F):
            for a in range(4):
                v = 0
                for k in range(7):
                    v += proj_t[a, k] * off7[i, k]
                offs[i, a] = v

    @njit(cache=True)
    def _groups(offs, F, mask, group):
        """Group id per child (first child with the same offset); returns the number of distinct offsets
        among the children with ``mask`` set."""
        for i in range(F):
            group[i] = i
            for j in range(i):
                if offs[j, 0] == offs[i, 0] and offs[j, 1] == offs[i, 1] and offs[j, 2] == offs[i, 2] and \
                        offs[j, 3] == offs[i, 3]:
                    group[i] = group[j]
                    break
        seen = np.zeros(F, np.bool_)
        u = 0
        for i in range(F):
            if mask[i] and not seen[group[i]]:
                seen[group[i]] = True
                u += 1
        return u

    @njit(cache=True)
    def _distinct_u(sp_lv, below_lv, pdim_pv, pcoef_pv):
        """Distinct child offsets of a fan-out = product over axes of the distinct values on each axis."""
        u = 1.0
        for a in range(4):
            d1 = pdim_pv[a, 0]
            d2 = pdim_pv[a, 1]
            f1 = sp_lv[d1] if d1 >= 0 else 1
            f2 = sp_lv[d2] if d2 >= 0 else 1
            if f1 > 1 and f2 > 1:
                vals = np.empty(f1 * f2, np.int64)
                for i in range(f1):
                    for j in range(f2):
                        vals[i * f2 + j] = pcoef_pv[a, 0] * below_lv[d1] * i + pcoef_pv[a, 1] * below_lv[d2] * j
                vals.sort()
                c = 1
                for k in range(1, f1 * f2):
                    if vals[k] != vals[k - 1]:
                        c += 1
                u *= c
            else:
                u *= f1 * f2
        return u

    @njit(cache=True)
    def _neighbour(i, nb, hs, vs, F):
        """Child ``i``'s mesh neighbour ``nb`` (0 up, 1 down, 2 left, 3 right) on an ``hs`` x ``vs`` mesh of ``F``
        children laid out row by row; -1 when there is none."""
        h = i % hs + (-1 if nb == 2 else (1 if nb == 3 else 0))
        v = i // hs + (-1 if nb == 0 else (1 if nb == 1 else 0))
        if h < 0 or h >= hs or v < 0 or v >= vs:
            return -1
        jn = v * hs + h
        return jn if jn < F else -1

    @njit(cache=True)
    def _any_neighbour_move(offs, F, hs, vs, taus, M, possible):
        """Clear ``possible[m]`` unless move m equals the offset difference of some mesh-neighbour pair."""
        diffs = np.zeros((4 * F, 4), np.int64)
        nd = 0
        for i in range(F):
            for nb in range(4):
                jn = _neighbour(i, nb, hs, vs, F)
                if jn < 0:
                    continue
                new = True
                for k in range(nd):
                    if diffs[k, 0] == offs[jn, 0] - offs[i, 0] and diffs[k, 1] == offs[jn, 1] - offs[i, 1] and \
                            diffs[k, 2] == offs[jn, 2] - offs[i, 2] and diffs[k, 3] == offs[jn, 3] - offs[i, 3]:
                        new = False
                        break
                if new:
                    for a in range(4):
                        diffs[nd, a] = offs[jn, a] - offs[i, a]
                    nd += 1
        anyp = False
        for m in range(M):
            if not possible[m]:
                continue
            hit = False
            for k in range(nd):
                if diffs[k, 0] == taus[m, 0] and diffs[k, 1] == taus[m, 1] and diffs[k, 2] == taus[m, 2] and \
                        diffs[k, 3] == taus[m, 3]:
                    hit = True
                    break
            possible[m] = hit
            anyp = anyp or hit
        return anyp

    @njit(cache=True)
    def _link_dp(ext, size, taus, M, n_linked, u_link, U, F):
        """links.link_dp for one row: (delta sum, parent accesses, weighted accesses, link transfers)."""
        NONE = M
        S = 3 * (M + 1)
        A = np.zeros((4, S))
        An = np.zeros((4, S))
        E = np.arange(S)
        En = np.zeros(S, np.int64)
        keyed = np.zeros(M, np.bool_)
        for j in range(M):
            n = taus[j, 4]
            zero = taus[j, 0] == 0 and taus[j, 1] == 0 and taus[j, 2] == 0 and taus[j, 3] == 0
            canon = _canon(taus, keyed, j)
            keyed[j] = not zero
            sub, partial = _move(taus, j, ext, size)
            w = float(n - 1)
            for e in range(S):
                x = E[e]
                r, p = x // 3, x % 3
                if zero:
                    d = 0.0
                    kind = 0
                    rn = r
                elif r == NONE or r == canon:
                    d = sub
                    kind = 2 if partial else 1
                    rn = canon
                else:
                    d = size
                    kind = 1
                    rn = NONE
                y = rn * 3 + kind
                link = kind > 0 and kind == p
                nl = float(n_linked[j]) if link else 0.0
                c0 = d
                c1 = d * (u_link[j] if link else U)
                c2 = d * (F - nl)
                c3 = d * nl
                An[0, e] = A[0, e] + w * (c0 + A[0, y])
                An[1, e] = A[1, e] + w * (c1 + A[1, y])
                An[2, e] = A[2, e] + w * (c2 + A[2, y])
                An[3, e] = A[3, e] + w * (c3 + A[3, y])
                En[e] = E[y]
            for e in range(S):
                for c in range(4):
                    A[c, e] = An[c, e]
                E[e] = En[e]
        entry = NONE * 3 + 1
        return (size + A[0, entry], size * U + A[1, entry], size * F + A[2, entry], A[3, entry])

    @njit(cache=True)
    def _chunk(c, t, sx, sy, sperm, perm, keep, proj, pdim, pcoef, relevant, single_dim, mixed_dims, mesh_x, mesh_y,
               block, e_read, e_write, e_update, read_bw, write_bw, shared_bw, e_mac, mac_instances, computes,
               vsize, vpdim, vpcoef, arith, cap, floor, inst, vmx, vmy, vcode, stats, nchunk, code, value, energy,
               cycles, util, e_level, fallback, o_reads, o_fills, o_updates):
        """Rows of work chunk ``c`` (of ``nchunk``) of :func:`evaluate_rows`."""
        B, L, _ = t.shape
        one_sperm = sperm.shape[0] == 1
        cum = np.ones((L, 7), np.int64)
        below = np.ones((L, 7), np.int64)
        ext = np.zeros((L, 3, 4), np.int64)
        size = np.zeros((L, 3))
        master = np.zeros((L, 3))
        fan = np.ones(L)
        rep = np.ones(L)
        ldim = np.zeros(L * 7, np.int64)
        ln = np.zeros(L * 7, np.int64)
        lstride = np.zeros(L * 7, np.int64)
        taus = np.zeros((L * 7, 5), np.int64)
        keyed = np.zeros(L * 7, np.bool_)
        Dbuf = np.zeros(L * 7 + 1)
        Ebuf = np.zeros(L * 7 + 1, np.int64)
        Dn = np.zeros(L * 7 + 1)
        En = np.zeros(L * 7 + 1, np.int64)
        C = np.zeros((L, 3))
        W = np.zeros((L, 3))
        Lk = np.zeros((L, 3))
        possible = np.zeros(L * 7, np.bool_)
        pas = np.zeros((L, 3))
        part = np.zeros((L, 3))
        alive = np.ones((L, 3), np.bool_)
        sp = np.ones((L, 7), np.int64)
        suffix = np.ones(L * 7 + 1)
        top = np.zeros(3, np.int64)
        spans = np.zeros(4, np.int64)
        nextrel = np.zeros((3, L * 7 + 1), np.int64)
        # blocks of ROW_BLOCK rows dealt round-robin to the chunks: contiguous rows for locality, and cheap
        # (invalid) and costly rows spread evenly over the threads
        c0 = np.int64(c)  # (the row body reuses the name c)
        n_blocks = len(range(c0, -(-B // ROW_BLOCK), np.int64(nchunk)))
        for ri in range(n_blocks * ROW_BLOCK):
            b = (c0 + (ri // ROW_BLOCK) * np.int64(nchunk)) * ROW_BLOCK + ri % ROW_BLOCK
            if b >= B:
                continue
            k, v = verdict(t, sx, sy, keep, b, vsize, vpdim, vpcoef, arith, cap, floor, inst, vmx, vmy, vcode,
                           cum)
            code[b] = k
            value[b] = v
            if k >= 0:
                continue
            sb = 0 if one_sperm else b
            for lv in range(L):
                for d in range(7):
                    sp[lv, d] = sx[b, lv, d] * sy[b, lv, d]
                    below[lv, d] = cum[lv - 1, d] if lv > 0 else 1
            for lv in range(L):
                for pv in range(3):
                    s = 1.0
                    ms = 1.0
                    for a in range(4):
                        e = 1
                        em = 1
                        for q in range(2):
                            d = pdim[pv, a, q]
                            if d >= 0:
                                e += pcoef[pv, a, q] * (cum[lv, d] - 1)
                                em += pcoef[pv, a, q] * (below[lv, d] * sp[lv, d] - 1)
                        ext[lv, pv, a] = e
                        s *= e
                        ms *= em
                    size[lv, pv] = s
                    master[lv, pv] = ms
            for lv in range(L):
                f = 1.0
                for d in range(7):
                    f *= sp[lv, d]
                fan[lv] = f
            for lv in range(L - 2, -1, -1):
                rep[lv] = rep[lv + 1] * fan[lv + 1]
            T = 1.0
            for lv in range(L):
                for d in range(7):
                    T *= t[b, lv, d]
            for lv in range(L):
                for q in range(7):
                    k = perm[b, lv, q]
                    ldim[lv * 7 + q] = k
                    ln[lv * 7 + q] = t[b, lv, k]
                    lstride[lv * 7 + q] = below[lv, k] * sp[lv, k]
            # suffix[q]: product of the trip counts of loops q.. (outward); nextrel[pv, q]: the first live loop
            # at or outside q that is relevant to data space pv (L * 7: none)
            suffix[L * 7] = 1.0
            for pv in range(3):
                nextrel[pv, L * 7] = L * 7
            for q in range(L * 7 - 1, -1, -1):
                suffix[q] = suffix[q + 1] * ln[q]
                for pv in range(3):
                    nextrel[pv, q] = q if ln[q] > 1 and relevant[pv, ldim[q]] else nextrel[pv, q + 1]
            Lk[:, :] = 0.0
            for pv in range(3):
                u0, mixed0 = _multicast(sp[0], pdim[pv])
                if mixed0:
                    F0 = np.int64(fan[0])
                    offs0 = np.zeros((F0, 4), np.int64)
                    _children(sx[b, 0], sy[b, 0], sperm[sb, 0], below[0], proj[pv], F0, offs0)
                    u0 = float(_groups(offs0, F0, np.ones(F0, np.bool_), np.zeros(F0, np.int64)))
                C[0, pv] = T * u0
                W[0, pv] = T * fan[0]
            for lv in range(1, L):
                for pv in range(3):
                    if single_dim[pv]:
                        # stationarity closed form: size x trip counts from the innermost relevant loop out
                        q0 = nextrel[pv, lv * 7]
                        d = size[lv - 1, pv] * (suffix[q0] if q0 < L * 7 else 1.0)
                    else:
                        d = _delta(ext[lv - 1, pv], size[lv - 1, pv], ldim, ln, lstride, lv * 7, L * 7,
                                   proj[pv], taus, keyed, Dbuf, Ebuf, Dn, En)
                    # multicast: distinct child offsets (enumerated when two spatial dims share an axis)
                    u, mixed_sp = _multicast(sp[lv], pdim[pv])
                    link_possible = False
                    M = 0
                    if fan[lv] > 1 and not single_dim[pv]:
                        cand = False
                        for dd in range(7):
                            if mixed_dims[pv, dd] and sp[lv, dd] > 1:
                                cand = True
                        if cand:
                            M = _taus(ldim, ln, lstride, lv * 7, L * 7, proj[pv], taus)
                            for a in range(4):
                                spans[a] = 0
                                for dd in range(7):
                                    spans[a] += abs(proj[pv, a, dd]) * below[lv, dd] * (sp[lv, dd] - 1)
                            for m in range(M):
                                inside = True
                                nonzero = False
                                for a in range(4):
                                    if abs(taus[m, a]) > spans[a]:
                                        inside = False
                                    if taus[m, a] != 0:
                                        nonzero = True
                                possible[m] = inside and nonzero
                                if possible[m]:
                                    link_possible = True
                    if mixed_sp:
                        u = _distinct_u(sp[lv], below[lv], pdim[pv], pcoef[pv])
                    if link_possible:
                        F = np.int64(fan[lv])
                        offs = np.zeros((F, 4), np.int64)
                        _children(sx[b, lv], sy[b, lv], sperm[sb, lv], below[lv], proj[pv], F, offs)
                        # keep only moves equal to some neighbour offset difference
                        link_possible = _any_neighbour_move(offs, F, mesh_x[lv], mesh_y[lv], taus, M, possible)
                        group = np.zeros(F, np.int64)
                        U = np.int64(u)
                        if link_possible:
                            _groups(offs, F, np.ones(F, np.bool_), group)
                            hs = mesh_x[lv]
                            vs = mesh_y[lv]
                            n_linked = np.zeros(M, np.int64)
                            u_link = np.full(M, U, np.int64)
                            any_use = False
                            linked = np.zeros(F, np.bool_)
                            for m in range(M):
                                if not possible[m]:
                                    continue
                                nl = 0
                                for i in range(F):
                                    linked[i] = False
                                    for nb in range(4):
                                        jn = _neighbour(i, nb, hs, vs, F)
                                        if jn < 0:
                                            continue
                                        if offs[jn, 0] - offs[i, 0] == taus[m, 0] and \
                                                offs[jn, 1] - offs[i, 1] == taus[m, 1] and \
                                                offs[jn, 2] - offs[i, 2] == taus[m, 2] and \
                                                offs[jn, 3] - offs[i, 3] == taus[m, 3]:
                                            linked[i] = True
                                    if linked[i]:
                                        nl += 1
                                if nl == 0:
                                    continue
                                rem = _groups(offs, F, ~linked, group)
                                if rem < U:
                                    n_linked[m] = nl
                                    u_link[m] = rem
                                    any_use = True
                            if any_use:
                                d, cacc, wacc, lk = _link_dp(ext[lv - 1, pv], size[lv - 1, pv], taus, M, n_linked,
                                                             u_link, float(U), fan[lv])
                                C[lv, pv] = cacc
                                W[lv, pv] = wacc
                                Lk[lv, pv] = lk
                                continue
                    C[lv, pv] = u * d
                    W[lv, pv] = fan[lv] * d
            for lv in range(L - 1):
                for pv in range(3):
                    pas[lv, pv] = W[lv + 1, pv] / fan[lv + 1]
            for pv in range(3):
                p = np.int64(size[L - 1, pv])
                part[L - 1, pv] = p
                for lv in range(L - 2, -1, -1):
                    pfd = np.int64(master[lv + 1, pv]) if fan[lv + 1] > 1 else np.int64(size[lv, pv])
                    if pfd != 0:
                        p = (p * np.int64(size[lv, pv])) // pfd
                    part[lv, pv] = p
            alive[:, :] = True
            for lv in range(L):
                for pv in range(3):
                    if not keep[b, lv, pv]:
                        if lv < L - 1:
                            factor = C[lv, pv] * fan[lv + 1] / W[lv + 1, pv] if W[lv + 1, pv] > 0 else 0.0
                            C[lv + 1, pv] *= factor
                            W[lv + 1, pv] *= factor
                            Lk[lv + 1, pv] = 0.0
                        alive[lv, pv] = False
            for pv in range(3):
                top[pv] = -1
                for lv in range(L):
                    if alive[lv, pv]:
                        top[pv] = lv
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
                    outermost = lv == top[pv]
                    pa = 0.0 if outermost else pas[lv, pv]
                    peer = Lk[lv + 1, pv] / rep[lv] if lv < L - 1 else 0.0
                    if pv == 2:
                        upd = np.rint(C[lv, pv])
                        rd = np.rint(C[lv, pv] + peer - part[lv, pv])
                        fl = np.rint(pa + peer) if outermost else np.rint(pa + peer - part[lv, pv])
                    else:
                        upd = 0.0
                        rd = np.rint(C[lv, pv] + peer)
                        fl = np.rint(pa + peer)
                    if stats:
                        o_reads[b, lv, pv] = rd
                        o_fills[b, lv, pv] = fl
                        o_updates[b, lv, pv] = upd
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
                lc = math.ceil(T / slow)
                if lc > cyc:
                    cyc = lc
            energy[b] = tot_e
            cycles[b] = np.int64(cyc)
            util[b] = computes / (cyc * mac_instances)

    @njit(cache=True, parallel=True)
    def evaluate_rows(t, sx, sy, sperm, perm, keep, proj, pdim, pcoef, relevant, single_dim, mixed_dims, mesh_x,
                      mesh_y, block, e_read, e_write, e_update, read_bw, write_bw, shared_bw, e_mac, mac_instances,
                      computes, vsize, vpdim, vpcoef, arith, cap, floor, inst, vmx, vmy, vcode, stats, nchunk,
                      code, value, energy, cycles, util, e_level, fallback, o_reads, o_fills, o_updates):
        """Validity (:func:`mappers.validity_kernel.verdict`) into ``code``/``value`` and, for valid rows, energy,
        cycles, utilization, energy per level and (``stats``) per-instance reads/fills/updates [B, L, 3] into the
        given arrays (left as they are for invalid rows and for tensors a level bypasses)."""
        for c in prange(nchunk):
            _chunk(c, t, sx, sy, sperm, perm, keep, proj, pdim, pcoef, relevant, single_dim, mixed_dims,
                   mesh_x, mesh_y, block, e_read, e_write, e_update, read_bw, write_bw, shared_bw, e_mac,
                   mac_instances, computes, vsize, vpdim, vpcoef, arith, cap, floor, inst, vmx, vmy, vcode,
                   stats, nchunk, code, value, energy, cycles, util, e_level, fallback, o_reads, o_fills,
                   o_updates)

    @njit(cache=True)
    def evaluate_rows_serial(t, sx, sy, sperm, perm, keep, proj, pdim, pcoef, relevant, single_dim, mixed_dims,
                             mesh_x, mesh_y, block, e_read, e_write, e_update, read_bw, write_bw, shared_bw, e_mac,
                             mac_instances, computes, vsize, vpdim, vpcoef, arith, cap, floor, inst, vmx, vmy, vcode,
                             stats, nchunk, code, value, energy, cycles, util, e_level, fallback, o_reads, o_fills,
                             o_updates):
        """:func:`evaluate_rows` on the calling thread (small batches: no thread-pool launch)."""
        _chunk(0, t, sx, sy, sperm, perm, keep, proj, pdim, pcoef, relevant, single_dim, mixed_dims, mesh_x,
               mesh_y, block, e_read, e_write, e_update, read_bw, write_bw, shared_bw, e_mac, mac_instances,
               computes, vsize, vpdim, vpcoef, arith, cap, floor, inst, vmx, vmy, vcode, stats, nchunk,
               code, value, energy, cycles, util, e_level, fallback, o_reads, o_fills, o_updates)

    def set_threads(n: int) -> None:
        numba.set_num_threads(n)

    chunks = validity_chunks  # work chunks per launch: the same rule as the validity kernel's
