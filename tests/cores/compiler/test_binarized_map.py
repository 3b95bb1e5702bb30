"""Binarized networks on cores: the engine's spikes equal the torch forward pass bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snn.converters.binarized import FrameNet, TemporalBSNN  # noqa: E402
from snn.converters.binarized_export import export_frame, export_temporal  # noqa: E402
from snn.cores.compiler.binarized_map import (  # noqa: E402
    RELAY,
    compile_binarized,
    decode_scores,
    event_inputs,
    frame_inputs,
    thermometer_encode,
)
from snn.cores.engine import run  # noqa: E402
from snn.cores.hardware.spec import CoreSpec  # noqa: E402
from snn.errors import CompileError  # noqa: E402
from snn.network import Dense, SpikingNetwork  # noqa: E402

LEVELS = [64, 128, 192]
ARCH = [("conv", 8, 3, 2, 1, 1), ("shuffle", 2), ("conv", 12, 3, 1, 1, 2), ("shuffle", 3),
        ("conv", 6, 3, 2, 1, 3), ("flatten",), ("readout", 5, 40)]


def _frame_net(weights: str, seed: int, arch: list | None = None) -> FrameNet:
    torch.manual_seed(seed)
    m = FrameNet(arch or ARCH, (1, 12, 12), LEVELS, "bsnn", weights)
    m.train()
    imgs = torch.randint(0, 256, (32, 1, 12, 12)).float()
    for _ in range(2):
        m(imgs)
    g = torch.Generator().manual_seed(seed)
    for layer in m.layers:  # spread the thresholds: some <= 0 (bias axon, relays)
        if hasattr(layer, "bn"):
            layer.bn.bias.data = torch.randn(layer.bn.bias.shape, generator=g) * 1.5
    return m.freeze()


@pytest.mark.parametrize("weights,seed", [("binary", 0), ("ternary", 1)])
def test_frame_mode_exact(weights, seed):
    m = _frame_net(weights, seed)
    imgs = np.random.default_rng(seed).integers(0, 256, (12, 1, 12, 12), dtype=np.uint8)
    scores, spikes = m.integer_forward(torch.as_tensor(imgs, dtype=torch.float32))
    net = export_frame(m)
    prog = compile_binarized(net, CoreSpec.truenorth(), readout_ticks=4)
    prog.validate(CoreSpec.truenorth())
    nl, ne = prog.extras["neuron_layer"], prog.extras["neuron_element"]
    assert (nl == RELAY).any(), "test should exercise bias relays"
    ticks = int(prog.extras["latency_ticks"])
    r = run(prog, ticks, frame_inputs(prog, thermometer_encode(imgs, LEVELS)), record="full")
    f_total = net.layers[-1].weight.shape[1]
    # readout counts = integer scores + F, so decisions are the same (ties: lowest index)
    assert np.array_equal(r.outputs, scores.numpy().astype(np.int64) + f_total)
    assert np.array_equal(decode_scores(r.outputs), torch.argmax(scores, 1).numpy())
    assert r.counters["axon_collisions"].sum() == 0
    for b in range(len(imgs)):  # every hidden neuron: fires iff torch fires, at tick = layer
        sp = r.spikes[b]
        for li, s in enumerate(spikes):
            c, n = np.nonzero(nl == li)
            fire = s[b].reshape(-1).numpy()[ne[c, n]] > 0
            mine = sp[nl[sp[:, 1], sp[:, 2]] == li]
            got = {(int(x), int(y)) for x, y in mine[:, 1:]}
            assert got == set(zip(c[fire].tolist(), n[fire].tolist(), strict=True))
            assert (mine[:, 0] == li).all()


def test_population_readout_counts_every_row_into_its_class():
    pop = 3
    m = _frame_net("binary", 2, ARCH[:-1] + [("readout", 5, 40, pop)])
    imgs = np.random.default_rng(2).integers(0, 256, (16, 1, 12, 12), dtype=np.uint8)
    x = torch.as_tensor(imgs, dtype=torch.float32)
    scores, _ = m.integer_forward(x)
    h = m.encode(x)
    for layer in m.layers[:-1]:
        h = layer(h)
    rows = m.layers[-1].op(h)
    assert torch.equal(scores, rows.view(16, 5, pop).sum(2))  # class = sum of its rows
    net = export_frame(m)
    assert net.meta["readout_pop"] == pop and net.layers[-1].weight.shape[0] == 5 * pop
    prog = compile_binarized(net, CoreSpec.truenorth(), readout_ticks=4)
    assert int(prog.extras["n_classes"]) == 5 and prog.n_outputs == 5
    r = run(prog, int(prog.extras["latency_ticks"]),
            frame_inputs(prog, thermometer_encode(imgs, LEVELS)))
    f_total = net.layers[-1].weight.shape[1]
    assert np.array_equal(r.outputs, scores.numpy().astype(np.int64) + pop * f_total)
    assert np.array_equal(decode_scores(r.outputs), torch.argmax(scores, 1).numpy())
    bad = SpikingNetwork(net.input_shape, net.layers, {**net.meta, "readout_pop": 4})
    with pytest.raises(CompileError, match="readout_pop"):
        compile_binarized(bad, readout_ticks=4)


def test_temporal_mode_exact():
    torch.manual_seed(3)
    arch = [("conv", 8, 3, 2, 1, 1), ("shuffle", 2), ("conv", 8, 3, 1, 1, 2), ("flatten",),
            ("readout", 3, 50)]
    m = TemporalBSNN(arch, (2, 8, 8), theta0=2.0, reset="subtract", floor=3)
    with torch.no_grad():
        for layer in m.spiking_layers():
            layer.leak.uniform_(-1.4, 1.4)
            layer.theta.uniform_(0.5, 4)
    x = (torch.rand(5, 10, 2, 8, 8) < 0.15).float()
    with torch.no_grad():
        scores, trains = m(x, record=True)
    prog = compile_binarized(export_temporal(m))
    events = []
    for b in range(len(x)):
        t, el = np.nonzero(x[b].reshape(x.shape[1], -1).numpy())
        events.append((t, el))
    ticks = x.shape[1] + int(prog.extras["latency_ticks"])
    r = run(prog, ticks, event_inputs(prog, events), record="counts")
    assert np.array_equal(r.outputs, scores.numpy().astype(np.int64))
    nl, ne = prog.extras["neuron_layer"], prog.extras["neuron_element"]
    for li, tr in enumerate(trains):
        cnt = tr.reshape(tr.shape[0], tr.shape[1], -1).sum(1).numpy().astype(np.int64)
        c, n = np.nonzero(nl == li)
        assert np.array_equal(r.spike_counts[:, c, n], cnt[:, ne[c, n]])


def _dense_net(fan_in: int, weight_value: float = 1.0) -> SpikingNetwork:
    w = np.full((3, fan_in), weight_value, np.float32)
    hidden = Dense(name="h", weight=w, bias=np.zeros(3, np.float32),
                   threshold=np.ones(3, np.float32))
    out = Dense(name="o", inputs=("h",), spiking=False, weight=np.ones((2, 3), np.float32),
                bias=np.zeros(2, np.float32))
    return SpikingNetwork((fan_in,), [hidden, out], {"binarized": True,
                                                     "binarized_mode": "frame"})


def test_refuses_fan_in_beyond_one_core_and_non_binary_weights():
    compile_binarized(_dense_net(127))
    with pytest.raises(CompileError, match="at most 127"):
        compile_binarized(_dense_net(128))
    with pytest.raises(CompileError, match="-1, 0 or \\+1"):
        compile_binarized(_dense_net(10, 2.0))
    with pytest.raises(CompileError, match="integers"):
        compile_binarized(_dense_net(10, 0.5))


def test_general_compiler_hands_binarized_networks_over():
    from snn.cores.compiler import compile as compile_any

    prog = compile_any(_dense_net(20))
    assert str(prog.extras["binarized_mode"]) == "frame"
    assert int(prog.extras["n_classes"]) == 2
