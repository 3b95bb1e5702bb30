"""QCFS activation, ReLU swap, stock clips and their conversion (clip = threshold)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from snn.converters import convert, import_model  # noqa: E402
from snn.converters.qcfs import QCFS, from_stock, lambdas, qcfs_reference, swap_relus, to_stock  # noqa: E402
from snn.converters.torch_import import load_torch  # noqa: E402
from snn.errors import ConversionError, UnsupportedOpError  # noqa: E402
from snn.simulate import simulate  # noqa: E402


def _images(n=48, shape=(1, 6, 6), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, *shape)) * 255).astype(np.uint8)


@pytest.mark.parametrize("levels,lam", [(1, 0.7), (4, 1.3), (8, 2.0)])
def test_forward_is_the_formula_and_floor_passes_gradient(levels, lam):
    x = torch.linspace(-1.0, 3.0, 997, dtype=torch.float32, requires_grad=True)
    q = QCFS(levels, lam)
    y = q(x)
    ref = qcfs_reference(x.detach().double().numpy(), levels, lam)
    assert np.allclose(y.detach().numpy(), ref, atol=1e-5)
    assert len(np.unique(np.round(y.detach().numpy(), 5))) == levels + 1
    y.sum().backward()
    g = x.grad.numpy()
    xs = x.detach().numpy()
    inside = (xs > 0.05) & (xs < lam - lam / levels)
    assert np.allclose(g[inside], 1.0)           # straight through the floor
    assert np.allclose(g[(xs < -lam / levels) | (xs > lam + lam / levels)], 0.0)  # clamped
    assert q.lam.grad is not None and float(q.lam.grad) != 0.0


class _Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(),
                                      nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 2 * 2, 5))

    def forward(self, x):
        return self.head(self.features(x))


def test_swap_relus_in_nested_modules_sets_lambda_from_calibration():
    torch.manual_seed(0)
    model = _Nested().eval()
    x = torch.from_numpy(_images()).float() / 255
    with torch.no_grad():
        pre = model.features[0](x)
    swap_relus(model, levels=4, calib=x, percentile=99.0)
    lam = lambdas(model)
    assert set(lam) == {"features.1", "features.2.1"}
    pos = pre[pre > 0].numpy()
    assert lam["features.1"] == pytest.approx(float(np.percentile(pos, 99.0)), rel=1e-5)
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())


def test_functional_relu_cannot_be_swapped():
    class F(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return torch.relu(self.fc(x))

    with pytest.raises(ConversionError, match="nn.ReLU modules"):
        swap_relus(F(), levels=4)


def _qcfs_mlp(levels, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 20), nn.ReLU(), nn.Linear(20, 5))
    swap_relus(model, levels, torch.from_numpy(_images()).float() / 255)
    return model.eval()


def test_stock_file_loads_weights_only_and_clip_is_the_threshold(tmp_path):
    model = _qcfs_mlp(4)
    lam = lambdas(model)["2"]
    path = tmp_path / "q.pt"
    torch.save(to_stock(model), path)
    loaded = load_torch(path)  # weights-only: stock layers only
    assert isinstance(loaded[2], nn.Hardtanh) and loaded[2].max_val == pytest.approx(lam)
    graph = import_model(str(path), (1, 6, 6))
    relu = [n for n in graph.nodes if n.op == "relu"][0]
    assert relu.params["clip"] == pytest.approx(lam)
    # a calibration set whose activations never reach lambda: the clip wins anyway
    net = convert(str(path), np.zeros((4, 1, 6, 6), np.uint8) + 10)
    assert net.meta["normalisation"]["lambda"]["1"] == pytest.approx([lam])
    back = from_stock(loaded, 4)
    assert isinstance(back[2], QCFS) and back[2].levels == 4


@pytest.mark.parametrize("levels", [2, 4, 8])
def test_snn_at_t_equals_l_matches_qcfs_ann(levels, tmp_path):
    """One QCFS hidden layer, analog input (current), v_init 0.5: the IF neuron's spike
    count in T = L ticks is exactly floor(T a / lambda + 0.5) clamped to 0..T, so the
    readout's decoded value equals the QCFS ANN's logits up to float32 rounding (tested:
    1e-4 of the largest logit)."""
    model = _qcfs_mlp(levels, seed=levels)
    x = _images(64, seed=levels + 1)
    with torch.no_grad():
        want = model(torch.from_numpy(x).float() / 255).numpy()
    path = tmp_path / "q.pt"
    torch.save(to_stock(model), path)
    net = convert(str(path), x[:32], v_init=0.5)
    res = simulate(net, x, [levels], encoding="current", progress=False)
    s_out = net.meta["normalisation"]["lambda"][net.layers[-1].name][0]
    got = res.potential[0] * s_out / levels
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert (got.argmax(1) == want.argmax(1)).all()


def test_onnx_clip_is_read_as_threshold(tmp_path):
    pytest.importorskip("onnx")
    model = to_stock(_qcfs_mlp(4))
    lam = float(model[2].max_val)
    path = tmp_path / "q.onnx"
    torch.onnx.export(model, torch.zeros(1, 1, 6, 6), str(path), dynamo=False)
    net = convert(str(path), _images(16))
    assert net.meta["normalisation"]["lambda"][net.layers[1].name] == pytest.approx([lam])


def test_refusals(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 4), nn.Hardtanh(-1.0, 1.0),
                          nn.Linear(4, 2))
    with pytest.raises(UnsupportedOpError, match=r"clip to \[-1.0, 1.0\].*clamp\(x, 0"):
        import_model(model, (1, 6, 6))
    with pytest.raises(ConversionError, match="no nn.Hardtanh"):
        from_stock(nn.Sequential(nn.Linear(2, 2)), 4)
    with pytest.raises(ConversionError, match="levels must be >= 1"):
        QCFS(0)
