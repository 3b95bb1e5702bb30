"""Ideal simulator: equals a tick-by-tick reference, counts, decoding, chunking."""

import numpy as np
import pytest

from snn.errors import ConfigError
from snn.network import INPUT, Add, Conv2d, Dense, Flatten, Pool2d, SpikingNetwork
from snn.simulate import avg_pool, conv2d, max_pool, simulate


def _net(pool: str = "max", v_init: float = 0.0) -> SpikingNetwork:
    rng = np.random.default_rng(0)
    f32 = np.float32
    layers = [
        Conv2d("c1", weight=(rng.standard_normal((4, 1, 3, 3)) * 0.6).astype(f32),
               bias=(rng.standard_normal(4) * 0.05).astype(f32), padding=(1, 1, 1, 1),
               threshold=np.array([1.0, 0.8, 1.2, 1.0], f32)),
        Conv2d("ca", inputs=("c1",), spiking=False, padding=(1, 1, 1, 1),
               weight=(rng.standard_normal((4, 4, 3, 3)) * 0.3).astype(f32),
               bias=np.zeros(4, f32)),
        Conv2d("cb", inputs=("c1",), spiking=False,
               weight=(rng.standard_normal((4, 4, 1, 1)) * 0.3).astype(f32),
               bias=np.full(4, 0.02, f32)),
        Add("add", inputs=("ca", "cb")),
        Pool2d("p", inputs=("add",), mode=pool, kernel=(3, 3), stride=(2, 2),
               padding=(0, 0, 1, 1), spiking=(pool == "avg")),
        Flatten("f", inputs=("p",)),
        Dense("out", inputs=("f",), weight=((rng.random((3, 64)) - 0.45) * 0.4).astype(f32),
              bias=np.full(3, 0.1, f32), threshold=np.array([0.7], f32)),
    ]
    return SpikingNetwork((1, 8, 8), layers, {"v_init": v_init})


def _reference(net: SpikingNetwork, x_ticks: np.ndarray) -> dict[str, np.ndarray]:
    """Tick-major, frame by frame, straight from the network docstring."""
    shapes = net.shapes()
    T, B = x_ticks.shape[:2]
    v_init = net.meta.get("v_init", 0.0)
    out = {l.name: np.zeros((T, B, *shapes[l.name])) for l in net.layers}
    for b in range(B):
        v, cum = {}, {}
        for t in range(T):
            vals = {INPUT: x_ticks[t, b].astype(np.float64)}
            for layer in net.layers:
                xs = [vals[s][None] for s in layer.inputs]
                if isinstance(layer, Pool2d) and layer.mode == "max":
                    cum[layer.name] = cum.get(layer.name, 0) + xs[0][0]
                    from snn.simulate import _pool_windows
                    wc = _pool_windows(cum[layer.name][None], layer, -1.0)[0]
                    wx = _pool_windows(xs[0], layer, 0.0)[0]
                    z = np.take_along_axis(wx, wc.argmax(-1)[..., None], -1)[..., 0]
                elif isinstance(layer, Conv2d):
                    z = conv2d(xs[0], layer.weight.astype(np.float64), layer.stride,
                               layer.padding, layer.groups, backend="numpy")[0]
                elif isinstance(layer, Pool2d):
                    z = avg_pool(xs[0], layer)[0]
                elif isinstance(layer, Dense):
                    z = layer.weight.astype(np.float64) @ xs[0][0].ravel()
                elif isinstance(layer, Flatten):
                    z = xs[0][0].ravel()
                else:
                    z = sum(x[0] for x in xs)
                bias = getattr(layer, "bias", None)
                if bias is not None and bias.size:
                    z = z + (bias.reshape(-1, 1, 1) if z.ndim == 3 else bias)
                if layer.spiking:
                    thr = np.asarray(layer.threshold, np.float64)
                    thr = thr.reshape(-1, 1, 1) if (z.ndim == 3 and thr.size > 1) else thr
                    if layer.name not in v:
                        v[layer.name] = np.zeros(z.shape) + v_init * thr
                    v[layer.name] += z
                    s = v[layer.name] >= thr
                    v[layer.name] -= thr * s
                    z = s.astype(np.float64)
                vals[layer.name] = z
                out[layer.name][t, b] = z
    return out


