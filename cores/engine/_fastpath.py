"""The engine's fast path (DESIGN §3): deterministic programs whose membrane fits int32.

Same tick semantics and counters as ``_kernels`` (no stochastic synapse, leak or threshold;
``V`` int32), laid out so that a spike costs few cache misses:

* Every (core, axon) row is a masked weight row ``mrow[c * A + a] = crossbar[c, a] *
  weight[c, :, axon_type[c, a]]`` (int8 or int16), added to ``V[c]`` as one SIMD loop.
* A neuron's route is one int64 ``rt[c, n]`` (the route word of ``_layout``): target
  ``tg = c' << ash | a'``, the SOPs the spike causes, delay, flags, reset mode and, where
  the spike stays on its chip within 127 hops (every route inside one 64 x 64 chip), its
  mesh hops; otherwise hops and chip crossings come from the cores' mesh positions
  ``pos[c] = (x, y, chip x, chip y)`` (one word per spike: a separate hop word would
  double the bytes a spike reads from memory).
* Sending a spike appends ``tg`` to its sending chunk's flat list of the delay slot and
  the target core's route chunk (a sequential write; one list a slot with one chunk) and
  adds its SOPs to that slot's count; no per-core bucket is touched. At the start of a tick
  each chunk frees its lists of the last slot, then counting-sorts the entries of every
  chunk's list of this slot for its cores (a chunk reads only the entries it needs, so
  the sort's work divides among the threads; the scratch stays in
  cache; on the way it marks the axons seen, counting collisions, and prefetches the weight
  rows of its first PREFETCH_AHEAD entries), then runs its cores in order: the rows beyond a
  core's last four are added four at a time (one load and store of V per four rows), the
  last four (the zero row ``mrow[C * A]`` pads them) join the neuron pass, one 32-bit loop
  of integrate, leak, clamp, floor and threshold test that leaves a byte flag per neuron;
  the fired list comes from the flags 64 at a time (a vector compare to a bit mask, then
  cttz); then reset and route (the rows PREFETCH_AHEAD entries ahead are prefetched across
  core boundaries).
* Narrow cores: where a core's leaks and reset values fit int16 and the cores have a
  multiple of 16 neurons (``wb``: per core the extreme row entry and leak, and whether it
  may be narrow; ``npar16``: its parameters with thresholds and floors clipped to int16),
  the core keeps its membrane in ``V16`` and runs the row adds and the pass in int16 (16
  lanes a vector; the pass is explicit vector code, ``_narrow.narrow_pass``, which leaves
  a fire bit per neuron in ``fmask``) while its membrane range (``vb``) plus the tick's
  extreme input stays inside -32768..NARROW_MAX (``_fits_int16``); otherwise it copies its
  membrane to ``V`` and stays int32 for the frame. Sums that never leave that range are
  the same in int16 and int32, and inside it a clipped threshold (above NARROW_MAX) never
  fires and a clipped floor (below -32768) never binds, so the result does not change.

Integer sums do not depend on the order of a core's entries, so the result is the same for
any number of chunks (threads). Counts are kept per chunk and summed at the end of a frame
(or per tick, when asked). A single frame on several threads runs in one parallel region
(``fast_frame_pool``): threads claim route chunks tick by tick through atomics, the thread
finishing a tick's last chunk closes it and opens the next, and a chunk nobody claims (its
thread is not running) is run by a waiting thread, so no thread can stall the frame for
good; rows that threads write are padded to whole cache lines; with a full spike record
the thread closing a tick sets where each chunk's spikes go in the one record (tick, core,
neuron order), and each chunk writes its spikes there before it runs the next tick (no
per-chunk records to merge after the frame). With membrane
probes, ``prange`` over chunks inside each tick (``fast_frame_parallel``); batches run
frames under ``prange``, one chunk each.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

from snn.cores.engine._kernels import (
    C_CHIPS,
    C_COLL,
    C_HOPS,
    C_INPUTS,
    C_SOPS,
    C_SPIKES,
    _renamed,
    record_tick,
    reset_value,
    sum_outputs,
    write_tick,
)
from snn.cores.engine._layout import (
    F_OUT,
    F_TARGET,
    INLINE,
    INLINE_WEIGHT_SHIFT,
    NEAR_HOPS_MAX,
    NP_FLOOR,
    NP_LEAK,
    NP_THRESHOLD,
    PACKED,
    ROW_ENTRIES_SHIFT,
    ROW_INDEX_SHIFT,
    RT_DELAY_SHIFT,
    RT_HOPS_SHIFT,
    RT_MODE_SHIFT,
    RT_SYN_SHIFT,
    SLOT_MASK,
    SLOTS,
    VB_HI,
    VB_LO,
    VB_WIDE,
    WB_FLOOR_ROW,
    WB_LEAK_MAX,
    WB_LEAK_MIN,
    WB_LEAK_ROW,
    WB_NARROW,
    WB_ROW_MAX,
    WB_ROW_MIN,
    WB_THRESHOLD_ROW,
    inline_neuron,
    inline_weight,
    ring_slot,
    row_entries,
    row_index,
    row_synapses,
    rt_delay,
    rt_mode,
    rt_near_hops,
    rt_synapses,
    rt_target,
)
from snn.cores.engine._llvm import cttz, nonzero_mask64, prefetch, prefetch_l2
from snn.cores.engine._narrow import COMPRESS, FIRED_PAD, MAX_ROWS, narrow_pass
from snn.cores.engine._sync import atomic_add, atomic_load, atomic_store, cpu_relax, yield_cpu

# the program's arrays the fast kernels read (nsyn: the row words, Prepared.rowinfo; wb:
# Prepared.wbound, empty where no core may be narrow)
FastProgram = namedtuple("FastProgram", "mrow nsyn npar rval zleak vmax rt outidx pos wb npar16 "
                                        "cmode")
# (cmode: int8 [C], the reset mode every neuron of the core has, -1 where they differ)
# a frame's scratch (_frame_state)
FrameState = namedtuple("FrameState", "flat fn sopdue st srt seenb fired nfired flag8 fmask "
                                      "quiet acc outp V16 vb dest")
NARROW_MAX = 32766  # a narrow membrane stays <= this: an int16 threshold of 32767 never fires
PREFETCH_AHEAD = 16
# a core's neuron pass prefetches the rows of the core CORE_AHEAD ahead where the program
# has at least FAR_NEURONS neurons (1,024 cores of 256: 2 MB of int16 membranes and
# parameters, twice L2); smaller programs stay in the caches and gain nothing
CORE_AHEAD = 4
FAR_NEURONS = 1 << 18
PAD = 8
# a packed row (its row word: _layout) holds at most SPARSE_BYTES // 2 bytes of nonzero
# entries, neuron indices then weights (2 * half entries), several slots to a table row
SPARSE_BYTES = 64


@njit(inline="always")
def _append_set_bits(c, nf, base, x, fired):
    """Append base + the index of every set bit of the uint64 x (cttz) to fired[c] from
    position nf on, in order; returns the new count."""
    while x:
        fired[c, nf] = base + np.int64(cttz(x))
        nf += 1
        x &= x - np.uint64(1)
    return nf


@njit(inline="always")
def _fired_list(c, p, top, flag8, fired, N):
    """The neurons of core c whose flag byte is set (top >= 0: some is) into fired[c], in
    neuron order; returns their number. The flags of 64 neurons become one bit mask (a
    vector compare), its set bits are found with cttz (the flag row is padded by >= 64
    zero bytes, so the last mask may read past N)."""
    nf = 0
    if top >= 0:
        for g in range(0, N, 64):
            nf = _append_set_bits(c, nf, g, nonzero_mask64(flag8, p, g), fired)
    return nf


@njit(inline="always")
def _neuron_pass(c, p, V, npar, vmax, mrow, r0, r1, r2, r3, flag8, fired):
    """Integrate rows r0..r3 (the zero row pads), leak, clamp, floor and threshold test of
    core c in one 32-bit loop (the floor is never below the membrane's minimum, so clamping
    below is the floor); fired neurons go to fired[c]; returns their number."""
    N = V.shape[1]
    hi = np.int32(vmax)
    top = np.int32(-1)  # the largest V - threshold: some neuron fires iff it is >= 0
    for n in range(N):
        v = np.int32(V[c, n] + np.int32(npar[c, NP_LEAK, n]) + np.int32(mrow[r0, n])
                     + np.int32(mrow[r1, n]) + np.int32(mrow[r2, n]) + np.int32(mrow[r3, n]))
        v = np.int32(max(min(v, hi), np.int32(npar[c, NP_FLOOR, n])))
        V[c, n] = v
        d = np.int32(v - np.int32(npar[c, NP_THRESHOLD, n]))
        flag8[p, n] = np.uint8(d >= 0)
        top = max(top, d)
    return _fired_list(c, p, top, flag8, fired, N)


@njit(inline="always")
def _fired_from_masks(c, p, anyf, fmask, fired, N):
    """The neurons of core c whose bit is set in fmask[p] (anyf: some is) into fired[c], in
    neuron order; returns their number."""
    nf = 0
    if anyf:
        for g in range((N + 63) // 64):
            nf = _append_set_bits(c, nf, g * 64, fmask[p, g], fired)
    return nf


@njit(inline="always")
def _add_rows4(c, V, mrow, r0, r1, r2, r3):
    """V[c] += rows r0..r3 of mrow (one load and store of V for four rows); V int32, or
    int16 on a narrow core (the sum is then known to fit)."""
    for n in range(V.shape[1]):
        V[c, n] = V[c, n] + (mrow[r0, n] + mrow[r1, n] + mrow[r2, n] + mrow[r3, n])


@njit(inline="always")
def _reset_fired(c, nf, fired, cmode, rt, rval, thr, trow, flo, frow, V):
    """Reset the nf fired neurons of core c, never below the floor (its thresholds
    thr[trow], floors flo[frow]); returns the lowest and highest membrane set. A core whose
    neurons share one reset mode (cmode >= 0) reads neither their route words nor (unless
    the mode is 0) their reset values: each is a cache line of its own per spike."""
    lo = np.int64(2 ** 62)
    hi = -lo
    for i in range(nf):
        n = fired[c, i]  # unsigned: no negative-index wrap code
        mode = cmode if cmode >= 0 else rt_mode(rt[c, n])
        v = reset_value(mode, rval[c, n] if mode == 0 else 0, V[c, n], thr[trow, n],
                        flo[frow, n])
        V[c, n] = v
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi


@njit(inline="always")
def _route_core(p, c, t, ash, nf, fired, rt, outidx, outp, counts, pos, flat, fn, dest,
                sopdue, acc, pc, rec, rn):
    """Send the nf spikes of core c: readouts, counters, and each spike appended to chunk
    p's list of its due slot for the chunk of its target core (dest); with a record (rn >=
    0), each spike also goes to rec[rn], as far as rec has rows. Returns rn plus the
    spikes (rn < 0: unchanged)."""
    hops = 0
    chips = 0
    sx = pos[c, 0]
    sy = pos[c, 1]
    scx = pos[c, 2]
    scy = pos[c, 3]
    cap = rec.shape[0]
    one = fn.shape[1] == SLOTS + PAD  # one chunk: one list a slot
    for i in range(nf):
        n = fired[c, i]  # unsigned: no negative-index wrap code
        if rn >= 0:
            if rn < cap:
                rec[rn, 0] = t
                rec[rn, 1] = c
                rec[rn, 2] = n
            rn += 1
        w = rt[c, n]
        if w & F_OUT:
            outp[p, outidx[c, n]] += 1
        if counts.shape[0] > 0:
            counts[c, n] += 1
        if w & F_TARGET:
            tg = rt_target(w)
            tc = tg >> ash
            if w >= 0:  # on its chip, <= 127 hops: in the word
                hops += rt_near_hops(w)
            else:
                hops += abs(pos[tc, 0] - sx) + abs(pos[tc, 1] - sy)
                chips += abs(pos[tc, 2] - scx) + abs(pos[tc, 3] - scy)
            # a spike due at T or later lands in a slot no tick before T reads (its
            # delay is < 16): neither integrated nor counted, like a dropped one
            ds = ring_slot(t + rt_delay(w))
            sopdue[p, ds] += rt_synapses(w)
            if not one:
                ds += np.int64(dest[tc]) * SLOTS
            k = fn[p, ds]
            flat[p, ds, k] = tg
            fn[p, ds] = k + 1
    acc[p, C_SPIKES] += nf
    acc[p, C_HOPS] += hops
    acc[p, C_CHIPS] += chips
    if pc.shape[0] > 0:
        pc[0, c] += nf
        pc[2, c] += hops
    return rn


@njit(inline="always")
def _fits_int16(c, ne, vb, wb):
    """Whether narrow core c stays inside -32768..NARROW_MAX this tick: its membrane range
    (vb[c, 1:3]) plus ne rows and the leak at their extremes (wb[c]: the largest and
    smallest row entry and leak of the core, each counted at least 0 away from zero)."""
    return (vb[c, VB_HI] + ne * wb[c, WB_ROW_MAX] + wb[c, WB_LEAK_MAX] <= NARROW_MAX
            and vb[c, VB_LO] + ne * wb[c, WB_ROW_MIN] + wb[c, WB_LEAK_MIN] >= -32768)


@njit(inline="always")
def _narrow_back(V, V16, vb):
    """The int32 membrane of the frame: narrow cores copy theirs back."""
    if V16.shape[0] > 0:
        for c in range(V.shape[0]):
            if vb[c, VB_WIDE] == 0:
                for n in range(V.shape[1]):
                    V[c, n] = V16[c, n]


def pack_routes(tcore: np.ndarray, taxon: np.ndarray, delay: np.ndarray, nsyn: np.ndarray,
                output_index: np.ndarray, reset_mode: np.ndarray, hops: np.ndarray,
                chips: np.ndarray, ash: int) -> np.ndarray:
    """The int64 route word of every neuron (see the module docstring)."""
    has = tcore >= 0
    near = has & (chips == 0) & (hops <= NEAR_HOPS_MAX)
    tc = np.where(has, tcore, 0).astype(np.int64)
    ta = np.where(has, taxon, 0).astype(np.int64)
    syn = np.where(has, nsyn[tc, ta], 0).astype(np.int64)
    rt = ((tc << ash) | ta) & 0xFFFFFFFF
    rt |= syn << RT_SYN_SHIFT
    rt |= (delay.astype(np.int64) & SLOT_MASK) << RT_DELAY_SHIFT
    rt |= np.where(has, F_TARGET, 0)
    rt |= np.where(output_index >= 0, F_OUT, 0)
    rt |= (reset_mode.astype(np.int64) & 3) << RT_MODE_SHIFT
    rt |= np.where(near, hops, 0).astype(np.int64) << RT_HOPS_SHIFT
    rt[has & ~near] |= np.int64(-(2 ** 63))  # bit 63: hops from the position table
    return np.ascontiguousarray(rt)


def sparse_half(mrow: np.ndarray) -> int:
    """Entries of a packed row's index (and weight) list: 0 where rows are too short."""
    half = SPARSE_BYTES // 2 // mrow.itemsize
    return half if 2 * half <= mrow.shape[1] else 0


