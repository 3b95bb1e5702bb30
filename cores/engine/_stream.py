"""Kernels of the streaming evaluator (``snn.cores.evaluate``): frames encoded, expanded
through the program's input map and run on the fast path, all inside one parallel loop.

Each frame's external inputs are made where they are used (a thread's own frame), from a
few bytes a pixel: the rate code's level q (``rate``: the element spikes at ideal tick t
when an accumulator that starts at levels // 2 and adds q each tick reaches ``levels``;
it then drops by ``levels``, exactly ``snn.encoding.rate``) or precomputed spike bits
(``poisson``: ``spk[b, t, e]``). Element e spiking at ideal tick t drives every input-map
entry m of e at core tick ``t + m_tick[m]``; hold axons get a spike at core ticks
0..h_ticks - 1. So no frame's event list exists outside its thread, and memory does not
grow with the batch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from snn.cores.engine._fastpath import fast_frame_serial

MODE_RATE, MODE_SPIKES = 0, 1


@njit(inline="always")
def _fires(mode, q, spk, levels, e, t, acc):
    """Whether element e spikes at ideal tick t (acc: the rate accumulators, updated)."""
    if mode == MODE_RATE:
        acc[e] += q[e]
        if acc[e] >= levels:
            acc[e] -= levels
            return True
        return False
    return spk[t, e] != 0


@njit(inline="always")
def _count_or_place(fill, cnt, ct, c, a, tick, core, axon):
    """Pass 0: count an input at core tick ct; pass 1: put it at its tick's next place."""
    if fill:
        j = cnt[ct]
        tick[j] = ct
        core[j] = c
        axon[j] = a
        cnt[ct] = j + 1
    else:
        cnt[ct + 1] += 1


@njit(cache=True)
def frame_inputs(T, Tin, mode, q, spk, levels, el_start, el_count, m_core, m_axon, m_tick,
                 h_core, h_axon, h_ticks):
    """One frame's external inputs before core tick T, sorted by tick: (tick, core, axon,
    the most inputs of one tick)."""
    n_el = el_start.shape[0]
    cnt = np.zeros(T + 1, np.int64)
    tick = np.empty(0, np.int32)
    core = np.empty(0, np.int32)
    axon = np.empty(0, np.int32)
    acc = np.empty(n_el, np.int64)
    most = 0
    for fill in range(2):  # pass 0 counts the inputs of each tick, pass 1 places them
        if fill:
            for k in range(T):
                most = max(most, cnt[k + 1])
                cnt[k + 1] += cnt[k]
            tick = np.empty(cnt[T], np.int32)
            core = np.empty(cnt[T], np.int32)
            axon = np.empty(cnt[T], np.int32)
        for h in range(h_core.shape[0]):
            for k in range(min(np.int64(h_ticks[h]), T)):
                _count_or_place(fill, cnt, k, h_core[h], h_axon[h], tick, core, axon)
        acc[:] = levels // 2
        for t in range(Tin):
            for e in range(n_el):
                if _fires(mode, q, spk, levels, e, t, acc):
                    for m in range(el_start[e], el_start[e] + el_count[e]):
                        if t + m_tick[m] < T:
                            _count_or_place(fill, cnt, t + m_tick[m], m_core[m], m_axon[m],
                                            tick, core, axon)
    return tick, core, axon, most


@njit(cache=True, parallel=True)
def eval_frames(T, Tin, A, ash, v0, prog, may_collide, cap_base, mode, q, spk, levels,
                el_start, el_count, m_core, m_axon, m_tick, h_core, h_axon, h_ticks, n_out,
                snap_t, ro_c, ro_n, counters, snap):
    """B frames (prange), each encoded, expanded and run for T core ticks from membrane v0
    on the fast path (``prog``: a ``_fastpath.FastProgram``), with snapshots at snap_t (see
    ``_fastpath._fast_frame_py``).

    q int64 [B, n_el] (rate) or spk uint8 [B, Tin, n_el] (spike bits; the other [B, 0(, 0)]);
    n_out: the program's outputs;
    counters int64 [B, 6]; snap int64 [B, S, 6 + n_outputs + R]."""
    B = counters.shape[0]
    C = v0.shape[0]
    bounds = np.array([0, C], np.int64)
    for b in prange(B):
        it, ic, ia, most = frame_inputs(T, Tin, mode, q[b], spk[b], levels, el_start, el_count,
                                        m_core, m_axon, m_tick, h_core, h_axon, h_ticks)
        cap = cap_base.copy()
        cap[0] += most
        V = v0.copy()
        outputs = np.zeros(n_out, np.int64)
        fast_frame_serial(T, bounds, A, ash, V, prog, may_collide, cap, it, ic, ia, counters[b],
                          outputs, np.zeros((0, 0), np.int32), np.zeros((0, 0), np.int64),
                          np.zeros((0, 0), np.int64), 0, snap_t, ro_c, ro_n, snap[b])
