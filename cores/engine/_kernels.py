"""numba kernels of the core engine (docs/design.md §3): typed by their arrays; project
imports only the kernels' helpers (``_layout``: packed words and columns, ``_llvm``).

State of one frame: membrane ``V[C, N]`` (int32, or int64 when the wrapper cannot prove that
int32 never overflows), and a ring of 16 delay slots of spike lists, one list per (route
chunk p, destination core c), index k = p * C + c: slot ``ring_slot(t)`` holds the axons of the
spikes due at tick t in ``ev[slot, ev_off[k]:ev_off[k] + evn[slot, k]]`` (one entry per
spike, so k spikes on one axon add k*w and count k - 1 collisions).

Integration: a dense (core, axon) row is one precomputed masked weight row
``mrow[r] = crossbar[c, a] * weight[c, :, axon_type[c, a]]`` (int8 when the weights fit,
else int16), added to V[c] as a contiguous (SIMD) loop and prefetched one core ahead; a
sparse row uses a synapse list; stochastic synapses use the per-synapse path. The neuron
pass (leak, clamp, floor, threshold test) is one 32-bit loop over ``npar[c] = (leak,
threshold, -beta)`` (int32, rows ``_layout.NP_*``); a core without input, with zero leak, whose last
pass fired nothing, is skipped (the pass is then the identity).

A tick runs the cores of each route chunk (``bounds[p]:bounds[p+1]``, one chunk per thread,
``prange`` over chunks in the single-frame kernel): integrate, neuron pass, reset, then
route the core's spikes into the chunk's own lists (no two threads write one list) and count
them per chunk. Integer sums do not depend on the order of a core's list entries (and the
stochastic draw index j of a spike on an axon only numbers identical draws), so results
never depend on the thread count; the spike record is gathered serially in core order.
Batches run frames under ``prange`` instead (one chunk per frame). Hot loops index 2-D
arrays directly: a row view costs an atomic reference count each time in numba.

Random numbers (stochastic modes) come from a counter-based hash (splitmix64 finaliser)
chained over (seed, frame, tick, core, kind, axon, draw, neuron) for synapses and (seed,
frame, tick, core, kind, neuron) for leak and threshold, see ``_step`` and
``snn.cores.engine.reference.key``.
"""

from __future__ import annotations

import types
from collections import namedtuple

import numpy as np
from numba import njit, prange

from snn.cores.engine._layout import (
    NP_FLOOR,
    NP_LEAK,
    NP_THRESHOLD,
    SLOTS,
    ax_row,
    ax_type,
    ring_slot,
    row_synapses,
)
from snn.cores.engine._llvm import prefetch

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MUL1 = np.uint64(0xBF58476D1CE4E5B9)
MUL2 = np.uint64(0x94D049BB133111EB)
S30, S27, S31 = np.uint64(30), np.uint64(27), np.uint64(31)
S33, S56 = np.uint64(33), np.uint64(56)
KIND_SYNAPSE, KIND_LEAK, KIND_THRESHOLD = 1, 2, 3
# per-neuron route record route[c, n, :] (one cache line per spike in the serial route phase)
R_CORE, R_AXON, R_DELAY, R_HOPS, R_CHIPS, R_OUT = 0, 1, 2, 3, 4, 5
ROUTE_FIELDS = 8
# per-(core, axon) record axinfo[c, a]: the axon word of _layout
# counters row layout
C_SPIKES, C_SOPS, C_HOPS, C_CHIPS, C_INPUTS, C_COLL = 0, 1, 2, 3, 4, 5

# the program as the general kernels read it (built by ``api``; numba types it as a tuple):
# axinfo [C, A] axon words; mrow dense masked weight rows (or [0, N]); wt [C, N, 4]
# weights; cb [C, A, N] crossbar; sptr/sidx sparse rows; npar [C, 3, N] (leak, threshold,
# -beta); rval/rmode [C, N] reset value and mode; zleak [C] cores without leak; vmin/vmax
# the membrane's clamp; ss [C, N, 4] stochastic synapses, sl [C, N] stochastic leak, tmask
# [C, N] threshold masks (each [0, ...] when absent)
GeneralProgram = namedtuple("GeneralProgram", "axinfo mrow wt cb sptr sidx npar rval rmode "
                                              "zleak vmin vmax ss sl tmask")


