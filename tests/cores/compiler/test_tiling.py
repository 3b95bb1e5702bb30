"""Tiling helpers: every group fits a core's axon and neuron budget, every unit is placed
once, and fan-in blocks respect their axon limit (random instances, checked by brute force)."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cores.compiler.tiling import POP, conv_orders, greedy, partition_blocks, unit_cost


def _random_units(rng: np.random.Generator, n_units: int, n_global: int):
    sizes = rng.integers(0, 12, n_units)
    uptr = np.concatenate([[0], np.cumsum(sizes)])
    ucols = np.concatenate([rng.choice(n_global, s, replace=False) for s in sizes])
    umasks = rng.integers(1, 16, len(ucols))
    cost = rng.integers(0, 4, n_units)
    return uptr, ucols.astype(np.int64), umasks.astype(np.int64), cost


@pytest.mark.parametrize("seed", range(5))
def test_greedy_groups_fit_the_core_and_place_every_unit_once(seed):
    rng = np.random.default_rng(seed)
    uptr, ucols, umasks, cost = _random_units(rng, 60, 40)
    axons, neurons = 24, 8
    order = rng.permutation(60)
    groups = greedy(uptr, ucols, umasks, order, cost, axons, neurons, 40)
    placed = np.concatenate(groups) if groups else np.zeros(0, np.int64)
    assert sorted(placed.tolist()) == sorted(np.flatnonzero(cost > 0).tolist())
    for g in groups:
        assert cost[g].sum() <= neurons
        need: dict[int, int] = {}
        for u in g:
            for e in range(uptr[u], uptr[u + 1]):
                need[ucols[e]] = need.get(ucols[e], 0) | umasks[e]
        # a unit bigger than a core alone gets a core of its own
        assert sum(POP[m] for m in need.values()) <= axons or len(g) == 1
    # groups follow the order: the concatenation is the order without cost-0 units
    assert placed.tolist() == [u for u in order if cost[u] > 0]


def test_unit_cost_counts_the_axon_types_of_each_unit():
    uptr = np.array([0, 2, 2, 5])
    umasks = np.array([1, 3, 15, 1, 2])
    assert unit_cost(uptr, umasks).tolist() == [1 + 2, 0, 4 + 1 + 1]


@pytest.mark.parametrize("shared", [False, True])
def test_partition_blocks_keeps_every_neuron_under_the_limit(shared):
    rng = np.random.default_rng(3)
    n_rows, n_src, limit = 20, 300, 64
    rows = [np.sort(rng.choice(n_src, rng.integers(1, 200), replace=False))
            for _ in range(n_rows)]
    row_ptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    cols = np.concatenate(rows)
    masks = rng.integers(1, 4, len(cols))
    block = partition_blocks(row_ptr, cols, masks, limit, shared=shared)
    # a source's axon cost is the union of the types any neuron needs from it
    union: dict[int, int] = {}
    for c, m in zip(cols, masks, strict=True):
        union[c] = union.get(c, 0) | int(m)
    for b in np.unique(block):
        srcs = np.unique(cols[block == b])
        if shared:
            assert sum(POP[union[s]] for s in srcs) <= limit
        for r in range(n_rows):
            in_b = np.intersect1d(rows[r], srcs)
            assert sum(POP[union[s]] for s in in_b) <= limit
    # blocks are contiguous source ranges
    order = np.argsort(cols, kind="stable")
    assert (np.diff(block[order]) >= 0).all()


def test_conv_orders_are_permutations_of_the_neurons():
    shape = (3, 5, 6)
    n = int(np.prod(shape))
    orders = conv_orders(n, shape)
    assert len(orders) >= 2
    for o in orders:
        assert sorted(o.tolist()) == list(range(n))
    # tile size 1 is position-major: all channels of a position are adjacent
    ch = orders[0] // (5 * 6)
    pos = orders[0] % (5 * 6)
    assert (pos[:3] == pos[0]).all() and sorted(ch[:3].tolist()) == [0, 1, 2]
