"""Keras .h5 / .keras import (snn.converters.keras_import) without Keras.

The test models are written here with h5py in the real Keras layouts: Keras 2 HDF5
(``model_config`` root attribute holding the JSON config, ``model_weights/<layer>/`` groups
with ``layer_names`` / ``weight_names`` attributes and datasets named ``<layer>/kernel:0``)
and Keras 3 ``.keras`` zips (``config.json`` + ``model.weights.h5`` with
``layers/<layer>/vars/<i>``). The reference is an independent numpy forward pass with Keras
semantics (tensors in the layer's own data_format, TF "same" padding, Flatten order).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from snn.converters import convert, import_model
from snn.converters.graph import forward
from snn.converters.keras_files import layer, write_h5
from snn.converters.keras_import import import_keras
from snn.errors import ConversionError, UnsupportedOpError
from snn.simulate import simulate

RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------------------------
# writing Keras files
# ----------------------------------------------------------------------------------------------
def write_keras3(path: Path, layers: list[dict], weights: dict[str, list[np.ndarray]]) -> Path:
    """Keras 3 model.save('x.keras') layout (zip: config.json, model.weights.h5)."""
    k3 = []
    for la in layers:
        cfg = dict(la["config"])
        if "batch_input_shape" in cfg:
            cfg["batch_shape"] = cfg.pop("batch_input_shape")
        k3.append({"module": "keras.layers", "class_name": la["class_name"], "config": cfg,
                   "registered_name": None})
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "sequential", "layers": k3}}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        grp = f.create_group("layers")
        for la in layers:
            g = grp.create_group(la["name"]).create_group("vars")
            for i, arr in enumerate(weights.get(la["name"], [])):
                g.create_dataset(str(i), data=arr)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buf.getvalue())
    return path


# ----------------------------------------------------------------------------------------------
# numpy Keras reference (tensors in each layer's own data_format)
# ----------------------------------------------------------------------------------------------
def _same(n: int, k: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    tot = max((out - 1) * s + k - n, 0)
    return tot // 2, tot - tot // 2


def _to_nhwc(x, fmt):
    return x.transpose(0, 2, 3, 1) if fmt == "channels_first" else x


def _from_nhwc(x, fmt):
    return x.transpose(0, 3, 1, 2) if fmt == "channels_first" else x


def _windows(x, k, s, padding, fill):
    n, h, w, c = x.shape
    if padding == "same":
        (t, b), (lf, r) = _same(h, k[0], s[0]), _same(w, k[1], s[1])
        x = np.pad(x, ((0, 0), (t, b), (lf, r), (0, 0)), constant_values=fill)
    ho = (x.shape[1] - k[0]) // s[0] + 1
    wo = (x.shape[2] - k[1]) // s[1] + 1
    out = np.empty((n, ho, wo, k[0], k[1], c), x.dtype)
    for i in range(ho):
        for j in range(wo):
            out[:, i, j] = x[:, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
    return out


def keras_forward(layers: list[dict], weights: dict, x: np.ndarray) -> np.ndarray:
    """Sequential or functional (inbound_nodes) reference; x in the model's input layout."""
    vals: dict[str, np.ndarray] = {}
    prev = None
    act = {"relu": lambda v: np.maximum(v, 0), "linear": lambda v: v, None: lambda v: v,
           "softmax": lambda v: v}  # softmax dropped by the importer: compare logits
    for la in layers:
        c, cfg, name = la["class_name"], la["config"], la["name"]
        ins = [s[0] for s in la["inbound_nodes"][0]] if la.get("inbound_nodes") else (
            [prev] if prev else [])
        v = vals[ins[0]] if ins else x
        w = weights.get(name, [])
        fmt = cfg.get("data_format", "channels_last")
        if c == "InputLayer":
            y = x
        elif c == "Conv2D":
            k, s = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
            win = _windows(_to_nhwc(v, fmt), k, s, cfg["padding"], 0.0)
            y = np.einsum("nhwijc,ijco->nhwo", win, w[0]) + w[1]
            y = _from_nhwc(act[cfg["activation"]](y), fmt)
        elif c in ("MaxPooling2D", "AveragePooling2D"):
            k = tuple(cfg["pool_size"])
            s = tuple(cfg.get("strides") or k)
            win = _windows(_to_nhwc(v, fmt), k, s, cfg["padding"],
                           -np.inf if c == "MaxPooling2D" else 0.0)
            y = win.max(axis=(3, 4)) if c == "MaxPooling2D" else win.mean(axis=(3, 4))
            y = _from_nhwc(y, fmt)
        elif c == "GlobalAveragePooling2D":
            y = _to_nhwc(v, fmt).mean(axis=(1, 2))
        elif c == "Flatten":
            if cfg.get("data_format") == "channels_first" and v.ndim > 2:
                v = np.moveaxis(v, 1, -1)
            y = v.reshape(len(v), -1)
        elif c == "Dense":
            y = act[cfg["activation"]](v @ w[0] + w[1])
        elif c == "BatchNormalization":
            g, b, m, var = w
            ax = cfg["axis"][0] if isinstance(cfg["axis"], list) else cfg["axis"]
            shape = [1] * v.ndim
            shape[ax] = -1
            y = (v - m.reshape(shape)) / np.sqrt(var.reshape(shape) + cfg["epsilon"]) * \
                g.reshape(shape) + b.reshape(shape)
        elif c in ("Activation",):
            y = act[cfg["activation"]](v)
        elif c == "ReLU":
            y = np.maximum(v, 0)
        elif c == "Dropout":
            y = v
        elif c == "Add":
            y = sum(vals[s] for s in ins)
        else:
            raise AssertionError(c)
        vals[name] = y
        prev = name
    return vals[prev]