@njit(inline="always")
def _step(h, x):
    """One link of the counter-based hash: splitmix64 finaliser of (h ^ x) + golden."""
    z = (np.uint64(h) ^ np.uint64(x)) + GOLDEN
    z = (z ^ (z >> S30)) * MUL1
    z = (z ^ (z >> S27)) * MUL2
    return z ^ (z >> S31)


@njit(inline="always")
def _prefetch_rows(c, slot, P, C, ev, ev_off, evn, axinfo, mrow):
    """Start loading the masked weight rows of the spikes due on core c (the integration of
    core c - 1 and its neuron pass hide the memory latency)."""
    N = mrow.shape[1]
    step = max(1, 64 // mrow.itemsize)
    for q in range(P):
        base = q * C + c
        e0 = ev_off[base]
        for e in range(evn[slot, base]):
            r = ax_row(axinfo[c, np.int64(ev[slot, e0 + e])])
            if r >= 0:
                for n in range(0, N, step):
                    prefetch(mrow, r, n)


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


@njit(inline="always")
def _integrate(c, t, slot, P, C, V, seen, seenb, ev, ev_off, evn, axinfo, mrow, wt, cb,
               sptr, sidx, ss, hframe):
    """Add the spikes due on core c in this ring slot (the lists of all P route chunks);
    return (sops, collisions, number of list entries). seen int32 [C, A]: spikes seen per
    axon (stochastic synapses: the draw index); else seenb uint64 [C, A / 64]: axons seen.
    Hot loops index the 2-D arrays directly: a row view would cost an atomic reference
    count per spike."""
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
            info = axinfo[c, a]
            sops += row_synapses(info)
            if has_ss:
                j = seen[c, a]
                seen[c, a] = j + 1
                if j > 0:
                    coll += 1
                ty = ax_type(info)
                he = _step(_step(hc, a), j)
                for n in range(N):
                    if cb[c, a, n]:
                        wn = wt[c, ty, n]
                        if ss[c, n, ty]:
                            r = _step(he, n) >> S56
                            if wn > 0 and np.int64(r) < wn:
                                V[c, n] += 1
                            elif wn < 0 and np.int64(r) < -wn:
                                V[c, n] -= 1
                        else:
                            V[c, n] += wn
            else:
                wi = a >> 6
                bit = np.uint64(1) << np.uint64(a & 63)
                if seenb[c, wi] & bit:
                    coll += 1
                seenb[c, wi] |= bit
                r = ax_row(info)
                if r >= 0:
                    # contiguous masked row: vectorises
                    for n in range(N):
                        V[c, n] += mrow[r, n]
                else:
                    ty = ax_type(info)
                    b = c * A + a
                    for s in range(sptr[b], sptr[b + 1]):
                        n = np.int64(sidx[s])
                        V[c, n] += wt[c, ty, n]
    if total:
        for q in range(P):
            base = q * C + c
            if has_ss:
                e0 = ev_off[base]
                for e in range(evn[slot, base]):
                    seen[c, ev[slot, e0 + e]] = 0
            evn[slot, base] = 0
        for i in range(seenb.shape[1]):
            seenb[c, i] = 0
    return sops, coll, total


@njit(inline="always")
def reset_value(mode, reset_to, v, threshold, floor):
    """The membrane of a neuron that fired with membrane v: reset mode 0 sets reset_to, 1
    subtracts the threshold, 2 keeps v; never below the floor (int64)."""
    if mode == 0:
        r = np.int64(reset_to)
    elif mode == 1:
        r = np.int64(v) - threshold
    else:
        r = np.int64(v)
    return max(r, np.int64(floor))


@njit(inline="always")
def _neuron_fast(c, p, V, npar, vmin, vmax, fm, fired):
    """Leak, clamp, floor and threshold test of core c in one loop, 32-bit arithmetic (V is
    int32 and the wrapper proved V + input + leak fits); the fired neurons go to fired[c]
    in neuron order (fm[p]: scratch); returns their number."""
    N = V.shape[1]
    lo = np.int32(vmin)
    hi = np.int32(vmax)
    anyf = np.uint8(0)
    for n in range(N):
        v = np.int32(V[c, n] + np.int32(npar[c, NP_LEAK, n]))
        v = np.int32(min(max(v, lo), hi))
        v = np.int32(max(v, np.int32(npar[c, NP_FLOOR, n])))
        V[c, n] = v
        f = np.uint8(v >= np.int32(npar[c, NP_THRESHOLD, n]))
        fm[p, n] = f
        anyf |= f
    nf = 0
    if anyf:
        for n in range(N):
            if fm[p, n]:
                fired[c, nf] = n
                nf += 1
    return nf


@njit(inline="always")
def _neuron_general(c, t, V, npar, vmin, vmax, sl, tmask, hframe, fired):
    """Leak (stochastic where sl), clamp, floor, threshold test (with the random threshold
    mask where tmask) of core c in 64-bit arithmetic; returns the number fired."""
    N = V.shape[1]
    has_sl = sl.shape[0] > 0
    hl = _step(_step(_step(hframe, t), c), KIND_LEAK)
    for n in range(N):
        ln = np.int64(npar[c, NP_LEAK, n])
        if has_sl and sl[c, n]:
            r = np.int64(_step(hl, n) >> S56)
            if ln > 0:
                ln = 1 if r < ln else 0
            elif ln < 0:
                ln = -1 if r < -ln else 0
        v = np.int64(V[c, n]) + ln
        v = min(max(v, vmin), vmax)
        V[c, n] = max(v, np.int64(npar[c, NP_FLOOR, n]))
    nf = 0
    if tmask.shape[0] > 0:
        ht = _step(_step(_step(hframe, t), c), KIND_THRESHOLD)
        for n in range(N):
            eff = np.int64(npar[c, NP_THRESHOLD, n])
            m = np.int64(tmask[c, n])
            if m != 0:
                eff += np.int64(_step(ht, n) >> S33) & m
            if V[c, n] >= eff:
                fired[c, nf] = n
                nf += 1
    else:
        for n in range(N):
            if V[c, n] >= npar[c, NP_THRESHOLD, n]:
                fired[c, nf] = n
                nf += 1
    return nf


@njit(cache=True)
def _chunk_tick(p, t, T, slot, bounds, V, seen, seenb, quiet, ev, ev_off, evn, prog,
                hframe, fast, route, fired, nfired, fm, acc, outp, counts, pc):
    """One tick of the cores of route chunk p: per core, integrate, leak, fire, reset,
    floor, then send its spikes into the ring lists of chunk p (no other thread writes
    them) and count them into acc[p], outp[p], counts, pc. One call per chunk and tick,
    the per-core steps inlined (no per-core call or reference counting). prog: a
    ``GeneralProgram``."""
    axinfo, mrow, wt, cb = prog.axinfo, prog.mrow, prog.wt, prog.cb
    sptr, sidx, npar, rval, rmode = prog.sptr, prog.sidx, prog.npar, prog.rval, prog.rmode
    zleak, vmin, vmax = prog.zleak, prog.vmin, prog.vmax
    ss, sl, tmask = prog.ss, prog.sl, prog.tmask
    P = bounds.shape[0] - 1
    C = V.shape[0]
    do_counts = counts.shape[0] > 0
    do_pc = pc.shape[0] > 0
    c0 = bounds[p]
    c1 = bounds[p + 1]
    pre = ss.shape[0] == 0 and mrow.shape[0] > 0
    if pre and c0 < c1:
        _prefetch_rows(c0, slot, P, C, ev, ev_off, evn, axinfo, mrow)
    for c in range(c0, c1):
        if pre and c + 1 < c1:
            _prefetch_rows(c + 1, slot, P, C, ev, ev_off, evn, axinfo, mrow)
        sops, coll, n_in = _integrate(c, t, slot, P, C, V, seen, seenb, ev, ev_off, evn,
                                      axinfo, mrow, wt, cb, sptr, sidx, ss, hframe)
        # a core without input, zero leak and no random threshold, whose last pass fired no
        # neuron, is at a fixed point of the neuron pass (clamp and floor are idempotent)
        if n_in == 0 and quiet[c] and zleak[c]:
            nfired[c] = 0
            continue
        if fast:
            nf = _neuron_fast(c, p, V, npar, vmin, vmax, fm, fired)
        else:
            nf = _neuron_general(c, t, V, npar, vmin, vmax, sl, tmask, hframe, fired)
        quiet[c] = nf == 0
        for i in range(nf):
            n = np.int64(fired[c, i])
            V[c, n] = reset_value(rmode[c, n], rval[c, n], V[c, n], npar[c, NP_THRESHOLD, n],
                                  npar[c, NP_FLOOR, n])
        nfired[c] = nf
        # route: counters, readouts, delivery into chunk p's ring lists
        hops = 0
        chips = 0
        for i in range(nf):
            n = np.int64(fired[c, i])
            o = route[c, n, R_OUT]
            if o >= 0:
                outp[p, o] += 1
            if do_counts:
                counts[c, n] += 1
            tc = np.int64(route[c, n, R_CORE])
            if tc >= 0:
                hops += route[c, n, R_HOPS]
                chips += route[c, n, R_CHIPS]
                due = t + route[c, n, R_DELAY]
                if due < T:
                    ds = ring_slot(due)
                    k = p * C + tc
                    ev[ds, ev_off[k] + evn[ds, k]] = route[c, n, R_AXON]
                    evn[ds, k] += 1
        acc[p, C_SPIKES] += nf
        acc[p, C_SOPS] += sops
        acc[p, C_HOPS] += hops
        acc[p, C_CHIPS] += chips
        acc[p, C_COLL] += coll
        if do_pc:
            pc[0, c] += nf
            pc[1, c] += sops
            pc[2, c] += hops


@njit(inline="always")
def close_tick(t, acc, extra_sops, counters, pt):
    """Add the route chunks' counts of tick t (acc[p], zeroed after) and ``extra_sops`` to a
    frame's counters, and to its per-tick rows pt when they are kept."""
    spikes = 0
    sops = extra_sops
    for q in range(acc.shape[0]):
        spikes += acc[q, C_SPIKES]
        sops += acc[q, C_SOPS]
        counters[C_HOPS] += acc[q, C_HOPS]
        counters[C_CHIPS] += acc[q, C_CHIPS]
        counters[C_COLL] += acc[q, C_COLL]
        for i in range(acc.shape[1]):
            acc[q, i] = 0
    counters[C_SPIKES] += spikes
    counters[C_SOPS] += sops
    if pt.shape[0] > 0:
        pt[0, t] = spikes
        pt[1, t] = sops


@njit(inline="always")
def write_tick(t, c0, c1, nfired, fired, rec, n):
    """Write tick t's spikes of cores c0..c1-1 (core order, then neuron order) into the
    record rec [R, 3] from row n on, as far as it has rows; returns n plus all of them
    (written or not: more than R says the record was too short)."""
    cap = rec.shape[0]
    for c in range(c0, c1):
        for i in range(nfired[c]):
            if n < cap:
                rec[n, 0] = t
                rec[n, 1] = c
                rec[n, 2] = fired[c, i]
            n += 1
    return n


@njit(inline="always")
def record_tick(t, nfired, fired, rec, nrec):
    """Append tick t's spikes (core order, then neuron order) to the record rec[:nrec],
    growing it (to twice its rows, or more) when they do not fit; returns (rec, nrec)."""
    n = write_tick(t, 0, nfired.shape[0], nfired, fired, rec, nrec)
    if n > rec.shape[0]:
        bigger = np.empty((max(2 * rec.shape[0], n), 3), np.int32)
        bigger[:nrec] = rec[:nrec]
        rec = bigger
        write_tick(t, 0, nfired.shape[0], nfired, fired, rec, nrec)
    return rec, n


@njit(inline="always")
def sum_outputs(outp, outputs):
    """Readout counts of all route chunks into the frame's outputs."""
    for q in range(outp.shape[0]):
        for o in range(outputs.shape[0]):
            outputs[o] += outp[q, o]


def _frame_py(T, bounds, V, seen, seenb, ev, ev_off, evn, prog, hframe, fast, route,
              in_tick, in_core, in_axon,
              counters, outputs, counts, pc, pt, record, pr_c, pr_n, trace):
    """Run one frame of ``prog`` (a ``GeneralProgram``) for T ticks from the given state
    (V: the initial membrane, the rest zeroed); return the spike record.

    bounds int64 [P+1]: the cores of route chunk p are bounds[p]:bounds[p+1] (one chunk per
    thread; ring lists ev_off/evn are per (chunk, destination core), index p * C + c).
    counters int64 [6]; outputs int64 [O]; counts int32 [C, N] or [0, 0]; pc int64 [3, C]
    or [0, 0] (spikes, sops, hops per core); pt int64 [2, T] or [0, 0] (spikes, sops per
    tick); record: 1 to return the full (tick, core, neuron) record, else 0; trace int32
    [T, K]: the membrane of neuron (pr_c[k], pr_n[k]) after every tick (K = 0: none).
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
    cap = 1024 if record else 0
    rec = np.empty((cap, 3), np.int32)
    nrec = 0
    ip = 0
    E = in_tick.shape[0]
    for t in range(T):
        slot = ring_slot(t)
        # external inputs due at t join chunk 0's ring list before integration
        while ip < E and in_tick[ip] == t:
            c = in_core[ip]
            ev[slot, ev_off[c] + evn[slot, c]] = in_axon[ip]
            evn[slot, c] += 1
            counters[C_INPUTS] += 1
            ip += 1
        for p in prange(P):
            pi = np.int64(p)  # prange may hand out an unsigned index
            _chunk_tick(pi, t, T, slot, bounds, V, seen, seenb, quiet, ev, ev_off, evn, prog,
                        hframe, fast, route, fired, nfired, fm, acc, outp, counts, pc)
        close_tick(t, acc, 0, counters, pt)
        for k in range(pr_c.shape[0]):
            trace[t, k] = V[pr_c[k], pr_n[k]]
        if record:
            rec, nrec = record_tick(t, nfired, fired, rec, nrec)
    sum_outputs(outp, outputs)
    return rec[:nrec].copy()


def _renamed(func, name, **replace):
    """A copy of ``func`` under another qualified name: numba's on-disk cache is keyed by
    the name, so a parallel and a serial build of one function must not share it. Keyword
    arguments replace globals the copy sees (e.g. an inlined build of a function it calls)."""
    glob = dict(func.__globals__, **replace) if replace else func.__globals__
    copy = types.FunctionType(func.__code__, glob, name, func.__defaults__,
                              func.__closure__)
    copy.__qualname__ = name
    return copy


frame_parallel = njit(cache=True, parallel=True)(_renamed(_frame_py, "frame_parallel"))
frame_serial = njit(cache=True)(_renamed(_frame_py, "frame_serial"))


@njit(cache=True, parallel=True)
def run_frames(T, v0, A, ev_off, prog, seed_hash, fast, route,
               in_tick, in_core, in_axon, in_off,
               counters, outputs, counts, pc, pt, pot, recs, record, frame0, pr_c, pr_n,
               trace):
    """B frames of ``prog`` (a ``GeneralProgram``) in parallel (prange over frames), each
    with fresh state and serial cores (one route chunk), from the membrane v0 [C, N]; frame
    b's PRNG key is that of frame frame0 + b of the run (so results do not depend on how
    frames are batched); trace [B, T, K]: the probes (see _frame_py)."""
    C = prog.axinfo.shape[0]
    N = prog.npar.shape[2]
    ss = prog.ss
    B = counters.shape[0]
    bounds = np.array([0, C], np.int64)
    for b in prange(B):
        V = v0.copy()
        seen = np.zeros((C, A if ss.shape[0] > 0 else 0), np.int32)
        seenb = np.zeros((C, (A + 63) // 64), np.uint64)
        ev = np.empty((SLOTS, ev_off[C]), np.int16)
        evn = np.zeros((SLOTS, C), np.int32)
        hframe = _step(seed_hash, frame0 + b)
        lo = in_off[b]
        hi = in_off[b + 1]
        rec = frame_serial(T, bounds, V, seen, seenb, ev, ev_off, evn, prog, hframe, fast,
                           route,
                           in_tick[lo:hi], in_core[lo:hi], in_axon[lo:hi],
                           counters[b], outputs[b], counts[b], pc[b], pt[b], record,
                           pr_c, pr_n, trace[b])
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
