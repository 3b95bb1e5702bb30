"""torch models made here -> SpikingNetwork: exact import, SNN approaches the ANN, refusals."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from snn.converters import ann_predict, convert, import_model  # noqa: E402
from snn.converters.fold import fold_batchnorm, simplify  # noqa: E402
from snn.converters.graph import forward  # noqa: E402
from snn.converters.torch_import import load_torch  # noqa: E402
from snn.errors import ConversionError, UnsupportedOpError  # noqa: E402
from snn.simulate import simulate  # noqa: E402


def _images(n=64, shape=(1, 12, 12), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, *shape)) * 255).astype(np.uint8)


def _bn_warm(model, x):
    """Give BatchNorm layers non-trivial running statistics, then switch to eval."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.from_numpy(x))
    return model.eval()


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 3, padding=1)
        self.a = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.b = nn.Conv2d(6, 6, 1)
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.fc = nn.Linear(54, 5)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = nn.functional.relu(self.bn(self.a(x)) + self.b(x))
        x = self.pool(x)
        return self.fc(x.view(x.size(0), -1))


def _models():
    torch.manual_seed(0)
    cnn_max = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, stride=2, groups=2), nn.BatchNorm2d(8),
        nn.ReLU(), nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 5))
    cnn_avg = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding="same"), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(8, 8, 3), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
        nn.Flatten(), nn.Linear(32, 5), nn.Identity())
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(144, 32), nn.BatchNorm1d(32), nn.ReLU(),
                        nn.Linear(32, 5), nn.Softmax(dim=1))
    return {"cnn_max": cnn_max, "cnn_avg": cnn_avg, "mlp": mlp, "residual": Residual()}


@pytest.mark.parametrize("name", ["cnn_max", "cnn_avg", "mlp", "residual"])
def test_import_is_exact_and_snn_approaches_ann(name):
    x = _images()
    model = _bn_warm(_models()[name], x.astype(np.float32) / 255)
    graph = simplify(fold_batchnorm(import_model(model, x.shape[1:])))
    ours = forward(graph, x.astype(np.float32) / 255)[graph.nodes[-1].name]
    with torch.no_grad():
        theirs = model(torch.from_numpy(x.astype(np.float32) / 255)).numpy()
    if name == "mlp":  # the final softmax is dropped
        theirs = np.log(theirs)
        ours = ours - np.log(np.exp(ours).sum(1, keepdims=True))
    np.testing.assert_allclose(ours, theirs, atol=2e-4)

    net = convert(model, x[:48], pixel_scale=1 / 255)
    assert net.meta["pixel_scale"] == pytest.approx(1 / 255)
    logits = forward(graph, x[48:].astype(np.float32) / 255)[graph.nodes[-1].name]
    lam = net.meta["normalisation"]["lambda"][net.layers[-1].name][0]
    res = simulate(net, x[48:], [16, 512])
    err = [np.abs(res.potential[k] / t * lam - logits).mean() for k, t in enumerate(res.ticks)]
    scale = np.abs(logits).mean()
    assert err[1] < err[0]
    assert err[1] < 0.1 * scale, (err, scale)
    agree = (res.predictions("potential")[1] == logits.argmax(1)).mean()
    assert agree >= 0.75


def test_maxpool_as_avg_only_when_asked():
    x = _images()
    model = _models()["cnn_max"].eval()
    gated = convert(model, x, pixel_scale=1 / 255)
    avg = convert(model, x, pixel_scale=1 / 255, maxpool="avg")
    assert [lay.mode for lay in gated.layers if lay.kind == "pool2d"] == ["max"]
    assert [lay.mode for lay in avg.layers if lay.kind == "pool2d"] == ["avg"]
    assert avg.meta["maxpool"] == "avg"


def test_ann_predict_and_torch_file(tmp_path):
    x = _images(8)
    model = _models()["cnn_avg"].eval()
    path = tmp_path / "m.pt"
    torch.save(model, path)
    with torch.no_grad():
        ref = model(torch.from_numpy(x.astype(np.float32) / 255)).numpy()
    np.testing.assert_allclose(ann_predict(path, x), ref, atol=1e-5)
    net = convert(path, x, pixel_scale=1 / 255, channel_wise=True, v_init=0.5)
    assert net.meta["v_init"] == 0.5 and net.meta["normalisation"]["channel_wise"]


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(144, 4)

    def forward(self, x):
        return torch.sigmoid(self.fc(x.flatten(1)))


