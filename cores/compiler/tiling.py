"""Tiling helpers: group neurons onto cores within the axon and neuron budget of a core.

A *unit* is a set of synapses (global source, k-bit type mask) that needs its own neuron(s)
on one core: a whole neuron (direct mapping) or one input block of a neuron (a partial sum,
fan-in split). Units that share sources share axons: a source uses one axon per axon type
any neuron on the core needs from it. ``greedy`` packs units in a given order; the compiler
tries a few orders (position-major tiles of several sizes for convolutions) and keeps the
one with the fewest cores.
"""

from __future__ import annotations

import numpy as np
from numba import njit

POP = np.array([bin(i).count("1") for i in range(256)], np.int64)


def greedy(uptr: np.ndarray, ucols: np.ndarray, umasks: np.ndarray, order: np.ndarray,
           cost: np.ndarray, axons: int, neurons: int, n_global: int) -> list[np.ndarray]:
    """Pack units (CSR ``uptr`` over ``ucols``/``umasks``) in ``order`` into groups whose
    axons (one per source and needed type) and neurons (``cost`` per unit) fit a core.
    Units of cost 0 are skipped."""
    order = np.asarray(order, np.int64)
    gid = _greedy(np.asarray(uptr, np.int64), np.asarray(ucols, np.int64),
                  np.asarray(umasks, np.int64), order, np.asarray(cost, np.int64),
                  int(axons), int(neurons), int(n_global), POP)
    g = gid[order]
    keep = g >= 0
    o, g = order[keep], g[keep]
    if not len(g):
        return []
    cuts = np.flatnonzero(np.diff(g)) + 1
    return [np.asarray(x, np.int64) for x in np.split(o, cuts)]


@njit(cache=True)
def _greedy(uptr, ucols, umasks, order, cost, axons, neurons, n_global, pop):
    gmask = np.zeros(n_global, np.int64)
    touched = np.empty(len(ucols), np.int64)
    n_t = 0
    gid = np.full(len(uptr) - 1, -1, np.int64)
    g = -1
    n_ax = 0
    n_ne = 0
    fresh = True
    for i in range(len(order)):
        u = order[i]
        if cost[u] <= 0:
            continue
        d = 0
        for e in range(uptr[u], uptr[u + 1]):
            c = ucols[e]
            d += pop[gmask[c] | umasks[e]] - pop[gmask[c]]
        if fresh or n_ax + d > axons or n_ne + cost[u] > neurons:
            for j in range(n_t):
                gmask[touched[j]] = 0
            n_t = 0
            g += 1
            n_ax = 0
            n_ne = 0
            fresh = False
            d = 0
            for e in range(uptr[u], uptr[u + 1]):
                d += pop[umasks[e]]
        for e in range(uptr[u], uptr[u + 1]):
            c = ucols[e]
            if gmask[c] == 0:
                touched[n_t] = c
                n_t += 1
            gmask[c] |= umasks[e]
        n_ax += d
        n_ne += cost[u]
        gid[u] = g
    return gid


def unit_cost(uptr: np.ndarray, umasks: np.ndarray) -> np.ndarray:
    """Axons each unit needs alone."""
    per = POP[umasks]
    out = np.zeros(len(uptr) - 1, np.int64)
    nz = np.diff(uptr) > 0
    if per.size:
        out[nz] = np.add.reduceat(per, uptr[:-1][nz])
    return out


def source_types(cols: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per synapse: the axon types (bit mask) that any neuron of the layer uses from its
    source, i.e. the axons that source costs in a core."""
    uniq, inv = np.unique(cols, return_inverse=True)
    union = np.zeros(len(uniq), np.int64)
    np.bitwise_or.at(union, inv, np.asarray(masks, np.int64))
    return union[inv]


def partition_blocks(row_ptr: np.ndarray, cols: np.ndarray, masks: np.ndarray, limit: int,
                     shared: bool = False) -> np.ndarray:
    """Block id of every synapse: contiguous source ranges such that no neuron needs more
    than ``limit`` axons from one block (a source counts the axon types any neuron of the
    layer needs from it, so neurons that share sources can share a core). ``shared``
    (dense layers): the limit holds for the block's sources all together."""
    n = len(row_ptr) - 1
    rows = np.repeat(np.arange(n), np.diff(row_ptr))
    order = np.argsort(cols, kind="stable")
    sc = cols[order]
    uniq, starts = np.unique(sc, return_index=True)
    masks = source_types(cols, masks)  # a source costs the types any neuron needs
    ends = np.append(starts[1:], len(sc))
    cnt = np.zeros(n, np.int64)
    block_of = np.zeros(len(uniq), np.int64)
    b = 0
    for j in range(len(uniq)):
        idx = order[starts[j]:ends[j]]
        r, c = rows[idx], POP[masks[idx]]
        if shared:
            r, c = np.zeros(1, np.int64), c[:1]
        if (cnt[r] + c > limit).any():
            b += 1
            cnt[:] = 0
        cnt[r] += c
        block_of[j] = b
    return block_of[np.searchsorted(uniq, cols)]


def conv_orders(n_out: int, shape: tuple[int, ...], sizes: tuple[int, ...] = (1, 2, 4, 8)
                ) -> list[np.ndarray]:
    """Orders of conv neurons (o, y, x) for the greedy packing: position-major (tiles of
    size b x b, then positions inside a tile, then channels) and channel-major (channels,
    then tiles, then positions), which keeps a depthwise layer's channel on few cores."""
    o, h, w = shape
    ch, y, x = np.meshgrid(np.arange(o), np.arange(h), np.arange(w), indexing="ij")
    ch, y, x = ch.reshape(-1), y.reshape(-1), x.reshape(-1)
    out = []
    for b in sizes:
        if b > 1 and b >= max(h, w):
            continue
        tile = (y // b) * ((w + b - 1) // b) + x // b
        out.append(np.lexsort((ch, x % b, y % b, tile)))
        out.append(np.lexsort((x % b, y % b, tile, ch)))
    return out or [np.arange(n_out)]
