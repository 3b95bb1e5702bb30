"""Binarized spiking layers: quantisers, surrogate, BN folding, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snn.converters.binarized import (
    ChannelShuffle,
    FrameNet,
    TemporalBSNN,
    clip_latent_weights,
    fold_bn_threshold,
    quantize_weight,
    spike,
)
from snn.converters.binarized_export import export_frame, export_temporal
from snn.network import SpikingNetwork

ARCH = [("conv", 8, 3, 2, 1, 1), ("shuffle", 2), ("conv", 8, 3, 1, 1, 2), ("flatten",),
        ("readout", 4, 40)]


def test_quantizers_values_and_ste():
    w = torch.tensor([-1.5, -0.3, -0.01, 0.0, 0.02, 0.7, 2.0], requires_grad=True)
    b = quantize_weight(w, "binary")
    assert b.tolist() == [-1, -1, -1, 1, 1, 1, 1]
    t = quantize_weight(w, "ternary", delta=0.05)
    assert t.tolist() == [-1, -1, 0, 0, 0, 1, 1]
    b.sum().backward()
    # clipped STE: gradient 1 inside [-1, 1], 0 outside
    assert w.grad.tolist() == [0, 1, 1, 1, 1, 1, 0]
    with pytest.raises(ValueError):
        quantize_weight(w, "quaternary")


def test_clip_latent_weights_keeps_every_weight_trainable():
    m = FrameNet(ARCH, (1, 12, 12), [64, 128, 192], "bsnn")
    d = FrameNet(ARCH, (1, 12, 12), [64, 128, 192], "dnn")
    with torch.no_grad():
        for p in list(m.parameters()) + list(d.parameters()):
            p.mul_(5.0)
    before = [p.clone() for p in d.parameters()]
    q_before = [b.op.qweight().clone() for b in m.layers if hasattr(b, "op")]
    clip_latent_weights(m)
    clip_latent_weights(d)  # float weights: untouched
    assert all(torch.equal(a, b) for a, b in zip(before, d.parameters(), strict=True))
    ops = [b.op for b in m.layers if hasattr(b, "op")]
    assert all(float(op.weight.detach().abs().max()) <= 1.0 for op in ops)
    # the binary values are unchanged and every latent weight gets a gradient again
    assert all(torch.equal(a, op.qweight()) for a, op in zip(q_before, ops, strict=True))
    m.layers[-1].op.qweight().sum().backward()
    assert bool((m.layers[-1].op.weight.grad != 0).all())


def test_spike_heaviside_and_surrogate():
    u = torch.tensor([-1.0, 0.0, 0.5], requires_grad=True)
    s = spike(u, 1.0)
    assert s.tolist() == [0.0, 1.0, 1.0]
    s.sum().backward()
    expect = 1.0 / (1.0 + (np.pi * u.detach().numpy()) ** 2)
    np.testing.assert_allclose(u.grad.numpy(), expect, rtol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_bn_fold_is_exact_on_every_integer(seed):
    g = torch.Generator().manual_seed(seed)
    n, fan_in = 32, 20
    bn = nn.BatchNorm1d(n)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(n, generator=g))
        bn.weight[0] = 0.0  # constant neuron
        bn.bias.copy_(torch.randn(n, generator=g) * 3)
        bn.running_mean.copy_(torch.randn(n, generator=g) * 4)
        bn.running_var.copy_(torch.rand(n, generator=g) * 5 + 0.1)
    bn.eval()
    theta, flip = fold_bn_threshold(bn, fan_in)
    z = torch.arange(-fan_in, fan_in + 1, dtype=torch.float32)
    zz = z.view(-1, 1).expand(-1, n)
    want = (bn(zz) >= 0).numpy()
    got = (zz.numpy() * flip >= theta)
    assert np.array_equal(got, want)
    assert np.all(np.abs(theta) <= fan_in + 1)


def test_channel_shuffle_permutation_matches_forward():
    sh = ChannelShuffle(3)
    x = torch.arange(12.0).view(1, 12, 1, 1)
    y = sh(x).view(-1).numpy()
    assert np.array_equal(y, sh.permutation(12))


def _trained_like(arch=ARCH, seed=0, kind="bsnn", weights="binary") -> FrameNet:
    torch.manual_seed(seed)
    m = FrameNet(arch, (1, 12, 12), [64, 128, 192], kind, weights)
    m.train()
    imgs = torch.randint(0, 256, (32, 1, 12, 12)).float()
    for _ in range(2):
        m(imgs)
    return m


def test_training_step_and_flavours():
    for kind in ("dnn", "bnn", "bsnn"):
        m = _trained_like(kind=kind)
        out = m(torch.randint(0, 256, (8, 1, 12, 12)).float())
        assert out.shape == (8, 4)
        out.sum().backward()
        grads = [p.grad for p in m.parameters() if p.requires_grad]
        assert all(g is not None for g in grads)


def test_freeze_export_roundtrip(tmp_path):
    m = _trained_like()
    m.freeze()
    imgs = torch.randint(0, 256, (16, 1, 12, 12)).float()
    scores, spikes = m.integer_forward(imgs)
    assert torch.equal(scores, torch.round(scores))
    assert len(spikes) == 2 and all(set(s.unique().tolist()) <= {0.0, 1.0} for s in spikes)
    net = export_frame(m)
    assert net.meta["binarized"] and net.meta["binarized_mode"] == "frame"
    for layer in net.layers:
        if hasattr(layer, "weight"):
            assert set(np.unique(layer.weight)) <= {-1.0, 0.0, 1.0}
    path = net.save(tmp_path / "b.npz")
    again = SpikingNetwork.load(path)
    assert again.meta["thermometer_levels"] == [64, 128, 192]
    assert again.shapes() == net.shapes()


def test_export_refuses_unfrozen_and_float():
    from snn.errors import ConversionError

    with pytest.raises(ConversionError, match="freeze"):
        export_frame(_trained_like())
    with pytest.raises(ConversionError, match="bsnn"):
        export_frame(_trained_like(kind="dnn"))


def test_temporal_pipeline_delay_and_bptt():
    torch.manual_seed(0)
    m = TemporalBSNN(ARCH, (2, 8, 8), theta0=1.0)
    x = torch.zeros(2, 6, 2, 8, 8)
    x[:, 2] = 1.0  # one volley at tick 2
    scores, trains = m(x, record=True)
    n_sp = len(m.spiking_layers())
    assert len(trains) == n_sp and trains[0].shape[1] == 6 + n_sp - 1
    for li, tr in enumerate(trains):  # layer li cannot fire before tick 2 + li
        assert tr[:, :2 + li].sum() == 0
    loss = scores.sum()
    loss.backward()
    assert m.spiking_layers()[0].theta.grad is not None
    net = export_temporal(m)
    assert net.meta["binarized_mode"] == "temporal"
    assert net.meta["readout_groups"] == m.n_blocks
