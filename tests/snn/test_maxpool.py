"""The IF-neuron tree of pairwise maxima (snn.maxpool) and ``simulate(maxpool="tree")``."""

from __future__ import annotations

import numpy as np
import pytest

from snn.errors import ConfigError
from snn.maxpool import expand_maxpool, window_tree
from snn.network import Dense, Flatten, Pool2d, SpikingNetwork
from snn.simulate import max_pool, simulate

ONE = np.ones(1, np.float32)
WINDOWS = [((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (3, 3), (0, 0, 0, 0)),
           ((3, 3), (2, 2), (1, 1, 1, 1)), ((3, 3), (2, 2), (0, 0, 1, 1))]


def _pool_net(kernel, stride, padding, shape=(2, 12, 12)) -> SpikingNetwork:
    layers = [Pool2d("p", ("input",), False, ONE, mode="max", kernel=kernel, stride=stride,
                     padding=padding), Flatten("fl", ("p",))]
    n = SpikingNetwork(shape, layers).shapes()["fl"][0]
    layers.append(Dense("o", ("fl",), True, ONE, weight=np.zeros((2, n), np.float32),
                        bias=np.zeros(2, np.float32)))
    return SpikingNetwork(shape, layers, {"encoding": "rate"})


def test_tree_shape() -> None:
    # K leaves: K - 1 relu nodes over ceil(log2 K) levels, plus the output
    for k, depth in ((1, 0), (2, 1), (4, 2), (9, 4)):
        levels = window_tree(k)
        assert len(levels) == depth + 1
        assert sum(len(lv) for lv in levels[:-1]) == k - 1
    net = expand_maxpool(_pool_net((2, 2), (2, 2), (0, 0, 0, 0)))
    spiking = [x for x in net.layers if x.spiking]
    assert [x.name for x in spiking] == ["p.r1", "p.r2", "p", "o"]
    sh = net.shapes()
    assert sh["p.r1"] == (4, 6, 6) and sh["p.r2"] == (2, 6, 6) and sh["p"] == (2, 6, 6)


@pytest.mark.parametrize("kernel,stride,padding", WINDOWS)
def test_tree_count_bound_rate_code(kernel, stride, padding) -> None:
    """Stated bound (docs/compiler.md): with the deterministic rate code, the tree's output
    count after T ticks is never below the window's largest input count and at most 2
    above it (every T up to 256); the gated max is measured for comparison only."""
    net = _pool_net(kernel, stride, padding)
    imgs = np.random.default_rng(1).integers(0, 256, (8, 2, 12, 12)).astype(np.uint8)
    res = simulate(net, imgs, 256, record_layers=True, maxpool="tree", encoding="rate")
    cum_in = np.cumsum(res.trains["input"], axis=0)
    cum_out = np.cumsum(res.trains["p"], axis=0)
    for t in (8, 16, 64, 128, 256):
        want = max_pool(cum_in[t - 1].astype(np.float64), net.layer("p"))
        dev = cum_out[t - 1] - want
        assert dev.min() >= 0 and dev.max() <= 2, (t, dev.min(), dev.max())


def test_tree_count_never_below_max_poisson() -> None:
    """Random (poisson) spikes: the excess is the largest lead that a later element gives
    back, so it grows with T; the output never falls below the true maximum count."""
    net = _pool_net((2, 2), (2, 2), (0, 0, 0, 0))
    imgs = np.random.default_rng(2).integers(0, 256, (6, 2, 12, 12)).astype(np.uint8)
    res = simulate(net, imgs, 128, record_layers=True, maxpool="tree", encoding="poisson")
    want = max_pool(res.trains["input"].sum(0).astype(np.float64), net.layer("p"))
    dev = res.trains["p"].sum(0) - want
    assert dev.min() >= 0 and dev.mean() < 2


def test_gate_mode_unchanged_and_bad_mode() -> None:
    net = _pool_net((2, 2), (2, 2), (0, 0, 0, 0))
    imgs = np.random.default_rng(3).integers(0, 256, (3, 2, 12, 12)).astype(np.uint8)
    a = simulate(net, imgs, 20, record_layers=True)
    b = simulate(net, imgs, 20, record_layers=True, maxpool="gate")
    assert np.array_equal(a.trains["p"], b.trains["p"])
    assert "p.r1" not in a.spikes
    t = simulate(net, imgs, 20, maxpool="tree")
    assert "p.r1" in t.spikes and t.spikes["p.r1"].sum() > 0
    with pytest.raises(ConfigError, match="tree"):
        simulate(net, imgs, 20, maxpool="avg")
