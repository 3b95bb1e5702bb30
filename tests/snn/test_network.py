"""SpikingNetwork: structure checks and the snn-net/1 file round trip of every layer kind."""

from __future__ import annotations

import numpy as np
import pytest

from snn.errors import ConversionError
from snn.network import INPUT, Add, Conv2d, Dense, Flatten, Pool2d, SpikingNetwork


def _net() -> SpikingNetwork:
    rng = np.random.default_rng(0)
    f32 = np.float32
    layers = [
        Conv2d("c1", weight=rng.normal(size=(4, 1, 3, 3)).astype(f32),
               bias=rng.normal(size=4).astype(f32), padding=(1, 1, 1, 1),
               threshold=np.array([1.0, 0.5, 2.0, 1.5], f32)),
        Conv2d("c2", inputs=("c1",), weight=rng.normal(size=(4, 4, 3, 3)).astype(f32),
               bias=np.zeros(4, f32), padding=(1, 1, 1, 1)),
        Add("add", inputs=("c2", "c1")),
        Pool2d("pool", inputs=("add",), mode="avg", kernel=(2, 2), stride=(2, 2)),
        Flatten("flat", inputs=("pool",)),
        Dense("fc", inputs=("flat",), weight=rng.normal(size=(3, 4 * 3 * 3)).astype(f32),
              bias=rng.normal(size=3).astype(f32)),
    ]
    calib = rng.integers(0, 256, (2, 1, 6, 6)).astype(np.uint8)
    return SpikingNetwork((1, 6, 6), layers, meta={"pixel_scale": 1 / 255, "v_init": 0.5,
                                                   "decode": "potential"}, calibration=calib)


def test_shapes_and_consumers():
    net = _net()
    shapes = net.shapes()
    assert shapes["c1"] == (4, 6, 6) and shapes["add"] == (4, 6, 6)
    assert shapes["pool"] == (4, 3, 3) and shapes["fc"] == (3,)
    assert net.n_classes == 3
    assert [x.name for x in net.consumers()["c1"]] == ["c2", "add"]
    assert net.consumers()[INPUT][0].name == "c1"


def test_save_load_round_trip_keeps_every_field(tmp_path):
    net = _net()
    back = SpikingNetwork.load(net.save(tmp_path / "n.npz"))
    assert back.input_shape == net.input_shape and back.meta == net.meta
    assert (back.calibration == net.calibration).all()
    for a, b in zip(net.layers, back.layers, strict=True):
        assert type(a) is type(b) and a.params() == b.params()
        assert np.array_equal(np.asarray(a.threshold, np.float32), b.threshold)
        for name in a.array_fields:
            assert np.array_equal(getattr(a, name), getattr(b, name)), (a.name, name)


def test_structure_errors_name_the_layer():
    net = _net()
    with pytest.raises(ConversionError, match="'fc'.*not an earlier layer"):
        SpikingNetwork(net.input_shape, [net.layers[-1], *net.layers[:-1]])
    dup = [*net.layers[:2], Dense("c1", inputs=("c2",), weight=np.zeros((2, 144), np.float32),
                                  bias=np.zeros(2, np.float32))]
    with pytest.raises(ConversionError, match="'c1' is used twice"):
        SpikingNetwork(net.input_shape, dup)
    bad = Dense("fc", inputs=("flat",), weight=np.zeros((3, 5), np.float32),
                bias=np.zeros(3, np.float32))
    with pytest.raises(ConversionError, match="'fc'.*takes 5 inputs"):
        SpikingNetwork(net.input_shape, [*net.layers[:-1], bad])
