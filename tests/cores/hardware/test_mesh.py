"""Mesh routing: hops, chip crossings and link loads against a brute-force router."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cores.hardware.mesh import (
    LinkCapacityWarning,
    Traffic,
    core_activity,
    link_load,
    mesh_shape,
    route_cost,
    traffic,
)
from snn.cores.program import CoreProgram
from snn.errors import ConfigError


def _random_program(C, seed=0):
    rng = np.random.default_rng(seed)
    p = CoreProgram.empty(C)
    p.target_core[:] = rng.integers(-1, C, p.target_core.shape)
    p.target_axon[:] = rng.integers(0, 256, p.target_axon.shape)
    return p


def _brute(xy, t, W, H):
    """Walk every spike link by link, x first."""
    xp, xm = np.zeros((H, W - 1)), np.zeros((H, W - 1))
    yp, ym = np.zeros((H - 1, W)), np.zeros((H - 1, W))
    hops = 0.0
    for s, d, w in zip(t.src, t.dst, t.weight, strict=True):
        (x, y), (x1, y1) = xy[s], xy[d]
        while x != x1:
            if x1 > x:
                xp[y, x] += w
                x += 1
            else:
                xm[y, x - 1] += w
                x -= 1
            hops += w
        while y != y1:
            if y1 > y:
                yp[y, x] += w
                y += 1
            else:
                ym[y - 1, x] += w
                y -= 1
            hops += w
    return xp, xm, yp, ym, hops


def test_traffic_estimated_and_measured():
    p = _random_program(5)
    t = traffic(p)
    assert not t.measured
    assert t.total == (p.target_core >= 0).sum()
    counts = np.random.default_rng(1).integers(0, 4, (2, 5, 256))
    tm = traffic(p, counts)
    assert tm.measured
    assert tm.total == counts.sum(axis=0)[p.target_core >= 0].sum()
    pair = (tm.src == 0) & (tm.dst == 3)
    want = counts.sum(axis=0)[0][p.target_core[0] == 3].sum()
    assert tm.weight[pair].sum() == want
    with pytest.raises(ConfigError, match=r"\[C, N\]"):
        traffic(p, np.zeros((5, 3)))


@pytest.mark.parametrize("chip", [(64, 64), (4, 3)])
def test_link_load_and_hops_match_brute_force(chip):
    rng = np.random.default_rng(2)
    C = 30
    p = _random_program(C, seed=3)
    xy = rng.permutation(np.stack(np.meshgrid(np.arange(8), np.arange(6)), -1).reshape(-1, 2))
    xy = xy[:C]
    t = traffic(p, rng.integers(0, 3, (C, 256)))
    load = link_load(xy, t, ticks=5, chip_size=chip)
    W, H = mesh_shape(xy, chip)
    xp, xm, yp, ym, hops = _brute(xy, t, W, H)
    for got, want in ((load.xp, xp), (load.xm, xm), (load.yp, yp), (load.ym, ym)):
        np.testing.assert_allclose(got * 5, want)
    h, c = route_cost(xy, t, chip)
    assert h == pytest.approx(hops)
    assert sum(a.sum() for a in (load.xp, load.xm, load.yp, load.ym)) * 5 == pytest.approx(h)
    cw, ch = chip
    cx = np.abs(xy[t.src, 0] // cw - xy[t.dst, 0] // cw)
    cy = np.abs(xy[t.src, 1] // ch - xy[t.dst, 1] // ch)
    assert c == pytest.approx(((cx + cy) * t.weight).sum())
    assert load.node_load().sum() * 5 == pytest.approx(h)


def test_peak_link_and_capacity_warning():
    xy = np.array([[0, 0], [3, 0], [3, 2]])
    t = Traffic(np.array([0, 1]), np.array([2, 0]), np.array([10.0, 4.0]), 3, True)
    load = link_load(xy, t, ticks=2, chip_size=(4, 4))
    assert load.peak == pytest.approx(5.0)
    assert load.peak_link()[0] == "+x"
    assert load.check(5.0)
    with pytest.warns(LinkCapacityWarning, match="exceeds the link capacity 4"):
        assert not load.check(4.0)
    assert load.check(None)


def test_core_activity_grid():
    xy = np.array([[0, 0], [2, 1]])
    g = core_activity(xy, np.array([[4, 6], [4, 0]]), ticks=2, chip_size=(4, 4))
    assert g.shape == (4, 4)
    assert g[0, 0] == 4 and g[1, 2] == 3 and np.isnan(g[3, 3])


def test_hops_of_measured_traffic_equal_the_engine_counters():
    """Spike counts of a real run routed here give the engine's hops and chip crossings."""
    from snn.cores.engine import run

    rng = np.random.default_rng(4)
    C = 12
    p = _random_program(C, seed=4)
    p.crossbar[:] = rng.random(p.crossbar.shape) < 0.2
    p.weight[:] = 1
    p.threshold[:] = 4
    p.leak[:] = 1
    grid = np.stack(np.meshgrid(np.arange(70), np.arange(3)), -1).reshape(-1, 2)
    left, right = grid[grid[:, 0] < 64], grid[grid[:, 0] >= 64]
    p.core_xy = np.concatenate([rng.permutation(left)[:6], rng.permutation(right)[:6]]
                               ).astype(np.int32)  # spans two chips
    r = run(p, 15, record="counts")
    h, c = route_cost(p.core_xy, traffic(p, r.spike_counts))
    assert r.total("hops") > 0 and r.total("chip_crossings") > 0
    assert (h, c) == (r.total("hops"), r.total("chip_crossings"))
