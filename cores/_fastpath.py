"""The engine's fast path (DESIGN §3): deterministic programs whose membrane fits int32.

Same tick semantics and counters as ``_kernels`` (no stochastic synapse, leak or threshold;
``V`` int32), laid out so that a spike costs few cache misses:

* Every (core, axon) row is a masked weight row ``mrow[c * A + a] = crossbar[c, a] *
  weight[c, :, axon_type[c, a]]`` (int8 or int16), added to ``V[c]`` as one SIMD loop.
* A neuron's route is one int64 ``rt[c, n]``: target ``tg = c' << ash | a'`` (bits 0-31),
  synapses of the target row (32-47, the SOPs the spike causes), delay (48-51), has-target
  (bit 52) and is-readout (bit 53) flags, reset mode (54-55). Hops and chip crossings come
  from the cores' mesh positions ``pos[c] = (x, y, chip x, chip y)``, a small table.
* Sending a spike appends ``tg`` to its sending chunk's flat list of the delay slot (a
  sequential write) and adds its SOPs to that slot's count; no per-destination bucket is
  touched. At the start of a tick each chunk counting-sorts the entries of the slot that
  target its cores (the scratch stays in cache), then runs its cores in order: integrate
  (the weight row of the spike PREFETCH_AHEAD entries ahead in the sorted list is
  prefetched, across core boundaries), neuron pass, reset, route.

Integer sums do not depend on the order of a core's entries, so the result is the same for
any number of chunks (threads). One route chunk per thread in a single frame (``prange``
over chunks inside each tick); batches run frames under ``prange``, one chunk each.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from snn.cores._kernels import (
    C_CHIPS,
    C_COLL,
    C_HOPS,
    C_INPUTS,
    C_SPIKES,
    SLOTS,
    _prefetch,
    _renamed,
    close_tick,
    record_tick,
    sum_outputs,
)

TG_MASK = np.int64(0xFFFFFFFF)
F_TARGET = np.int64(1) << np.int64(52)
F_OUT = np.int64(1) << np.int64(53)
PREFETCH_AHEAD = 8


@njit(inline="always")
def _neuron_pass(c, V, npar, vmax, fired):
    """Leak, clamp, floor and threshold test of core c (int32; the floor is never below the
    membrane's minimum, so clamping below is the floor); fired neurons go to fired[c] in
    neuron order; returns their number."""
    N = V.shape[1]
    hi = np.int32(vmax)
    top = np.int32(-1)  # the largest V - threshold: some neuron fires iff it is >= 0
    for n in range(N):
        v = np.int32(V[c, n] + np.int32(npar[c, 0, n]))
        v = np.int32(max(min(v, hi), np.int32(npar[c, 2, n])))
        V[c, n] = v
        top = max(top, np.int32(v - np.int32(npar[c, 1, n])))
    nf = 0
    if top >= 0:
        for n in range(N):
            if V[c, n] >= npar[c, 1, n]:
                fired[c, nf] = n
                nf += 1
    return nf


def pack_routes(tcore: np.ndarray, taxon: np.ndarray, delay: np.ndarray, nsyn: np.ndarray,
                output_index: np.ndarray, reset_mode: np.ndarray, ash: int) -> np.ndarray:
    """The int64 route word of every neuron (see the module docstring)."""
    has = tcore >= 0
    tc = np.where(has, tcore, 0).astype(np.int64)
    ta = np.where(has, taxon, 0).astype(np.int64)
    syn = np.where(has, nsyn[tc, ta], 0).astype(np.int64)
    rt = ((tc << ash) | ta) & 0xFFFFFFFF
    rt |= syn << 32
    rt |= (delay.astype(np.int64) & 15) << 48
    rt |= has.astype(np.int64) << 52
    rt |= (output_index >= 0).astype(np.int64) << 53
    rt |= (reset_mode.astype(np.int64) & 3) << 54
    return np.ascontiguousarray(rt)


@njit(inline="always")
def _sort_slot(p, slot, c0, c1, ash, flat, fn, st, srt):
    """Counting sort of the slot's entries (all chunks' lists) that target cores c0..c1-1:
    afterwards core c's entries are srt[p, st[p, c - c0 - 1]:st[p, c - c0]] (0 for the first)."""
    P = fn.shape[0]
    nc = c1 - c0
    for i in range(nc + 1):
        st[p, i] = 0
    for q in range(P):
        for e in range(fn[q, slot]):
            c = np.int64(flat[q, slot, e]) >> ash
            if c0 <= c < c1:
                st[p, c - c0 + 1] += 1
    for i in range(nc):
        st[p, i + 1] += st[p, i]
    for q in range(P):
        for e in range(fn[q, slot]):
            g = flat[q, slot, e]
            c = np.int64(g) >> ash
            if c0 <= c < c1:
                k = st[p, c - c0]
                srt[p, k] = g
                st[p, c - c0] = k + 1
    # st[p, i] is now the end of core c0 + i's entries


