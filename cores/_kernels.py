"""numba kernels of the core engine (DESIGN §3): typed by their arrays, no project imports.

State of one frame: membrane ``V[C, N]`` (int32, or int64 when the wrapper cannot prove that
int32 never overflows), and a ring of 16 delay slots; slot ``t & 15`` holds, per destination
core c, the list of axons of the spikes due at tick t (``ev[16, ev_off[c]:ev_off[c+1]]``,
``evn[16, C]`` entries used; one entry per spike, so k spikes on one axon add k*w and count
k - 1 collisions). A core's list holds at most one spike per source neuron plus its inputs,
which sizes it. A tick's work is proportional to the spikes due, not to the axons.

A tick has two phases. The core phase (integrate, leak, clamp, fire, reset, floor) is
independent per core and runs under ``prange`` over cores in the single-frame kernel; the
route phase (counters, recording, delivery into the ring) runs serially in core order, so
results never depend on the thread count. Batches run frames under ``prange`` instead.

Random numbers (stochastic modes) come from a counter-based hash (splitmix64 finaliser) of
(seed, kind, frame, tick, core, axon/neuron, draw), see ``_step``.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit, prange

SLOTS = 16
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MUL1 = np.uint64(0xBF58476D1CE4E5B9)
MUL2 = np.uint64(0x94D049BB133111EB)
S30, S27, S31 = np.uint64(30), np.uint64(27), np.uint64(31)
S33, S56 = np.uint64(33), np.uint64(56)
KIND_SYNAPSE, KIND_LEAK, KIND_THRESHOLD = 1, 2, 3
# per-neuron route record route[c, n, :] (one cache line per spike in the serial route phase)
R_CORE, R_AXON, R_DELAY, R_HOPS, R_CHIPS, R_OUT = 0, 1, 2, 3, 4, 5
ROUTE_FIELDS = 8
# per-(core, axon) record axinfo[c, a] = synapses | axon_type << 16 | dense << 24
# counters row layout
C_SPIKES, C_SOPS, C_HOPS, C_CHIPS, C_INPUTS, C_COLL = 0, 1, 2, 3, 4, 5


@njit(inline="always")
def _step(h, x):
    """One link of the counter-based hash: splitmix64 finaliser of (h ^ x) + golden."""
    z = (np.uint64(h) ^ np.uint64(x)) + GOLDEN
    z = (z ^ (z >> S30)) * MUL1
    z = (z ^ (z >> S27)) * MUL2
    return z ^ (z >> S31)


@njit(cache=True)
def build_sparse(cb, dense):
    """Synapse lists of the sparse (core, axon) rows: ptr int64 [C*A+1], neuron int16 [S]."""
    C, A, N = cb.shape
    ptr = np.zeros(C * A + 1, np.int64)
    total = 0
    for c in range(C):
        for a in range(A):
            if not dense[c, a]:
                for n in range(N):
                    if cb[c, a, n]:
                        total += 1
            ptr[c * A + a + 1] = total
    idx = np.empty(total, np.int16)
    s = 0
    for c in range(C):
        for a in range(A):
            if not dense[c, a]:
                for n in range(N):
                    if cb[c, a, n]:
                        idx[s] = n
                        s += 1
    return ptr, idx


@njit(cache=True)
def build_rows(cb, axon_type, wt, dense, rowid, mrow):
    """Fill the masked weight rows of the dense (core, axon) rows:
    mrow[rowid[c, a], n] = crossbar[c, a, n] * weight[c, n, axon_type[c, a]] (0 where no
    synapse); rowid[c, a] = -1 for sparse rows."""
    C, A, N = cb.shape
    r = 0
    for c in range(C):
        for a in range(A):
            if dense[c, a]:
                w = wt[c, axon_type[c, a]]
                row = cb[c, a]
                out = mrow[r]
                for n in range(N):
                    out[n] = w[n] if row[n] else 0
                rowid[c, a] = r
                r += 1
            else:
                rowid[c, a] = -1


@njit(cache=True)
def _integrate(c, t, slot, P, C, Vc, sc, ev, ev_off, evn, axinfo, rowid, mrow, wt, cb,
               sptr, sidx, ss, hframe):
    """Add the spikes due on core c in this ring slot (the lists of all P route chunks);
    return (sops, collisions, number of list entries)."""
    A = cb.shape[1]
    N = cb.shape[2]
    has_ss = ss.shape[0] > 0
    hc = _step(_step(_step(hframe, t), c), KIND_SYNAPSE) if has_ss else np.uint64(0)
    sops = 0
    coll = 0
    total = 0
    for q in range(P):
        base = q * C + c
        n_ev = evn[slot, base]
        e0 = ev_off[base]
        total += n_ev
        for e in range(n_ev):
            a = np.int64(ev[slot, e0 + e])
            j = sc[a]
            sc[a] = j + 1
            if j > 0:
                coll += 1
            info = axinfo[c, a]
            sops += info & 0xFFFF
            if has_ss:
                ty = (info >> 16) & 0xFF
                w = wt[c, ty]
                he = _step(_step(hc, a), j)
                for n in range(N):
                    if cb[c, a, n]:
                        wn = w[n]
                        if ss[c, n, ty]:
                            r = _step(he, n) >> S56
                            if wn > 0 and np.int64(r) < wn:
                                Vc[n] += 1
                            elif wn < 0 and np.int64(r) < -wn:
                                Vc[n] -= 1
                        else:
                            Vc[n] += wn
            else:
                r = rowid[c, a]
                if r >= 0:
                    row = mrow[r]
                    # contiguous masked row: vectorises
                    for n in range(N):
                        Vc[n] += row[n]
                else:
                    w = wt[c, (info >> 16) & 0xFF]
                    b = c * A + a
                    for s in range(sptr[b], sptr[b + 1]):
                        n = sidx[s]
                        Vc[n] += w[n]
    if total:
        for q in range(P):
            base = q * C + c
            e0 = ev_off[base]
            for e in range(evn[slot, base]):
                sc[ev[slot, e0 + e]] = 0
            evn[slot, base] = 0
    return sops, coll, total


@njit(cache=True)
def _neuron_fast(c, Vc, npar, vmin, vmax, fm, fired):
    """Leak, clamp, floor and threshold test of core c in one loop, 32-bit arithmetic (V is
    int32 and the wrapper proved V + input + leak fits); the fired neurons go to fired[c]
    in neuron order; returns their number."""
    N = Vc.shape[0]
    lk = npar[c, 0]
    th = npar[c, 1]
    nb = npar[c, 2]
    lo = np.int32(vmin)
    hi = np.int32(vmax)
    anyf = np.uint8(0)
    for n in range(N):
        v = np.int32(Vc[n] + np.int32(lk[n]))
        v = np.int32(min(max(v, lo), hi))
        v = np.int32(max(v, np.int32(nb[n])))
        Vc[n] = v
        f = np.uint8(v >= np.int32(th[n]))
        fm[n] = f
        anyf |= f
    nf = 0
    if anyf:
        for n in range(N):
            if fm[n]:
                fired[c, nf] = n
                nf += 1
    return nf


@njit(cache=True)
def _neuron_general(c, t, Vc, npar, vmin, vmax, sl, tmask, hframe, fired):
    """Leak (stochastic where sl), clamp, floor, threshold test (with the random threshold
    mask where tmask) of core c in 64-bit arithmetic; returns the number fired."""
    N = Vc.shape[0]
    lk = npar[c, 0]
    th = npar[c, 1]
    nb = npar[c, 2]
    has_sl = sl.shape[0] > 0
    hl = _step(_step(_step(hframe, t), c), KIND_LEAK)
    for n in range(N):
        ln = np.int64(lk[n])
        if has_sl and sl[c, n]:
            r = np.int64(_step(hl, n) >> S56)
            if ln > 0:
                ln = 1 if r < ln else 0
            elif ln < 0:
                ln = -1 if r < -ln else 0
        v = np.int64(Vc[n]) + ln
        v = min(max(v, vmin), vmax)
        Vc[n] = max(v, np.int64(nb[n]))
    nf = 0
    if tmask.shape[0] > 0:
        ht = _step(_step(_step(hframe, t), c), KIND_THRESHOLD)
        mc = tmask[c]
        for n in range(N):
            eff = np.int64(th[n])
            if mc[n] != 0:
                eff += np.int64(_step(ht, n) >> S33) & np.int64(mc[n])
            if Vc[n] >= eff:
                fired[c, nf] = n
                nf += 1
    else:
        for n in range(N):
            if Vc[n] >= th[n]:
                fired[c, nf] = n
                nf += 1
    return nf


@njit(cache=True)
def _core_tick(c, t, T, slot, p, P, V, seen, quiet, ev, ev_off, evn, axinfo, rowid, mrow, wt,
               cb, sptr, sidx, npar, rval, rmode, zleak, vmin, vmax, ss, sl, tmask, hframe,
               fast, route, fired, nfired, fm, acc, outp, counts, pc):
    """One tick of core c: integrate, leak, fire, reset, floor, then send its spikes into
    the ring lists of route chunk p (and count them into acc[p], outp[p], counts, pc)."""
    C = V.shape[0]
    Vc = V[c]
    sops, coll, n_in = _integrate(c, t, slot, P, C, Vc, seen[c], ev, ev_off, evn, axinfo,
                                  rowid, mrow, wt, cb, sptr, sidx, ss, hframe)
    # a core without input, zero leak and no random threshold, whose last pass fired no
    # neuron, is at a fixed point of the neuron pass (clamp and floor are idempotent)
    if n_in == 0 and quiet[c] and zleak[c]:
        nfired[c] = 0
        return
    if fast:
        nf = _neuron_fast(c, Vc, npar, vmin, vmax, fm, fired)
    else:
        nf = _neuron_general(c, t, Vc, npar, vmin, vmax, sl, tmask, hframe, fired)
    quiet[c] = nf == 0
    nb = npar[c, 2]
    th = npar[c, 1]
    for i in range(nf):
        n = fired[c, i]
        m = rmode[c, n]
        if m == 0:
            v = np.int64(rval[c, n])
        elif m == 1:
            v = np.int64(Vc[n]) - th[n]
        else:
            v = np.int64(Vc[n])
        Vc[n] = max(v, np.int64(nb[n]))
    nfired[c] = nf
    # route: counters, readouts, delivery into chunk p's lists (no other thread writes them)
    hops = 0
    chips = 0
    do_counts = counts.shape[0] > 0
    for i in range(nf):
        n = np.int64(fired[c, i])
        rt = route[c, n]
        o = rt[R_OUT]
        if o >= 0:
            outp[p, o] += 1
        if do_counts:
            counts[c, n] += 1
        tc = rt[R_CORE]
        if tc >= 0:
            hops += rt[R_HOPS]
            chips += rt[R_CHIPS]
            due = t + rt[R_DELAY]
            if due < T:
                ds = due & 15
                k = p * C + tc
                ev[ds, ev_off[k] + evn[ds, k]] = rt[R_AXON]
                evn[ds, k] += 1
    acc[p, C_SPIKES] += nf
    acc[p, C_SOPS] += sops
    acc[p, C_HOPS] += hops
    acc[p, C_CHIPS] += chips
    acc[p, C_COLL] += coll
    if pc.shape[0] > 0:
        pc[0, c] += nf
        pc[1, c] += sops
        pc[2, c] += hops


def _frame_py(T, bounds, V, seen, ev, ev_off, evn, axinfo, rowid, mrow, wt, cb, sptr, sidx,
              npar, rval, rmode, zleak, vmin, vmax, ss, sl, tmask, hframe, fast,
              route,
              in_tick, in_core, in_axon,
              counters, outputs, counts, pc, pt, record):
    """Run one frame for T ticks from the given (zeroed) state; return the spike record.

    bounds int64 [P+1]: the cores of route chunk p are bounds[p]:bounds[p+1] (one chunk per
    thread; ring lists ev_off/evn are per (chunk, destination core), index p * C + c).
    counters int64 [6]; outputs int64 [O]; counts int32 [C, N] or [0, 0]; pc int64 [3, C]
    or [0, 0] (spikes, sops, hops per core); pt int64 [2, T] or [0, 0] (spikes, sops per
    tick); record: 1 to return the full (tick, core, neuron) record, else 0.
    """
    C = V.shape[0]
    N = V.shape[1]
    P = bounds.shape[0] - 1
    fired = np.empty((C, N), np.int16)
    nfired = np.zeros(C, np.int32)
    quiet = np.zeros(C, np.uint8)
    fm = np.zeros((P, N), np.uint8)
    acc = np.zeros((P, 6), np.int64)
    outp = np.zeros((P, outputs.shape[0]), np.int64)
    do_pt = pt.shape[0] > 0
    cap = 1024 if record else 0
    rec = np.empty((cap, 3), np.int32)
    nrec = 0
    ip = 0
    E = in_tick.shape[0]
    for t in range(T):
        slot = t & 15
        # external inputs due at t join chunk 0's ring list before integration
        while ip < E and in_tick[ip] == t:
            c = in_core[ip]
            ev[slot, ev_off[c] + evn[slot, c]] = in_axon[ip]
            evn[slot, c] += 1
            counters[C_INPUTS] += 1
            ip += 1
        for p in prange(P):
            pi = np.int64(p)  # prange may hand out an unsigned index
            for c in range(bounds[pi], bounds[pi + 1]):
                _core_tick(c, t, T, slot, pi, P, V, seen, quiet, ev, ev_off, evn, axinfo,
                           rowid, mrow, wt, cb, sptr, sidx, npar, rval, rmode, zleak, vmin,
                           vmax, ss, sl, tmask, hframe, fast, route, fired, nfired, fm[pi],
                           acc, outp, counts, pc)
        tick_spikes = 0
        tick_sops = 0
        for q in range(P):
            tick_spikes += acc[q, C_SPIKES]
            tick_sops += acc[q, C_SOPS]
            counters[C_HOPS] += acc[q, C_HOPS]
            counters[C_CHIPS] += acc[q, C_CHIPS]
            counters[C_COLL] += acc[q, C_COLL]
            acc[q, :] = 0
        counters[C_SPIKES] += tick_spikes
        counters[C_SOPS] += tick_sops
        if do_pt:
            pt[0, t] = tick_spikes
            pt[1, t] = tick_sops
        if record:
            for c in range(C):
                for i in range(nfired[c]):
                    if nrec == rec.shape[0]:
                        bigger = np.empty((2 * rec.shape[0], 3), np.int32)
                        bigger[:nrec] = rec[:nrec]
                        rec = bigger
                    rec[nrec, 0] = t
                    rec[nrec, 1] = c
                    rec[nrec, 2] = fired[c, i]
                    nrec += 1
    for q in range(P):
        for o in range(outputs.shape[0]):
            outputs[o] += outp[q, o]
    return rec[:nrec].copy()


def _renamed(func, name):
    """A copy of ``func`` under another qualified name: numba's on-disk cache is keyed by
    the name, so a parallel and a serial build of one function must not share it."""
    copy = types.FunctionType(func.__code__, func.__globals__, name, func.__defaults__,
                              func.__closure__)
    copy.__qualname__ = name
    return copy


frame_parallel = njit(cache=True, parallel=True)(_renamed(_frame_py, "frame_parallel"))
frame_serial = njit(cache=True)(_renamed(_frame_py, "frame_serial"))


@njit(cache=True, parallel=True)
def run_frames(T, vproto, A, ev_off, axinfo, rowid, mrow, wt, cb, sptr, sidx,
               npar, rval, rmode, zleak, vmin, vmax, ss, sl, tmask, seed_hash, fast,
               route,
               in_tick, in_core, in_axon, in_off,
               counters, outputs, counts, pc, pt, pot, recs, record):
    """B frames in parallel (prange over frames), each with fresh state and serial cores
    (one route chunk)."""
    C = axinfo.shape[0]
    N = npar.shape[2]
    B = counters.shape[0]
    bounds = np.array([0, C], np.int64)
    for b in prange(B):
        V = np.zeros((C, N), vproto.dtype)
        seen = np.zeros((C, A), np.int32)
        ev = np.empty((SLOTS, ev_off[C]), np.int16)
        evn = np.zeros((SLOTS, C), np.int32)
        hframe = _step(seed_hash, b)
        lo = in_off[b]
        hi = in_off[b + 1]
        rec = frame_serial(T, bounds, V, seen, ev, ev_off, evn, axinfo, rowid, mrow, wt, cb,
                           sptr, sidx, npar, rval, rmode, zleak, vmin, vmax, ss, sl, tmask,
                           hframe, fast, route,
                           in_tick[lo:hi], in_core[lo:hi], in_axon[lo:hi],
                           counters[b], outputs[b], counts[b], pc[b], pt[b], record)
        if pot.shape[0] > 0:
            for c in range(C):
                for n in range(N):
                    pot[b, c, n] = V[c, n]
        if record:
            recs[b] = rec


@njit(cache=True)
def frame_hash(seed_hash, b):
    """The per-frame key of the PRNG (what run_frames uses for frame b)."""
    return _step(seed_hash, b)


@njit(cache=True)
def count_synapses(cb):
    """Synapses per (core, axon): int32 [C, A]."""
    C, A, N = cb.shape
    out = np.zeros((C, A), np.int32)
    for c in range(C):
        for a in range(A):
            s = 0
            row = cb[c, a]
            for n in range(N):
                s += row[n]
            out[c, a] = s
    return out