def test_refusals(tmp_path):
    x = _images(4)
    with pytest.raises(UnsupportedOpError, match=r"node \d+ 'sigmoid'.*sigmoid"):
        convert(Odd(), x)
    with pytest.raises(UnsupportedOpError, match="Tanh"):
        convert(nn.Sequential(nn.Flatten(), nn.Linear(144, 4), nn.Tanh()), x)
    with pytest.raises(ConversionError, match="BatchNorm .* follows"):
        convert(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2), nn.Flatten(),
                              nn.Linear(200, 3)).eval(), x)
    sd = tmp_path / "sd.pt"
    torch.save(nn.Linear(2, 2).state_dict(), sd)
    with pytest.raises(ConversionError, match="state_dict"):
        convert(sd, x)
    ts = tmp_path / "ts.pt"
    torch.jit.script(nn.Sequential(nn.Flatten(), nn.Linear(144, 3))).save(str(ts))
    with pytest.raises(ConversionError, match="TorchScript"):
        convert(ts, x)
    bad = nn.Sequential(nn.Flatten(), nn.Linear(144, 3))
    with torch.no_grad():
        bad[1].weight[0, 0] = float("nan")
    with pytest.raises(ConversionError, match="NaN"):
        convert(bad, x)
    with pytest.raises(ConversionError, match="unknown model file"):
        convert(tmp_path / "model.caffemodel", x)


class _Evil:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_pickle_with_code_is_not_run(tmp_path, capsys, how):
    import pickle

    from snn.cli import main

    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt"
    if how == "torch.save":
        torch.save(_Evil(marker), evil)
    else:
        evil.write_bytes(pickle.dumps(_Evil(marker)))
    x = _images(4)
    with pytest.raises(ConversionError, match="--trust-pickle") as exc:
        convert(evil, x)
    assert not marker.exists(), "the pickle's code ran"
    msg = str(exc.value)
    assert "would run code" in msg and "ONNX" in msg and "state_dict" in msg
    with pytest.raises(ConversionError, match="trust"):
        ann_predict(evil, x)
    assert not marker.exists()
    calib = tmp_path / "calib.npy"
    np.save(calib, x)
    assert main(["convert", str(evil), "--calib-file", str(calib), "--out",
                 str(tmp_path / "n.npz")]) == 1
    assert "--trust-pickle" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "n.npz").exists()


def test_custom_module_needs_trust_pickle_stock_layers_do_not(tmp_path):
    x = _images(8)
    stock = tmp_path / "stock.pt"
    torch.save(_models()["cnn_max"].eval(), stock)  # Sequential of stock layers
    assert isinstance(load_torch(stock), nn.Sequential)
    custom = tmp_path / "residual.pt"
    torch.save(Residual().eval(), custom)
    with pytest.raises(ConversionError, match="trust_pickle=True"):
        load_torch(custom)
    net = convert(custom, x, trust_pickle=True)
    assert net.n_classes == 5


def test_channel_wise_keeps_one_readout_scale():
    """Channel-wise normalisation scales hidden neurons one by one, never the readout's
    classes: a scale per class would change which class wins (the argmax of the decoded
    potential)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    with torch.no_grad():
        model[3].weight[0] *= 8.0  # class 0's logits live on a far larger scale
    x = _images(96)
    net = convert(model, x[:48], pixel_scale=1 / 255, channel_wise=True)
    assert len(net.meta["normalisation"]["lambda"][net.layers[-1].name]) == 1
    assert len(net.meta["normalisation"]["lambda"][net.layers[-2].name]) == 32
    with torch.no_grad():
        want = model(torch.from_numpy(x[48:].astype(np.float32) / 255)).numpy().argmax(1)
    res = simulate(net, x[48:], [256])
    assert (res.predictions("potential")[0] == want).mean() >= 0.9
