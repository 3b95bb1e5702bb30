"""ONNX graphs built here (onnx.helper) -> SpikingNetwork: exact import, refusals."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from snn.converters import ann_predict, convert, import_model  # noqa: E402
from snn.converters.fold import fold_batchnorm, simplify  # noqa: E402
from snn.converters.graph import forward  # noqa: E402
from snn.errors import ConversionError, UnsupportedOpError  # noqa: E402
from snn.simulate import simulate  # noqa: E402

RNG = np.random.default_rng(0)


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def _keras_like_cnn(batch="N", h_dim=10, extra_nodes=(), nan=False):
    """tf2onnx-style: NHWC input, Transpose, Conv SAME_UPPER stride 2, BN, Relu, MaxPool,
    AveragePool, Transpose back, Reshape [-1, F], MatMul + Add, Relu, Gemm, Softmax; the Gemm
    weight is produced by Reshape of an initializer."""
    w1 = RNG.standard_normal((6, 2, 3, 3)) * 0.4
    if nan:
        w1[0, 0, 0, 0] = np.nan
    inits = [
        _init("w1", w1), _init("b1", RNG.standard_normal(6) * 0.1),
        _init("g", 1 + RNG.random(6) * 0.2), _init("beta", RNG.standard_normal(6) * 0.1),
        _init("mean", RNG.standard_normal(6) * 0.1), _init("var", 0.5 + RNG.random(6)),
        _init("w2", RNG.standard_normal((6 * 2 * 2, 16)) * 0.3), _init("b2", RNG.random(16) * .1),
        _init("w3flat", RNG.standard_normal(16 * 4) * 0.4), _init("b3", np.zeros(4)),
        numpy_helper.from_array(np.array([-1, 24], np.int64), "shape1"),
        numpy_helper.from_array(np.array([4, 16], np.int64), "shape3"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2], name="to_nchw"),
        helper.make_node("Conv", ["xt", "w1", "b1"], ["c1"], auto_pad="SAME_UPPER",
                         strides=[1, 1], name="conv1"),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mean", "var"], ["bn1"],
                         epsilon=1e-3, name="bn1"),
        helper.make_node("Relu", ["bn1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[0, 0, 1, 1], name="pool1"),
        helper.make_node("AveragePool", ["p1"], ["p2"], kernel_shape=[2, 2], strides=[2, 2],
                         name="pool2"),
        helper.make_node("Dropout", ["p2"], ["d"], name="drop"),
        helper.make_node("Transpose", ["d"], ["dt"], perm=[0, 2, 3, 1], name="to_nhwc"),
        helper.make_node("Reshape", ["dt", "shape1"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "w2"], ["m2"], name="dense"),
        helper.make_node("Add", ["m2", "b2"], ["a2"], name="dense_bias"),
        helper.make_node("Relu", ["a2"], ["r2"], name="relu2"),
        helper.make_node("Reshape", ["w3flat", "shape3"], ["w3"], name="w3_reshape"),
        helper.make_node("Gemm", ["r2", "w3", "b3"], ["logits"], transB=1, name="out"),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1, name="softmax"),
    ]
    nodes[1:1] = list(extra_nodes)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, h_dim, 10, 2])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, 4])
    graph = helper.make_graph(nodes, "keras_like", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _frames(n=40):
    return (RNG.random((n, 2, 10, 10)) * 255).astype(np.uint8)


def test_keras_like_import_matches_onnxruntime(tmp_path):
    model = _keras_like_cnn()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    x = _frames()
    probs = ann_predict(path, x)
    assert probs.shape == (40, 4)
    graph = simplify(fold_batchnorm(import_model(path, x.shape[1:])))
    logits = forward(graph, x.astype(np.float32) / 255)[graph.nodes[-1].name]
    ours = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(ours, probs, atol=1e-5)
    assert [n.op for n in graph.nodes] == ["conv", "relu", "pool", "pool", "flatten", "dense",
                                           "relu", "dense"]

    net = convert(path, x[:30])
    res = simulate(net, x[30:], [16, 512], encoding="current")
    lam = net.meta["normalisation"]["lambda"]["out"][0]
    ref = forward(graph, x[30:].astype(np.float32) / 255)["out"]
    err = [np.abs(res.potential[k] / t * lam - ref).mean() for k, t in enumerate(res.ticks)]
    assert err[1] < err[0] and err[1] < 0.1 * np.abs(ref).mean()
    saved = net.save(tmp_path / "net.npz")
    assert saved.exists()


def test_symbolic_and_fixed_batch(tmp_path):
    for batch in ("batch", 5):
        path = tmp_path / f"m{batch}.onnx"
        onnx.save(_keras_like_cnn(batch=batch), path)
        net = convert(path, _frames(5))
        assert net.input_shape == (2, 10, 10)


def test_global_average_pool_gemm_flatten_constant(tmp_path):
    nodes = [
        helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(
            (RNG.standard_normal((4, 1, 3, 3)) * 0.5).astype(np.float32))),
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], axis=1, name="flat"),
        helper.make_node("Identity", ["f"], ["fi"], name="id"),
        helper.make_node("Gemm", ["fi", "w2", "b2"], ["y"], name="fc", alpha=0.5),
    ]
    inits = [_init("w2", RNG.standard_normal((4, 3))), _init("b2", [0.1, 0, -0.1])]
    g = helper.make_graph(nodes, "gap", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 1, 6, 6])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, ["N", 3])], inits)
    path = tmp_path / "gap.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    x = (RNG.random((6, 1, 6, 6)) * 255).astype(np.uint8)
    graph = import_model(path, x.shape[1:])
    ours = forward(graph, x.astype(np.float32) / 255)["fc"]
    np.testing.assert_allclose(ours, ann_predict(path, x), atol=1e-5)
    net = convert(path, x)
    assert [lay.kind for lay in net.layers] == ["conv2d", "pool2d", "flatten", "dense"]


def _save(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    onnx.save(model, path)
    return path


def test_refuses_unsupported_op_before_work(tmp_path):
    extra = [helper.make_node("Sigmoid", ["xt"], ["sg"], name="my_sigmoid")]
    model = _keras_like_cnn(extra_nodes=extra)
    with pytest.raises(UnsupportedOpError, match=r"node 1 'my_sigmoid'.*'Sigmoid'.*ReLU"):
        convert(_save(model, tmp_path), _frames(4))


def test_refuses_not_onnx(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"this is not a protobuf \x00\xff" * 10)
    with pytest.raises(ConversionError, match="not an ONNX model"):
        convert(path, _frames(4))


def test_refuses_uninferable_shape(tmp_path):
    with pytest.raises(ConversionError, match="cannot be inferred"):
        convert(_save(_keras_like_cnn(h_dim="H"), tmp_path), _frames(4))


def test_refuses_nan_weights(tmp_path):
    with pytest.raises(ConversionError, match="'w1' holds NaN"):
        convert(_save(_keras_like_cnn(nan=True), tmp_path), _frames(4))


def test_refuses_inner_softmax_and_bad_reshape(tmp_path):
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="sm"),
             helper.make_node("Flatten", ["s"], ["f"], name="fl"),
             helper.make_node("MatMul", ["f", "w"], ["y"], name="mm")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 1, 4, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, ["N", 2])], [_init("w", np.ones((16, 2)))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(UnsupportedOpError, match="Softmax is only dropped"):
        convert(_save(m, tmp_path), np.zeros((2, 1, 4, 4), np.uint8))
    nodes = [helper.make_node("Reshape", ["x", "s"], ["r"], name="rs"),
             helper.make_node("MatMul", ["r", "w"], ["y"], name="mm")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 1, 4, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, ["N", 4, 2])],
        [_init("w", np.ones((4, 2))), numpy_helper.from_array(np.array([-1, 4, 4], np.int64),
                                                               "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(UnsupportedOpError, match="Reshape of an activation"):
        convert(_save(m, tmp_path, "r.onnx"), np.zeros((2, 1, 4, 4), np.uint8))


def test_input_without_shape_is_named_not_called_rank_1(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)  # no shape at all
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]))
    path = tmp_path / "noshape.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ConversionError, match="declares no shape") as exc:
        import_model(path, (1, 8, 8))
    assert "rank 1" not in str(exc.value)