@pytest.mark.parametrize("pool, encoding, v_init", [
    ("max", "rate", 0.0), ("avg", "poisson", 0.5), ("max", "current", 0.0)])
def test_equals_tick_major_reference(pool, encoding, v_init):
    from snn.encoding import encode, to_unit
    net = _net(pool, v_init)
    imgs = (np.random.default_rng(1).random((3, 1, 8, 8)) * 255).astype(np.uint8)
    res = simulate(net, imgs, [5, 30], encoding=encoding, seed=2, record_layers=True,
                   dtype=np.float64, batch_size=2)
    ref = _reference(net, np.asarray(encode(to_unit(imgs), 30, encoding, 2)))
    for layer in net.layers:
        got = res.trains[layer.name]
        assert got.shape == ref[layer.name].shape
        np.testing.assert_allclose(got.astype(np.float64), ref[layer.name], atol=1e-9,
                                   err_msg=layer.name)
    out = ref["out"]
    assert np.array_equal(res.counts[1], out.sum(0))
    assert np.array_equal(res.counts[0], out[:5].sum(0))
    assert res.trains["out"].any()
    # spike counters: sums of the recorded trains
    assert np.array_equal(res.spikes["c1"][1], ref["c1"].reshape(30, 3, -1).sum((0, 2)))


def test_sops_count_input_events_times_fanout():
    w = np.array([[1.0, 0.0, 2.0], [0.5, 0.0, 0.0]], np.float32)
    net = SpikingNetwork((3,), [Dense("d", weight=w, bias=np.zeros(2, np.float32))])
    res = simulate(net, np.array([[1.0, 1.0, 0.5]]), [4], encoding="rate")
    # fan-out per input: 2, 0, 1; rate code: inputs 0 and 1 spike every tick, input 2 2x in 4
    assert res.sops["d"][0, 0] == 4 * 2 + 0 + 2 * 1
    assert res.sops_per_frame() == {4: 10.0}


def test_current_input_converges_to_relu_network():
    rng = np.random.default_rng(3)
    w1 = (rng.random((20, 10)) * 0.2).astype(np.float32)
    w2 = (rng.standard_normal((5, 20)) * 0.3).astype(np.float32)
    net = SpikingNetwork((10,), [
        Dense("h", weight=w1, bias=np.zeros(20, np.float32), threshold=np.ones(1, np.float32)),
        Dense("o", inputs=("h",), weight=w2, bias=np.zeros(5, np.float32))])
    x = rng.random((4, 10)).astype(np.float32)
    ann = np.maximum(w2 @ np.minimum(np.maximum(w1 @ x.T, 0), 1), 0).T
    res = simulate(net, x, [1000], encoding="current")
    rates = res.counts[0] / 1000
    np.testing.assert_allclose(rates, np.minimum(ann, 1), atol=0.01)
    hidden = np.minimum(np.maximum(x @ w1.T, 0), 1)
    np.testing.assert_allclose(res.potential[0] / 1000, hidden @ w2.T, atol=0.01)


def test_accuracy_and_decode_and_pool_helpers():
    net = _net("avg")
    imgs = (np.random.default_rng(5).random((4, 1, 8, 8)) * 255).astype(np.uint8)
    res = simulate(net, imgs, [10, 20], encoding="rate")
    acc = res.accuracy(np.argmax(res.counts[-1], -1))
    assert acc[20] == 1.0 and set(acc) == {10, 20}
    assert res.predictions("potential").shape == (2, 4)
    with pytest.raises(ConfigError, match="decode"):
        res.predictions("latency")
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    p = Pool2d("p", kernel=(2, 2), stride=(2, 2))
    assert max_pool(x, p)[0, 0].tolist() == [[5, 7], [13, 15]]
    assert avg_pool(x, p)[0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]


def test_refusals():
    net = _net()
    with pytest.raises(ConfigError, match="frame shape"):
        simulate(net, np.zeros((1, 1, 5, 5)), 4)
    with pytest.raises(ConfigError, match="ticks"):
        simulate(net, np.zeros((1, 1, 8, 8)), [0])