def conv_layer(name, filters, k, fmt="channels_last", padding="valid", strides=1,
               activation="relu", inbound=None, **extra):
    return layer("Conv2D", name, inbound, filters=filters, kernel_size=[k, k],
                 strides=[strides, strides], padding=padding, data_format=fmt,
                 dilation_rate=[1, 1], groups=1, activation=activation, use_bias=True, **extra)


def conv_w(k, cin, cout):
    return [RNG.normal(0, 1 / np.sqrt(k * k * cin), (k, k, cin, cout)).astype(np.float32),
            RNG.normal(0, 0.1, cout).astype(np.float32)]


def dense_w(nin, nout):
    return [RNG.normal(0, 1 / np.sqrt(nin), (nin, nout)).astype(np.float32),
            RNG.normal(0, 0.1, nout).astype(np.float32)]


def lenet(fmt: str, flatten_fmt: str) -> tuple[list[dict], dict]:
    """LeNet-5 style: two conv + max-pool stages, conv, dense, dense (softmax)."""
    shape = [None, 1, 28, 28] if fmt == "channels_first" else [None, 28, 28, 1]
    layers = [
        layer("InputLayer", "input_1", batch_input_shape=shape, dtype="float32"),
        conv_layer("conv1", 6, 5, fmt, padding="same"),
        layer("MaxPooling2D", "pool1", pool_size=[2, 2], strides=[2, 2], padding="valid",
              data_format=fmt),
        conv_layer("conv2", 16, 5, fmt),
        layer("MaxPooling2D", "pool2", pool_size=[2, 2], strides=[2, 2], padding="valid",
              data_format=fmt),
        conv_layer("conv3", 32, 3, fmt),
        layer("Flatten", "flatten", data_format=flatten_fmt),
        layer("Dense", "fc1", units=84, activation="relu", use_bias=True),
        layer("Dropout", "drop", rate=0.5),
        layer("Dense", "fc2", units=10, activation="softmax", use_bias=True),
    ]
    weights = {"conv1": conv_w(5, 1, 6), "conv2": conv_w(5, 6, 16), "conv3": conv_w(3, 16, 32),
               "fc1": dense_w(32 * 9, 84), "fc2": dense_w(84, 10)}
    return layers, weights


