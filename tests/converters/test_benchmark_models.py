"""The issue-17 benchmark models: the raw-pixel ONNX export of the max-pool MNIST CNN and
the ResNet-8 export convert to the structures the core compiler maps (small, untrained)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


def test_mnist_cnn_raw_pixel_export_matches_scaled_model(tmp_path) -> None:
    from train_mnist_maxpool_cnn import export_raw_input, make_model

    torch.manual_seed(0)
    m = make_model()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_var.uniform_(0.5, 1.5)
            mod.running_mean.uniform_(-0.2, 0.2)
    m.eval()
    w0 = m[0].weight.detach().clone()
    path = tmp_path / "m.onnx"
    export_raw_input(m, path)
    assert torch.equal(m[0].weight, w0)  # the export scales a copy
    x = np.random.default_rng(0).integers(0, 256, (4, 1, 28, 28)).astype(np.float32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    with torch.no_grad():
        want = m(torch.from_numpy(x / 255.0)).numpy()
    assert np.allclose(got, want, atol=1e-4)
    from snn.converters import convert
    from snn.network import Pool2d
    net = convert(path, x.astype(np.uint8), pixel_scale=1.0)
    assert [p.mode for p in net.layers if isinstance(p, Pool2d)] == ["max"] * 3


def test_resnet8_export_has_identity_and_projection_adds(tmp_path) -> None:
    from train_fashion_resnet import ResNet8, export_onnx

    from snn.converters import convert
    from snn.network import Add, Conv2d

    torch.manual_seed(0)
    path = tmp_path / "r.onnx"
    export_onnx(ResNet8(), path)
    x = np.random.default_rng(1).integers(0, 256, (8, 1, 28, 28)).astype(np.uint8)
    net = convert(path, x)
    adds = [layer for layer in net.layers if isinstance(layer, Add)]
    assert len(adds) == 3 and all(a.spiking for a in adds)
    by = {layer.name: layer for layer in net.layers}
    kernels = [[by[s].weight.shape[2:] for s in a.inputs if isinstance(by[s], Conv2d)]
               for a in adds]
    # block 1: conv3x3 + identity (1x1 depthwise ones); blocks 2, 3: conv3x3 + 1x1 projection
    assert all(sorted(k) == [(1, 1), (3, 3)] for k in kernels)
