"""Placement: row-major default and the traffic-aware placer."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cores.hardware.mesh import route_cost, traffic
from snn.cores.hardware.placement import hilbert_xy, place, row_major
from snn.cores.program import CoreProgram
from snn.cores.random_network import layered_program
from snn.errors import ConfigError


def test_row_major_is_the_default_layout():
    p = CoreProgram.empty(5000)
    np.testing.assert_array_equal(place(p), p.placement())
    np.testing.assert_array_equal(row_major(70, (8, 8)), p.placement(8, 8)[:70])


def test_hilbert_curve_is_a_walk_over_every_point():
    h = hilbert_xy(16)
    assert len({tuple(v) for v in h}) == 256
    assert (np.abs(np.diff(h, axis=0)).sum(axis=1) == 1).all()


def test_traffic_placer_cuts_hops_and_is_deterministic():
    p = layered_program([200, 150, 60, 10])
    t = traffic(p)
    xy = place(p, "traffic", seed=3)
    assert xy.dtype == np.int32 and xy.shape == (p.n_cores, 2)
    p.core_xy = xy
    p.validate()  # one core per point, coordinates >= 0
    assert (xy < 64).all()
    h0, _ = route_cost(place(p), t)
    h1, _ = route_cost(xy, t)
    assert h1 < 0.5 * h0, (h0, h1)
    np.testing.assert_array_equal(xy, place(p, "traffic", seed=3))


def test_traffic_placer_cuts_chip_crossings():
    """Two halves that talk only within themselves, interleaved in index order so that
    row-major puts both on both chips."""
    chip = (8, 8)
    C = 128
    rng = np.random.default_rng(0)
    p = CoreProgram.empty(C)
    group = np.arange(C) % 2
    for c in range(C):
        mates = np.flatnonzero(group == group[c])
        p.target_core[c] = rng.choice(mates, 256)
    t = traffic(p)
    _, x0 = route_cost(place(p, chip_size=chip), t, chip)
    xy = place(p, "traffic", chip_size=chip, seed=0)
    _, x1 = route_cost(xy, t, chip)
    assert x0 > 0 and x1 < 0.2 * x0, (x0, x1)
    assert ((xy[:, 0] // 8) < 2).all() and (xy[:, 1] < 8).all()


def test_measured_traffic_from_spike_counts():
    p = layered_program([40, 40])
    counts = np.zeros((1, 80, 256), np.int32)
    counts[0, :5] = 7  # only cores 0..4 fire
    xy = place(p, "traffic", traffic=counts, seed=0)
    t = traffic(p, counts)
    assert route_cost(xy, t)[0] < route_cost(place(p), t)[0]


def test_bad_arguments():
    p = layered_program([4, 4])
    with pytest.raises(ConfigError, match="unknown placement method"):
        place(p, "spectral")
    with pytest.raises(ConfigError, match="cannot hold"):
        place(p, "traffic", chip_size=(2, 2), n_chips=1)