def _frames(n=6):
    return RNG.uniform(0, 1, (n, 1, 28, 28)).astype(np.float32)


def _graph_out(graph, x_cf):
    last = graph.nodes[-1].name
    return forward(graph, x_cf, keep={last})[last]


# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,flatten_fmt", [("channels_first", "channels_first"),
                                             ("channels_first", "channels_last"),
                                             ("channels_last", "channels_last"),
                                             ("channels_last", "channels_first")])
def test_lenet_h5_matches_numpy_keras(tmp_path, fmt, flatten_fmt):
    layers, weights = lenet(fmt, flatten_fmt)
    path = write_h5(tmp_path / "lenet.h5", layers, weights)
    graph = import_model(path, (1, 28, 28))
    assert graph.input_shape == (1, 28, 28)
    assert graph.softmax_dropped
    x = _frames()
    ref = keras_forward(layers, weights, x if fmt == "channels_first"
                        else x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(_graph_out(graph, x), ref, rtol=1e-4, atol=1e-4)


def test_flatten_order_matters(tmp_path):
    """The HWC flatten permutation is real: dropping it changes the output."""
    layers, weights = lenet("channels_first", "channels_first")
    graph = import_keras(write_h5(tmp_path / "a.h5", layers, weights))
    fc1 = graph.node("fc1").params["weight"]
    assert not np.allclose(fc1, weights["fc1"][0].T)  # columns were permuted to CHW
    idx = np.arange(32 * 9).reshape(32, 3, 3).transpose(1, 2, 0).reshape(-1)
    np.testing.assert_array_equal(fc1[:, idx], weights["fc1"][0].T)


def test_functional_bn_add_gap_same_padding_keras3(tmp_path):
    layers = [
        layer("InputLayer", "in", [], batch_input_shape=[None, 12, 12, 3], dtype="float32"),
        conv_layer("c1", 8, 3, padding="same", strides=2, activation="linear", inbound=["in"]),
        layer("BatchNormalization", "bn1", ["c1"], axis=[3], epsilon=1e-3, center=True,
              scale=True),
        layer("ReLU", "r1", ["bn1"], max_value=None, negative_slope=0.0, threshold=0.0),
        conv_layer("c2", 8, 3, padding="same", activation="relu", inbound=["r1"]),
        layer("Add", "add", ["r1", "c2"]),
        layer("Activation", "a2", ["add"], activation="relu"),
        layer("AveragePooling2D", "ap", ["a2"], pool_size=[2, 2], strides=[1, 1],
              padding="valid", data_format="channels_last"),
        layer("MaxPooling2D", "mp", ["ap"], pool_size=[3, 3], strides=[2, 2], padding="same",
              data_format="channels_last"),
        layer("GlobalAveragePooling2D", "gap", ["mp"], data_format="channels_last"),
        layer("Dense", "out", ["gap"], units=5, activation="softmax", use_bias=True),
    ]
    bn = [RNG.uniform(0.5, 1.5, 8), RNG.normal(0, 0.1, 8), RNG.normal(0, 0.1, 8),
          RNG.uniform(0.5, 2, 8)]
    weights = {"c1": conv_w(3, 3, 8), "bn1": [b.astype(np.float32) for b in bn],
               "c2": conv_w(3, 8, 8), "out": dense_w(8, 5)}
    x = RNG.uniform(0, 1, (5, 3, 12, 12)).astype(np.float32)
    ref = keras_forward(layers, weights, x.transpose(0, 2, 3, 1))
    graph = import_keras(write_h5(tmp_path / "f.h5", layers, weights, functional=True))
    assert [n.op for n in graph.nodes].count("add") == 1
    np.testing.assert_allclose(_graph_out(graph, x), ref, rtol=1e-4, atol=1e-4)
    # the same model as a Keras 3 .keras zip (Sequential can't hold the Add: use the chain)
    seq = [la for la in layers if la["name"] not in ("in", "add", "c2", "a2")]
    seq[0] = dict(seq[0])
    seq[0]["config"] = dict(seq[0]["config"], batch_input_shape=[None, 12, 12, 3])
    for la in seq:
        la.pop("inbound_nodes", None)
    sw = {k: v for k, v in weights.items() if k != "c2"}
    ref2 = keras_forward(seq, sw, x.transpose(0, 2, 3, 1))
    g3 = import_model(write_keras3(tmp_path / "m.keras", seq, sw), (3, 12, 12))
    np.testing.assert_allclose(_graph_out(g3, x), ref2, rtol=1e-4, atol=1e-4)


def test_keras3_functional_inbound_form():
    """Keras 3 inbound nodes ({"args": [keras_tensor]}) are understood."""
    from snn.converters.keras_import import _inbound

    la = {"name": "d", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
        "shape": [None, 4], "dtype": "float32", "keras_history": ["prev", 0, 0]}}],
        "kwargs": {}}]}
    assert _inbound(la) == ["prev"]


