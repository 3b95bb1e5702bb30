"""Data-based normalisation: the weights and biases a converted layer gets are the ANN's,
rescaled by the activation scales measured on the calibration frames (W' = W s_in / s_out,
b' = b / s_out), per layer or per neuron, with one scale for the readout."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snn.converters import convert  # noqa: E402
from snn.converters.normalise import activation_scale  # noqa: E402


def _mlp():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(),
                            torch.nn.Linear(8, 3))
    return m.eval()


def _calib() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (64, 1, 4, 4)).astype(np.uint8)


def _hidden(model, calib: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = torch.tensor(calib, dtype=torch.float32).reshape(len(calib), -1) / 255
        return torch.relu(model[1](x)).numpy(), model(x).numpy()


def test_activation_scale_percentile_and_dead_channels():
    acts = np.zeros((10, 3))
    acts[:, 0] = np.arange(10)
    acts[:, 1] = -1.0  # never positive: falls back to the layer's scale
    acts[:, 2] = 2.0
    per = activation_scale(acts, 100.0, channel_wise=True)
    assert per.tolist() == [9.0, 9.0, 2.0]
    assert activation_scale(acts, 100.0, channel_wise=False).tolist() == [9.0]


@pytest.mark.parametrize("mode", ["none", "dense"])
def test_weights_are_rescaled_by_the_measured_scales(mode):
    model, calib = _mlp(), _calib()
    net = convert(model, calib, normalisation="max", channel_wise=mode, v_init=0.0)
    h, logits = _hidden(model, calib)
    lam1 = h.max(0) if mode == "dense" else np.full(8, h.max())
    lam1 = np.where(lam1 > 0, lam1, h.max())
    w1 = model[1].weight.detach().numpy()
    b1 = model[1].bias.detach().numpy()
    fc1, fc2 = (layer for layer in net.layers if layer.kind == "dense")
    np.testing.assert_allclose(fc1.weight, w1 / lam1[:, None], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fc1.bias, b1 / lam1, rtol=1e-5, atol=1e-6)
    # the readout keeps one scale, so the argmax of its input is the ANN's
    w2 = model[3].weight.detach().numpy()
    ratio = fc2.weight / (w2 * lam1[None, :])
    assert np.allclose(ratio, ratio.flat[0], rtol=1e-4)


def test_max_normalisation_keeps_calibration_rates_at_most_one():
    model, calib = _mlp(), _calib()
    net = convert(model, calib, normalisation="max", channel_wise="dense", v_init=0.0)
    fc1 = next(layer for layer in net.layers if layer.kind == "dense")
    x = calib.reshape(len(calib), -1) / 255.0
    rate = np.maximum(x @ fc1.weight.T + fc1.bias, 0) / np.asarray(fc1.threshold)
    assert rate.max() == pytest.approx(1.0, rel=1e-5)