@njit(cache=True)
def _classify_rows(mrow, nrows, half, nsyn, rowinfo):
    """rowinfo of every row r < nrows without its index bits; returns (dense rows, packed
    rows). half = 0: every row dense."""
    nd = 0
    npk = 0
    for r in range(nrows):
        k = 0
        for n in range(mrow.shape[1]):
            if mrow[r, n] != 0:
                k += 1
                if k > half:
                    break
        info = np.int64(nsyn[r])
        if half == 0 or k > half:
            nd += 1
        elif k == 1:
            info |= PACKED | INLINE
        else:
            info |= PACKED | (np.int64(k) << ROW_ENTRIES_SHIFT)
            npk += 1
        rowinfo[r] = info
    return nd, npk


@njit(cache=True)
def _fill_rows(mrow, nrows, half, rowinfo, frow, nd):
    """Copy dense rows to frow[0:nd], packed rows to the slots after them (slot g: table
    row g // per, entries from (g % per) * 2 * half), inline rows into rowinfo; set the
    index bits (a packed row's: its slot g)."""
    N = mrow.shape[1]
    per = N // (2 * half) if half else 1
    d = 0
    g = nd * per
    for r in range(nrows):
        info = rowinfo[r]
        if info & PACKED == 0:
            for n in range(N):
                frow[d, n] = mrow[r, n]
            rowinfo[r] = info | (np.int64(d) << ROW_INDEX_SHIFT)
            d += 1
        elif info & INLINE:
            for n in range(N):
                if mrow[r, n] != 0:
                    rowinfo[r] = (info | (np.int64(n) << ROW_INDEX_SHIFT)
                                  | (np.int64(mrow[r, n]) << INLINE_WEIGHT_SHIFT))
                    break
        else:
            row = g // per
            off = (g % per) * 2 * half
            j = 0
            for n in range(N):
                if mrow[r, n] != 0:
                    frow[row, off + j] = n
                    frow[row, off + half + j] = mrow[r, n]
                    j += 1
            rowinfo[r] = info | (np.int64(g) << ROW_INDEX_SHIFT)
            g += 1