def test_unsupported_layer_named(tmp_path):
    layers = [layer("InputLayer", "input_1", batch_input_shape=[None, 8, 8, 1]),
              conv_layer("c", 4, 3),
              layer("LSTM", "my_lstm", units=3),
              layer("Dense", "d", units=2, activation="linear")]
    with pytest.raises(UnsupportedOpError, match=r"my_lstm.*'LSTM'"):
        import_keras(write_h5(tmp_path / "u.h5", layers, {"c": conv_w(3, 1, 4)}))
    layers[2] = layer("Activation", "act_tanh", activation="tanh")
    with pytest.raises(UnsupportedOpError, match="act_tanh.*'tanh'"):
        import_keras(write_h5(tmp_path / "t.h5", layers, {"c": conv_w(3, 1, 4),
                                                         "d": dense_w(36 * 4, 2)}))


def test_weights_only_file_refused(tmp_path):
    p = tmp_path / "w.h5"
    with h5py.File(p, "w") as f:
        f.create_group("dense")
    with pytest.raises(ConversionError, match="model_config"):
        import_keras(p)


def test_lenet_converts_and_spikes_close_to_ann(tmp_path):
    """Convert -> ideal SNN: prediction agreement with the numpy Keras pass at 64 ticks."""
    layers, weights = lenet("channels_first", "channels_first")
    path = write_h5(tmp_path / "lenet.h5", layers, weights)
    x = (RNG.uniform(0, 1, (40, 1, 28, 28)) > 0.6) * RNG.uniform(0, 255, (40, 1, 28, 28))
    x = x.astype(np.uint8)
    ref = keras_forward(layers, weights, x.astype(np.float32) / 255).argmax(1)
    net = convert(path, x[:20], pixel_scale=1 / 255, normalisation="max")
    res = simulate(net, x, [64, 512])
    agree = (res.predictions("potential") == ref).mean(axis=1)
    # random weights: logits are close, so a few frames flip; more ticks -> closer
    assert agree[0] >= 0.8 and agree[1] >= 0.95, agree


def test_cli_convert_h5(tmp_path, capsys):
    from snn.cli import main

    layers, weights = lenet("channels_last", "channels_last")
    path = write_h5(tmp_path / "lenet.h5", layers, weights)
    calib = (RNG.uniform(0, 255, (8, 1, 28, 28))).astype(np.float32)
    np.save(tmp_path / "calib.npy", calib)
    rc = main(["convert", str(path), "--out", str(tmp_path / "net.npz"),
               "--calib-file", str(tmp_path / "calib.npy")])
    assert rc == 0 and (tmp_path / "net.npz").exists()
    assert "conv1" in capsys.readouterr().out