@njit(inline="always")
def _prefetch_entry(p, e, A, amask, ash, srt, mrow):
    """Start loading the weight row of chunk p's sorted entry e."""
    g = np.int64(srt[p, e])
    r = (g >> ash) * A + (g & amask)
    for n in range(0, mrow.shape[1], max(1, 64 // mrow.itemsize)):
        _prefetch(mrow, r, n)


@njit(cache=True)
def fast_chunk_tick(p, t, T, slot, bounds, A, ash, V, seenb, quiet, flat, fn, sopdue, st, srt,
                    mrow, nsyn, npar, rval, zleak, vmax, rt, outidx, pos,
                    fired, nfired, acc, outp, counts, pc):
    """One tick of route chunk p's cores (see the module docstring)."""
    N = V.shape[1]
    amask = np.int64((1 << ash) - 1)
    do_counts = counts.shape[0] > 0
    do_pc = pc.shape[0] > 0
    c0 = bounds[p]
    c1 = bounds[p + 1]
    _sort_slot(p, slot, c0, c1, ash, flat, fn, st, srt)
    # the weight rows are prefetched PREFETCH_AHEAD entries ahead of the one being added
    etot = st[p, c1 - c0 - 1] if c1 > c0 else 0
    for e in range(min(PREFETCH_AHEAD, etot)):
        _prefetch_entry(p, e, A, amask, ash, srt, mrow)
    for c in range(c0, c1):
        b = c - c0
        # integrate
        e0 = st[p, b - 1] if b > 0 else 0
        e1 = st[p, b]
        coll = 0
        sops = 0
        rbase = np.int64(c) * A
        for e in range(e0, e1):
            if e + PREFETCH_AHEAD < etot:
                _prefetch_entry(p, e + PREFETCH_AHEAD, A, amask, ash, srt, mrow)
            a = np.int64(srt[p, e]) & amask
            wi = a >> 6
            bit = np.uint64(1) << np.uint64(a & 63)
            if seenb[c, wi] & bit:
                coll += 1
            seenb[c, wi] |= bit
            r = rbase + a
            if do_pc:
                sops += nsyn[r]
            for n in range(N):
                V[c, n] += mrow[r, n]
        if e1 > e0:
            for i in range(seenb.shape[1]):
                seenb[c, i] = 0
        acc[p, C_COLL] += coll
        if do_pc:
            pc[1, c] += sops
        # a core without input, zero leak, whose last pass fired nothing: a fixed point
        if e1 == e0 and quiet[c] and zleak[c]:
            nfired[c] = 0
            continue
        nf = _neuron_pass(c, V, npar, vmax, fired)
        quiet[c] = nf == 0
        nfired[c] = nf
        if nf == 0:
            continue
        for i in range(nf):
            n = np.int64(fired[c, i])
            m = (rt[c, n] >> 54) & 3
            if m == 0:
                v = np.int64(rval[c, n])
            elif m == 1:
                v = np.int64(V[c, n]) - npar[c, 1, n]
            else:
                v = np.int64(V[c, n])
            V[c, n] = max(v, np.int64(npar[c, 2, n]))
        # route: readouts, counters, append to chunk p's flat list of the due slot
        hops = 0
        chips = 0
        sx = pos[c, 0]
        sy = pos[c, 1]
        scx = pos[c, 2]
        scy = pos[c, 3]
        for i in range(nf):
            n = np.int64(fired[c, i])
            w = rt[c, n]
            if w & F_OUT:
                outp[p, outidx[c, n]] += 1
            if do_counts:
                counts[c, n] += 1
            if w & F_TARGET:
                tg = w & TG_MASK
                tc = tg >> ash
                hops += abs(pos[tc, 0] - sx) + abs(pos[tc, 1] - sy)
                chips += abs(pos[tc, 2] - scx) + abs(pos[tc, 3] - scy)
                due = t + ((w >> 48) & 15)
                if due < T:
                    ds = due & 15
                    k = fn[p, ds]
                    flat[p, ds, k] = tg
                    fn[p, ds] = k + 1
                    sopdue[p, ds] += (w >> 32) & 0xFFFF
        acc[p, C_SPIKES] += nf
        acc[p, C_HOPS] += hops
        acc[p, C_CHIPS] += chips
        if do_pc:
            pc[0, c] += nf
            pc[2, c] += hops


def _fast_frame_py(T, bounds, A, ash, V, mrow, nsyn, npar, rval, zleak, vmax,
                   rt, outidx, pos, cap, in_tick, in_core, in_axon,
                   counters, outputs, counts, pc, pt, record):
    """Run one frame for T ticks from V (zeroed by the caller); return the spike record.

    bounds int64 [P+1]: route chunk p holds cores bounds[p]:bounds[p+1]; cap int64 [P]:
    the most entries chunk p's list of one slot can hold (chunk 0: plus the inputs).
    """
    C = V.shape[0]
    N = V.shape[1]
    P = bounds.shape[0] - 1
    capmax = 1
    total = 0
    for q in range(P):
        capmax = max(capmax, cap[q])
        total += cap[q]
    flat = np.empty((P, SLOTS, capmax), np.int32)
    fn = np.zeros((P, SLOTS), np.int64)
    sopdue = np.zeros((P, SLOTS), np.int64)
    widest = 1
    for q in range(P):
        widest = max(widest, bounds[q + 1] - bounds[q])
    st = np.zeros((P, widest + 1), np.int64)
    srt = np.empty((P, max(total, 1)), np.int32)
    seenb = np.zeros((C, (A + 63) // 64), np.uint64)
    fired = np.empty((C, N), np.int16)
    nfired = np.zeros(C, np.int32)
    quiet = np.zeros(C, np.uint8)
    acc = np.zeros((P, 6), np.int64)
    outp = np.zeros((P, outputs.shape[0]), np.int64)
    reccap = 1024 if record else 0
    rec = np.empty((reccap, 3), np.int32)
    nrec = 0
    ip = 0
    E = in_tick.shape[0]
    for t in range(T):
        slot = t & 15
        # external inputs due at t join chunk 0's list of this slot
        while ip < E and in_tick[ip] == t:
            g = (np.int64(in_core[ip]) << ash) | np.int64(in_axon[ip])
            k = fn[0, slot]
            flat[0, slot, k] = g
            fn[0, slot] = k + 1
            sopdue[0, slot] += nsyn[np.int64(in_core[ip]) * A + np.int64(in_axon[ip])]
            counters[C_INPUTS] += 1
            ip += 1
        for p in prange(P):
            pi = np.int64(p)  # prange may hand out an unsigned index
            fast_chunk_tick(pi, t, T, slot, bounds, A, ash, V, seenb, quiet, flat, fn, sopdue,
                            st, srt, mrow, nsyn, npar, rval, zleak, vmax, rt,
                            outidx, pos, fired, nfired, acc, outp, counts, pc)
        tick_sops = 0
        for q in range(P):
            tick_sops += sopdue[q, slot]
            sopdue[q, slot] = 0
            fn[q, slot] = 0
        close_tick(t, acc, tick_sops, counters, pt)
        if record:
            rec, nrec = record_tick(t, nfired, fired, rec, nrec)
    # SOPs of spikes still in flight at T were never integrated: not counted (as in _kernels)
    sum_outputs(outp, outputs)
    return rec[:nrec].copy()


fast_frame_parallel = njit(cache=True, parallel=True)(_renamed(_fast_frame_py,
                                                                "fast_frame_parallel"))
fast_frame_serial = njit(cache=True)(_renamed(_fast_frame_py, "fast_frame_serial"))


@njit(cache=True, parallel=True)
def fast_run_frames(T, A, ash, v0, mrow, nsyn, npar, rval, zleak, vmax, rt,
                    outidx, pos, cap, in_tick, in_core, in_axon, in_off,
                    counters, outputs, counts, pc, pt, pot, recs, record):
    """B frames in parallel (prange over frames), each from fresh state (membrane v0
    [C, N]), one chunk each."""
    B = counters.shape[0]
    C = v0.shape[0]
    N = v0.shape[1]
    bounds = np.array([0, C], np.int64)
    for b in prange(B):
        V = v0.copy()
        lo = in_off[b]
        hi = in_off[b + 1]
        rec = fast_frame_serial(T, bounds, A, ash, V, mrow, nsyn, npar, rval, zleak,
                                vmax, rt, outidx, pos, cap,
                                in_tick[lo:hi], in_core[lo:hi], in_axon[lo:hi],
                                counters[b], outputs[b], counts[b], pc[b], pt[b], record)
        if pot.shape[0] > 0:
            for c in range(C):
                for n in range(N):
                    pot[b, c, n] = V[c, n]
        if record:
            recs[b] = rec