def pack_rows(mrow: np.ndarray, nrows: int, nsyn: np.ndarray, sparse: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """The fast path's row table and rowinfo (see PACKED) from dense rows mrow[:nrows]:
    (frow: dense rows, then the packed rows' slots, then a zero row; rowinfo int64)."""
    half = sparse_half(mrow) if sparse else 0
    rowinfo = np.empty(nrows, np.int64)
    nd, npk = _classify_rows(mrow, nrows, half, np.ascontiguousarray(nsyn, np.int64),
                             rowinfo)
    if nd == nrows and len(mrow) == nrows + 1:  # every row dense: the table as it is
        rowinfo |= np.arange(nrows, dtype=np.int64) << ROW_INDEX_SHIFT
        return mrow, rowinfo
    per = mrow.shape[1] // (2 * half) if half else 1
    rows = nd + -(-npk // per) + 1
    if nd < nrows and rows == nrows + 1:  # nrows + 1 rows: "nothing packed" (_identity)
        rows += 1
    frow = np.zeros((rows, mrow.shape[1]), mrow.dtype)
    _fill_rows(mrow, nrows, half, rowinfo, frow, nd)
    return frow, rowinfo


@njit(inline="always")
def _identity(mrow, rowinfo):
    """True when no row is packed or inline: the table holds row r at index r (it then has
    exactly one row per rowinfo entry plus the zero row; pack_rows pads otherwise), so the
    kernels skip the rowinfo lookups."""
    return mrow.shape[0] == rowinfo.shape[0] + 1


@njit(cache=True)
def unpack_rows(frow, rowinfo, half, out):
    """Dense rows out[:len(rowinfo)] from the fast path's table (the general kernels read
    dense rows)."""
    for r in range(rowinfo.shape[0]):
        info = rowinfo[r]
        for n in range(frow.shape[1]):
            out[r, n] = 0
        if info & PACKED == 0:
            d = row_index(info)
            for n in range(frow.shape[1]):
                out[r, n] = frow[d, n]
        else:
            _scatter_row(r, out, frow, info, half)


@njit(inline="always")
def _scatter_row(c, V, mrow, info, half):
    """V[c] += the packed or inline row described by info."""
    if info & INLINE:
        V[c, inline_neuron(info)] += inline_weight(info)
        return
    mask = (np.int64(1) << (mrow.itemsize * 8)) - 1
    per = mrow.shape[1] // (2 * half)
    g = row_index(info)
    row = g // per
    off = (g % per) * 2 * half
    for j in range(row_entries(info)):
        V[c, np.int64(mrow[row, off + j]) & mask] += mrow[row, off + half + j]


@njit(inline="always")
def _prefetch_info(mrow, info, half, step):
    """Start loading what a spike on the row described by info reads from the table."""
    if info & PACKED == 0:
        _prefetch_row(mrow, row_index(info), step)
    elif info & INLINE == 0:
        per = mrow.shape[1] // (2 * half)
        g = info >> 32
        prefetch(mrow, g // per, (g % per) * 2 * half)


@njit(inline="always")
def _sort_slot(p, slot, c0, c1, A, ash, flat, fn, st, srt, seenb, mrow, pstep, rowinfo):
    """Counting sort of the slot's entries that target cores c0..c1-1 (every chunk's list
    of the slot for chunk p):
    afterwards core c's entries are srt[p, st[p, c - c0 - 1]:st[p, c - c0]] (0 for the first),
    each the index c * A + a of its row (of rowinfo).
    On the way, the weight rows of the first PREFETCH_AHEAD sorted entries are prefetched
    and the axons seen are marked in seenb (cleared by the caller; no rows: no axon can have
    two spikes in a tick, nothing to mark); returns the collisions (entries on an axon that
    already had one this tick)."""
    P = fn.shape[0]
    nc = c1 - c0
    li = p * SLOTS + slot  # each chunk's list of the slot for chunk p's cores
    for i in range(nc + 1):
        st[p, i] = 0
    for q in range(P):
        for e in range(fn[q, li]):
            st[p, (np.int64(flat[q, li, e]) >> ash) - c0 + 1] += 1
    for i in range(nc):
        st[p, i + 1] += st[p, i]
    amask = np.int64((1 << ash) - 1)
    half = np.int64(SPARSE_BYTES // 2 // mrow.itemsize)
    ident = _identity(mrow, rowinfo)
    coll = 0
    mark = seenb.shape[0] > 0
    for q in range(P):
        for e in range(fn[q, li]):
            g = flat[q, li, e]
            c = np.int64(g) >> ash
            k = st[p, c - c0]
            a = np.int64(g) & amask
            r = c * A + a  # the entry's weight row
            srt[p, k] = r
            st[p, c - c0] = k + 1
            if k < PREFETCH_AHEAD:
                if ident:
                    _prefetch_row(mrow, r, pstep)
                else:
                    _prefetch_info(mrow, rowinfo[r], half, pstep)
            if mark:
                bit = np.uint64(1) << np.uint64(a & 63)
                if seenb[c, a >> 6] & bit:
                    coll += 1
                seenb[c, a >> 6] |= bit
    # st[p, i] is now the end of core c0 + i's entries
    return coll


@njit(inline="always")
def _prefetch_core(c, V, npar, V16, npar16, vb, wb):
    """Start loading what core c's neuron pass reads: its membrane and parameter rows
    (int16 where the program has narrow cores, else int32; of the narrow planes only the
    core's own rows, shared rows stay cached) and the bound lines of the core
    CORE_AHEAD further, whose rows the next call reads. The hardware's prefetchers alone
    left the pass of a 16,384-core network at about half the machine's streaming
    bandwidth (a core's rows are 512-byte runs among other arrays)."""
    if V16.shape[0] > 0:
        C = V16.shape[0]
        for n in range(0, V16.shape[1], 32):
            prefetch_l2(V16, c, n)
        for j in range(3):
            r = np.int64(wb[c, WB_LEAK_ROW + j])
            if r < C:
                for n in range(0, V16.shape[1], 32):
                    prefetch_l2(npar16[j], r, n)
        if c + CORE_AHEAD < C:
            prefetch_l2(vb, c + CORE_AHEAD, 0)
            prefetch_l2(wb, c + CORE_AHEAD, 0)
    else:
        for n in range(0, V.shape[1], 16):
            prefetch_l2(V, c, n)
            prefetch_l2(npar[c], NP_LEAK, n)
            prefetch_l2(npar[c], NP_THRESHOLD, n)
            prefetch_l2(npar[c], NP_FLOOR, n)


@njit(inline="always")
def _prefetch_row(mrow, r, step):
    """Start loading weight row r (every cache line of it: step = its entries a line).
    A while loop: a range of a step numba does not know at compile time divides to get
    its trip count, a hardware division for every row."""
    n = 0
    while n < mrow.shape[1]:
        prefetch_l2(mrow, r, n)
        n += step


@njit(inline="always")
def _prefetch_entry(p, e, srt, mrow, step, rowinfo, half, ident):
    """Start loading what chunk p's sorted entry e (a row of rowinfo) reads."""
    if ident:
        _prefetch_row(mrow, np.int64(srt[p, e]), step)
    else:
        _prefetch_info(mrow, rowinfo[np.int64(srt[p, e])], half, step)


def _chunk_tick_py(p, t, slot, bounds, A, ash, V, prog, state, counts, pc, rec, rn):
    """One tick of route chunk p's cores (see the module docstring); prog: the program's
    arrays, state: the frame's scratch (``_frame_state``). rn >= 0: the chunk's spikes go
    to the record rec from row n on as they are sent (in core, then neuron order; as far
    as rec has rows); returns rn plus the chunk's spikes (rn < 0: -1, no record)."""
    mrow = prog.mrow
    nsyn = prog.nsyn  # the row words (rowinfo)
    npar = prog.npar
    rval = prog.rval
    zleak = prog.zleak
    vmax = prog.vmax
    rt = prog.rt
    outidx = prog.outidx
    pos = prog.pos
    wb = prog.wb
    npar16 = prog.npar16
    cmode = prog.cmode
    flat = state.flat
    fn = state.fn
    dest = state.dest
    sopdue = state.sopdue
    st = state.st
    srt = state.srt
    seenb = state.seenb
    fired = state.fired
    nfired = state.nfired
    flag8 = state.flag8
    fmask = state.fmask
    quiet = state.quiet
    acc = state.acc
    outp = state.outp
    V16 = state.V16
    vb = state.vb
    zrow = np.int64(mrow.shape[0] - 1)  # the zero row
    pstep = 64 // mrow.itemsize  # weight-row entries per cache line
    hi16 = np.int64(min(vmax, 32767))  # a narrow core's ceiling
    half = np.int64(SPARSE_BYTES // 2 // mrow.itemsize)
    ident = _identity(mrow, nsyn)
    do_pc = pc.shape[0] > 0
    far = V.shape[0] * V.shape[1] >= FAR_NEURONS  # membranes beyond the caches: prefetch
    c0 = bounds[p]
    c1 = bounds[p + 1]
    if t > 0:  # every chunk read this chunk's lists of slot t - 1 in tick t - 1: free them
        prev = ring_slot(t - 1)
        acc[p, C_SOPS] += sopdue[p, prev]
        sopdue[p, prev] = 0
        for d in range(bounds.shape[0] - 1):
            fn[p, d * SLOTS + prev] = 0
    acc[p, C_COLL] += _sort_slot(p, slot, c0, c1, A, ash, flat, fn, st, srt, seenb, mrow,
                                  pstep, nsyn)
    etot = st[p, c1 - c0 - 1] if c1 > c0 else 0  # the chunk's entries this tick
    pend = -1  # the last core with spikes not yet sent
    for c in range(c0, c1):
        b = c - c0
        if far and c + CORE_AHEAD < c1:
            _prefetch_core(c + CORE_AHEAD, V, npar, V16, npar16, vb, wb)
        # integrate
        e0 = st[p, b - 1] if b > 0 else 0
        e1 = st[p, b]
        if e1 > e0:
            if seenb.shape[0] > 0:
                for i in range(seenb.shape[1]):
                    seenb[c, i] = 0
            if do_pc:
                sops = 0
                for e in range(e0, e1):
                    sops += row_synapses(nsyn[np.int64(srt[p, e])])
                pc[1, c] += sops
        # a core without input, zero leak, whose last pass fired nothing: a fixed point
        if e1 == e0 and quiet[c] and zleak[c]:
            nfired[c] = 0
            continue
        # a narrow core whose sums could leave int16 this tick turns wide for good
        narrow = vb[c, VB_WIDE] == 0
        if narrow and not _fits_int16(c, e1 - e0, vb, wb):
            for n in range(V.shape[1]):
                V[c, n] = V16[c, n]
            vb[c, VB_WIDE] = 1
            narrow = False
        # packed and inline rows are scattered now; the dense ones stay, in order, as their
        # index in the row table
        e1_all = e1
        k = e0 if not ident else e1
        for e in range(e0 if not ident else e1, e1):
            info = nsyn[np.int64(srt[p, e])]
            if info & PACKED:
                if narrow:
                    _scatter_row(c, V16, mrow, info, half)
                else:
                    _scatter_row(c, V, mrow, info, half)
            else:
                srt[p, k] = row_index(info)
                k += 1
        e1 = k
        # rows beyond the last four (narrow: MAX_ROWS) are added four at a time (one load and
        # store of V per four rows); the last ones join the neuron pass
        e = e0
        fused = MAX_ROWS if narrow else 4
        while e1 - e > fused:
            r0 = np.int64(srt[p, e])
            r1 = np.int64(srt[p, e + 1])
            r2 = np.int64(srt[p, e + 2])
            r3 = np.int64(srt[p, e + 3])
            if narrow:
                _add_rows4(c, V16, mrow, r0, r1, r2, r3)
            else:
                _add_rows4(c, V, mrow, r0, r1, r2, r3)
            e += 4
        sub = narrow and cmode[c] == 1  # a narrow core's reset by subtraction: in the pass
        if narrow:
            nf, vh, vl = narrow_pass(V16, npar16, wb, mrow, c, srt, p, e, e1 - e, hi16,
                                     fmask, fired, sub)
            vb[c, VB_HI] = vh
            vb[c, VB_LO] = vl
            if not COMPRESS:  # nf says whether some neuron fired; the list from the bits
                nf = _fired_from_masks(c, p, nf, fmask, fired, V.shape[1])
        else:
            r0 = np.int64(srt[p, e]) if e < e1 else zrow
            r1 = np.int64(srt[p, e + 1]) if e + 1 < e1 else zrow
            r2 = np.int64(srt[p, e + 2]) if e + 2 < e1 else zrow
            r3 = np.int64(srt[p, e + 3]) if e + 3 < e1 else zrow
            nf = _neuron_pass(c, p, V, npar, vmax, mrow, r0, r1, r2, r3, flag8, fired)
        # the rows PREFETCH_AHEAD entries ahead (later cores') start loading
        for e in range(max(e0 + PREFETCH_AHEAD, e1_all), min(e1_all + PREFETCH_AHEAD, etot)):
            _prefetch_entry(p, e, srt, mrow, pstep, nsyn, half, ident)
        quiet[c] = nf == 0
        nfired[c] = nf
        if nf == 0:
            continue
        if narrow:
            # by subtraction the pass has reset; mode 2 keeps V (floored by the pass)
            if not (sub or cmode[c] == 2):  # (parameters cached by the pass)
                lo, hi = _reset_fired(c, nf, fired, cmode[c], rt, rval,
                                      npar16[NP_THRESHOLD], wb[c, WB_THRESHOLD_ROW],
                                      npar16[NP_FLOOR], wb[c, WB_FLOOR_ROW], V16)
                vb[c, VB_HI] = max(vb[c, VB_HI], hi)
                vb[c, VB_LO] = min(vb[c, VB_LO], lo)
        else:
            _reset_fired(c, nf, fired, cmode[c], rt, rval, npar[:, NP_THRESHOLD], c,
                         npar[:, NP_FLOOR], c, V)
        # the route words of its spikes start loading; the last core with spikes is sent
        # now (its words had the time of this core's pass to arrive; delays are >= 1, so
        # sending later in the tick changes nothing)
        for i in range(nf):
            prefetch(rt, c, np.int64(fired[c, i]))
        if pend >= 0:
            rn = _route_core(p, pend, t, ash, nfired[pend], fired, rt, outidx, outp, counts,
                             pos, flat, fn, dest, sopdue, acc, pc, rec, rn)
        pend = c
    if pend >= 0:
        rn = _route_core(p, pend, t, ash, nfired[pend], fired, rt, outidx, outp, counts, pos,
                         flat, fn, dest, sopdue, acc, pc, rec, rn)
    return rn


# Without numba's runtime (NRT): no reference counts. Every inlined helper that takes an
# array costs an atomic increment and decrement of each array's count per call where
# LLVM's refcount pruning cannot see across the helper's loops: ~15 a core and tick, 12% of
# a 16,384-core tick on one thread (measured), and in the pool both threads update the
# same counts. The kernel allocates nothing, so it needs no NRT.
fast_chunk_tick = njit(cache=True, _nrt=False)(_renamed(_chunk_tick_py, "fast_chunk_tick"))


@njit(inline="always")
def _add_inputs(t, ip, A, ash, in_tick, in_core, in_axon, nsyn, flat, fn, dest, sopdue,
                counters):
    """External inputs due at t (from index ip on) join chunk 0's list of slot t; returns
    the index of the first input not yet due."""
    slot = ring_slot(t)
    while ip < in_tick.shape[0] and in_tick[ip] == t:
        g = (np.int64(in_core[ip]) << ash) | np.int64(in_axon[ip])
        li = np.int64(dest[np.int64(in_core[ip])]) * SLOTS + slot
        k = fn[0, li]
        flat[0, li, k] = g
        fn[0, li] = k + 1
        sopdue[0, slot] += row_synapses(nsyn[np.int64(in_core[ip]) * A + np.int64(in_axon[ip])])
        counters[C_INPUTS] += 1
        ip += 1
    return ip


@njit(inline="always")
def _tick_counts(t, acc, sopdue, pt, seen):
    """Per-tick counts of tick t when kept (pt): its spikes (the chunks' running totals less
    those seen[0] at the last tick) and the SOPs of the spikes that arrived (its slot)."""
    if pt.shape[0] == 0:
        return
    spikes = 0
    sops = 0
    for q in range(acc.shape[0]):
        spikes += acc[q, C_SPIKES]
        sops += sopdue[q, ring_slot(t)]
    pt[0, t] = spikes - seen[0]
    pt[1, t] = sops
    seen[0] = spikes


@njit(inline="always")
def _frame_counts(T, acc, sopdue, counters):
    """Add the chunks' running totals and the SOPs of the last tick's slot (not yet moved
    into them) to the frame's counters. SOPs of spikes still in flight at T were never
    integrated: not counted (as in _kernels)."""
    for q in range(acc.shape[0]):
        for i in (C_SPIKES, C_SOPS, C_HOPS, C_CHIPS, C_COLL):
            counters[i] += acc[q, i]
        if T > 0:
            counters[C_SOPS] += sopdue[q, ring_slot(T - 1)]


@njit(inline="always")
def _snapshot(t, acc, sopdue, counters, outp, n_out, V, V16, vb, ro_c, ro_n, row):
    """What a run of t ticks would end with, taken after tick t - 1 of a longer run: the
    counters as ``_frame_counts`` would add them (row[0:6]), the readout counts (row[6:6 +
    n_out]) and the membranes of the neurons (ro_c, ro_n) (row[6 + n_out:])."""
    for i in range(6):
        row[i] = counters[i]
    for q in range(acc.shape[0]):
        for i in (C_SPIKES, C_SOPS, C_HOPS, C_CHIPS, C_COLL):
            row[i] += acc[q, i]
        if t > 0:
            row[C_SOPS] += sopdue[q, ring_slot(t - 1)]
    for o in range(n_out):
        s = 0
        for q in range(outp.shape[0]):
            s += outp[q, o]
        row[6 + o] = s
    for r in range(ro_c.shape[0]):
        c = np.int64(ro_c[r])
        n = np.int64(ro_n[r])
        if V16.shape[0] > 0 and vb[c, VB_WIDE] == 0:
            row[6 + n_out + r] = V16[c, n]
        else:
            row[6 + n_out + r] = V[c, n]


@njit(inline="always")
def _frame_state(bounds, A, V, cap, n_out, wb, may_collide):
    """A frame's scratch: the route chunks' delay-slot lists (flat, fn, sopdue), sort
    scratch (st, srt), collision bits, fired lists and flags, quiet cores, per-chunk counters
    and readout counts."""
    C = V.shape[0]
    N = V.shape[1]
    P = bounds.shape[0] - 1
    capmax = 1
    total = 0
    widest = 1
    for q in range(P):
        capmax = max(capmax, cap[q])
        total += cap[q]
        widest = max(widest, bounds[q + 1] - bounds[q])
    # rows a thread writes are padded by 64 bytes (PAD int64) so that no cache line is
    # written by two threads (route chunks run on different threads)
    # list d * SLOTS + s of chunk q: its spikes due in slot s to the cores of chunk d
    flat = np.empty((P, P * SLOTS, capmax), np.int32)
    fn = np.zeros((P, P * SLOTS + PAD), np.int64)
    dest = np.empty(C, np.int32)  # the route chunk holding each core
    for q in range(P):
        for c in range(bounds[q], bounds[q + 1]):
            dest[c] = q
    sopdue = np.zeros((P, SLOTS + PAD), np.int64)
    st = np.zeros((P, widest + 1 + PAD), np.int64)
    srt = np.empty((P, max(total, 1) + 2 * PAD), np.int32)
    # axons seen this tick (collisions), where two spikes can meet on an axon
    seenb = np.zeros((C if may_collide else 0, (A + 63) // 64), np.uint64)
    fired = np.empty((C, N + FIRED_PAD), np.uint16)  # (the narrow pass's last store)
    lines = 1 if P > 1 else 0  # on several threads: a cache line per core
    nfired = np.zeros((C, 1 + lines * (2 * PAD - 1)), np.int32)[:, 0]
    # per chunk: a byte per neuron, 1 = fired; >= 64 zero bytes after the last neuron
    flag8 = np.zeros((P, (N + 63) // 64 * 64 + 64), np.uint8)
    # per chunk, narrow cores: a bit per neuron, 1 = fired (words not written stay zero)
    fmask = np.zeros((P, (N + 63) // 64 + PAD), np.uint64)
    quiet = np.zeros((C, 1 + lines * (8 * PAD - 1)), np.uint8)[:, 0]
    acc = np.zeros((P, 6 + PAD), np.int64)
    outp = np.zeros((P, n_out + PAD), np.int64)
    # narrow cores (wb given and wb[c, WB_NARROW]: the core allows it) keep their membrane
    # in V16 while its range plus a tick's extreme input fits
    narrowable = wb.shape[0] > 0
    V16 = np.empty((C if narrowable else 0, N), np.int16)
    vb = np.ones((C, 16), np.int32)  # a cache line per core
    for c in range(C):
        if narrowable and wb[c, WB_NARROW]:
            lo = V[c].min()
            hi = V[c].max()
            if -32768 <= lo and hi <= NARROW_MAX:
                for n in range(N):
                    V16[c, n] = V[c, n]
                vb[c, VB_WIDE] = 0
                vb[c, VB_HI] = hi
                vb[c, VB_LO] = lo
    return FrameState(flat, fn, sopdue, st, srt, seenb, fired, nfired, flag8, fmask, quiet, acc,
                      outp, V16, vb, dest)


def _frame_tick_py(t, ip, bounds, A, ash, V, prog, state, counts, pc, in_tick, in_core,
                   in_axon, counters, pt, seen, record, rec, nrec):
    """Tick t of a frame (``_fast_frame_py``): its inputs, every route chunk, its counts
    and (record) its spikes into rec as far as it has rows; returns (the index of the
    first input not yet due, the record's length with this tick's spikes: beyond rec's
    rows, the caller grows rec and records the tick again). Allocates nothing."""
    ip = _add_inputs(t, ip, A, ash, in_tick, in_core, in_axon, prog.nsyn, state.flat,
                     state.fn, state.dest, state.sopdue, counters)
    P = bounds.shape[0] - 1
    if P == 1:  # one chunk: it writes its spikes into the record as it sends them
        n = fast_chunk_tick(0, t, ring_slot(t), bounds, A, ash, V, prog, state, counts, pc,
                            rec, nrec if record else -1)
        if record:
            nrec = n
    else:
        for p in prange(P):
            pi = np.int64(p)  # prange may hand out an unsigned index
            fast_chunk_tick(pi, t, ring_slot(t), bounds, A, ash, V, prog, state, counts, pc,
                            rec, -1)
        if record:
            nrec = write_tick(t, 0, state.nfired.shape[0], state.nfired, state.fired, rec,
                              nrec)
    _tick_counts(t, state.acc, state.sopdue, pt, seen)
    return ip, nrec


def _fast_frame_py(T, bounds, A, ash, V, prog, may_collide, cap, in_tick, in_core, in_axon,
                   counters, outputs, counts, pc, pt, record, snap_t, ro_c, ro_n, snap):
    """Run one frame of ``prog`` (a ``FastProgram``) for T ticks from the membrane V (the
    frame's initial membrane, updated in place); return the spike record (record: 0 for
    none, else the rows it starts with; it doubles where the spikes need more).

    snap_t int64 [S] (ascending, each <= T): after tick snap_t[s] - 1, ``_snapshot`` writes
    into snap[s] what a run of snap_t[s] ticks would end with (none: S = 0).

    bounds int64 [P+1]: route chunk p holds cores bounds[p]:bounds[p+1]; cap int64 [P]:
    the most entries chunk p's list of one slot can hold (chunk 0: plus the inputs).
    """
    state = _frame_state(bounds, A, V, cap, outputs.shape[0], prog.wb, may_collide)
    sopdue = state.sopdue
    fired = state.fired
    nfired = state.nfired
    acc = state.acc
    outp = state.outp
    V16 = state.V16
    vb = state.vb
    rec = np.empty((record, 3), np.int32)
    nrec = 0
    ip = 0
    seen = np.zeros(1, np.int64)
    si = 0
    while si < snap_t.shape[0] and snap_t[si] <= 0:  # a 0-tick snapshot: the start
        _snapshot(0, acc, sopdue, counters, outp, outputs.shape[0], V, V16, vb, ro_c, ro_n,
                  snap[si])
        si += 1
    for t in range(T):
        ip, n = frame_tick(t, ip, bounds, A, ash, V, prog, state, counts, pc, in_tick,
                           in_core, in_axon, counters, pt, seen, record, rec, nrec)
        if n > rec.shape[0]:  # tick t's spikes did not fit: a bigger record
            rec, nrec = record_tick(t, nfired, fired, rec, nrec)
        else:
            nrec = n
        while si < snap_t.shape[0] and snap_t[si] == t + 1:
            _snapshot(t + 1, acc, sopdue, counters, outp, outputs.shape[0], V, V16, vb, ro_c,
                      ro_n, snap[si])
            si += 1
    _frame_counts(T, acc, sopdue, counters)
    sum_outputs(outp, outputs)
    _narrow_back(V, V16, vb)
    if 2 * nrec >= rec.shape[0]:  # at least half full: kept as it is (no copy)
        return rec[:nrec]
    return rec[:nrec].copy()


_parallel_tick = njit(cache=True, parallel=True)(_renamed(_frame_tick_py, "_parallel_tick"))
# no NRT: no reference counts a tick (see fast_chunk_tick; 64 cores: ~60 atomic operations
# a tick, 7% of a run's time)
_serial_tick = njit(cache=True, _nrt=False)(_renamed(_frame_tick_py, "_serial_tick"))
fast_frame_parallel = njit(cache=True, parallel=True)(_renamed(
    _fast_frame_py, "fast_frame_parallel", frame_tick=_parallel_tick))
frame_tick = _serial_tick  # the tick _fast_frame_py runs (its parallel build: _parallel_tick)
fast_frame_serial = njit(cache=True)(_renamed(_fast_frame_py, "fast_frame_serial"))


# A waiting thread spins on plain loads and pauses (cpu_relax) once every RELAX_EVERY
# spins: a pause each spin made the pool of a 64-core frame twice as slow as one thread in
# most fresh processes (15-16 ms against 8.7 ms; none of 6 without the pauses, ad hoc):
# most likely KVM's pause-loop exiting: a tight pause loop lets the host take the spinning
# virtual CPU away, and the thread is not running when the next tick opens. Here a spin takes
# ~1.5 ns and a round of RELAX_EVERY spins and one pause ~0.12 us (ad hoc).
RELAX_EVERY = 64
SPINS_BEFORE_YIELD = 400 * RELAX_EVERY  # (~50 us) then it also yields the CPU (sched_yield)
STEAL_AFTER = 100 * RELAX_EVERY  # (~12 us) then, every RELAX_EVERY spins, it looks for
# chunks of the open tick that no thread has claimed


@njit(inline="always")
def _spin(spins):
    """One spin of a waiting thread: a pause once every RELAX_EVERY spins, the CPU given
    away (sched_yield) after SPINS_BEFORE_YIELD; returns the spins so far."""
    spins += 1
    if spins % RELAX_EVERY == 0:
        cpu_relax()
    if spins > SPINS_BEFORE_YIELD:
        yield_cpu()
    return spins


@njit(inline="always")
def _claim(claim, t, P, k):
    """Claim chunk k of tick t: True for the one thread that gets it."""
    i = t * P + k
    return atomic_load(claim, i) == 0 and atomic_add(claim, i, 1) == 0


@njit(cache=True, _nrt=False)  # no reference counts a tick (see fast_chunk_tick)
def _pool_worker(w, W, T, bounds, A, ash, V, prog, state, counts, pc, in_tick, in_core,
                 in_axon, counters, pt, sync, claim, record, rec, roff):
    """Thread w of W in ``fast_frame_pool``. Tick t is open while ``sync[0] == t``; thread
    w runs its home chunks w, w + W, ... of each open tick, and a chunk that no thread
    claimed after a while (its thread is not running) is run by whichever thread looks;
    the thread finishing a tick's last chunk (``sync[8 + t % 8]`` counts them) closes it:
    per-tick counts, each chunk's first record row for the tick's spikes (``roff``;
    ``sync[3]`` rows so far), the next tick's inputs (from ``sync[1]`` on), then opens the
    next tick. So one running thread is enough to finish the frame, and chunks stay on
    their threads (their cores' state in that CPU's cache) when all run."""
    nsyn = prog.nsyn
    flat = state.flat
    fn = state.fn
    sopdue = state.sopdue
    acc = state.acc
    nfired = state.nfired
    fired = state.fired
    P = bounds.shape[0] - 1
    t = 0
    while True:
        spins = 0
        while atomic_load(sync, 0) < t:
            spins = _spin(spins)
        t = atomic_load(sync, 0)
        if t >= T:
            return
        h = w  # this thread's next home chunk of tick t (w, w + W, w + 2 W, ...)
        while True:
            if h < P:
                k = h
                h += W
            else:  # wait for the tick to close; now and then look for unclaimed chunks
                k = -1
                spins = 0
                while atomic_load(sync, 0) == t:
                    spins = _spin(spins)
                    if spins >= STEAL_AFTER and spins % RELAX_EVERY == 0:
                        for q in range(P):
                            if atomic_load(claim, t * P + q) == 0:
                                k = q
                                break
                        if k >= 0:
                            break
                if k < 0:
                    break
            if _claim(claim, t, P, k):
                if record and t > 0:  # chunk k's spikes of tick t - 1, before it fires again
                    write_tick(t - 1, bounds[k], bounds[k + 1], nfired, fired, rec,
                               roff[0, k])
                fast_chunk_tick(k, t, ring_slot(t), bounds, A, ash, V, prog, state, counts,
                                pc, rec, -1)
                if atomic_add(sync, 8 + (t & 7) * 8, 1) == P - 1:  # the tick's last chunk
                    atomic_store(sync, 8 + (t & 7) * 8, 0)
                    _tick_counts(t, acc, sopdue, pt, sync[2:3])
                    if record:  # where each chunk's spikes of tick t go in the record
                        sync[3] = _record_offsets(acc, sync[3], roff)
                    if t + 1 < T:
                        sync[1] = _add_inputs(t + 1, sync[1], A, ash, in_tick, in_core,
                                              in_axon, nsyn, flat, fn, state.dest, sopdue,
                                              counters)
                    atomic_store(sync, 0, t + 1)
                    break
        t += 1


@njit(inline="always")
def _record_offsets(acc, n, roff):
    """roff[0, k] = the record row of chunk k's first spike of the tick just closed (the
    chunks' spikes follow one another from row n, in core order); a chunk's spikes of the
    tick are its running spike count less the one at the last close (roff[1, k]). Returns
    the rows after the tick."""
    for k in range(roff.shape[1]):
        roff[0, k] = n
        total = acc[k, C_SPIKES]
        n += total - roff[1, k]
        roff[1, k] = total
    return n


@njit(cache=True, parallel=True)
def fast_frame_pool(T, bounds, A, ash, V, prog, may_collide, cap, in_tick, in_core, in_axon,
                    counters, outputs, counts, pc, pt, threads, record, rec):
    """``fast_frame_parallel`` without a parallel region per tick: one region for the
    whole frame, its threads (at most ``threads``) handing ticks over through atomics
    (``_pool_worker``). The same results as the serial kernel: which thread runs a chunk
    changes nothing, and the tick is closed after all its chunks. Spike record (record 1;
    rec int32 [R, 3]): the thread closing a tick sets each chunk's first row
    (``_record_offsets``), the thread that runs the chunk in the next tick writes the
    chunk's spikes there first (tick, core, neuron order; the last tick's after the
    frame), as far as R rows go; returns the rows the whole record needs (more than R: the
    caller runs the frame again with room for all)."""
    state = _frame_state(bounds, A, V, cap, outputs.shape[0], prog.wb, may_collide)
    flat = state.flat
    fn = state.fn
    sopdue = state.sopdue
    acc = state.acc
    outp = state.outp
    V16 = state.V16
    vb = state.vb
    nsyn = prog.nsyn
    P = bounds.shape[0] - 1
    # sync: [0] the open tick, [1] the next input to add, [2] spikes counted in pt so far,
    # [3] the record's rows so far, [8 + 8 j] chunks done of the ticks t with t % 8 == j (a
    # cache line each)
    sync = np.zeros(72, np.int64)
    claim = np.zeros(T * P + 1, np.int64)
    if T > 0:
        sync[1] = _add_inputs(0, 0, A, ash, in_tick, in_core, in_axon, nsyn, flat, fn,
                              state.dest, sopdue, counters)
    # roff[0, k]: the record row where chunk k's spikes of the last closed tick go;
    # roff[1, k]: chunk k's spike count at that close (written by the closing thread only)
    roff = np.zeros((2, P), np.int64)
    # one worker per thread (a worker runs until the frame ends, so a second worker on a
    # thread would only start then), each with home chunks w, w + W, ...
    W = max(1, min(P, threads))
    for w in prange(W):
        _pool_worker(np.int64(w), np.int64(W), T, bounds, A, ash, V, prog, state, counts, pc,
                     in_tick, in_core, in_axon, counters, pt, sync, claim, record, rec, roff)
    if record and T > 0:  # the last tick's spikes (no chunk runs after it)
        write_tick(T - 1, 0, V.shape[0], state.nfired, state.fired, rec, roff[0, 0])
    _frame_counts(T, acc, sopdue, counters)
    sum_outputs(outp, outputs)
    _narrow_back(V, V16, vb)
    return sync[3]


@njit(cache=True, parallel=True)
def fast_run_frames(T, A, ash, v0, prog, may_collide, cap, in_tick, in_core, in_axon, in_off,
                    counters, outputs, counts, pc, pt, pot, recs, record, snap_t, ro_c, ro_n,
                    snap):
    """B frames of ``prog`` (a ``FastProgram``) in parallel (prange over frames), each
    from fresh state (membrane v0 [C, N]), one chunk each; snap [B, S, K] (S = 0: no
    snapshots, see _fast_frame_py)."""
    B = counters.shape[0]
    C = v0.shape[0]
    N = v0.shape[1]
    bounds = np.array([0, C], np.int64)
    for b in prange(B):
        V = v0.copy()
        lo = in_off[b]
        hi = in_off[b + 1]
        rec = fast_frame_serial(T, bounds, A, ash, V, prog, may_collide, cap,
                                in_tick[lo:hi], in_core[lo:hi], in_axon[lo:hi],
                                counters[b], outputs[b], counts[b], pc[b], pt[b], record,
                                snap_t, ro_c, ro_n, snap[b])
        if pot.shape[0] > 0:
            for c in range(C):
                for n in range(N):
                    pot[b, c, n] = V[c, n]
        if record:
            recs[b] = rec
