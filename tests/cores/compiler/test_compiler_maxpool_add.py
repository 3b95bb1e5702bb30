"""Max pooling (tree of pairwise maxima) and residual additions on cores: compiled programs
equal the quantised ideal simulator spike for spike; refusals name the layer and the fix."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cores.compiler import compile, compile_network, encode_frames
from snn.cores.engine import run
from snn.cores.evaluate import decode
from snn.cores.hardware.spec import CoreSpec
from snn.errors import CompileError
from snn.network import Add, Conv2d, Dense, Flatten, Pool2d, SpikingNetwork
from snn.simulate import simulate
from tests.cores.compiler.test_compiler import _layer_trains

ONE = np.ones(1, np.float32)
F = np.float32


def _check_exact(net: SpikingNetwork, imgs: np.ndarray, T: int = 24, min_spikes: int = 20,
                 weight_bits: int | None = None):
    """Compile without splits; every stage's trains and the readout equal the simulator's."""
    comp = compile_network(net, weight_bits=weight_bits)
    assert all(set(s.role_cores) == {"direct"} and s.held for s in comp.stats), \
        [(s.name, s.role_cores, s.held) for s in comp.stats]
    sim = simulate(comp.quantised, imgs, T, encoding="rate", record_layers=True)
    lat = int(comp.program.extras["latency_ticks"])
    res = run(comp.program, T + lat, encode_frames(comp.program, imgs, T), record="full",
              return_potential=True)
    ex = comp.program.extras
    for li, st in enumerate(comp.stats[:-1]):
        want = sim.trains[st.name].reshape(T, len(imgs), -1)
        got = _layer_trains(comp.program, res, st.name, T, want.shape[2])
        idx = ex["neuron_index"][(ex["core_layer"] == li) & (ex["core_role"] != 1)]
        live = np.unique(idx[idx >= 0])  # neurons nobody reads are not mapped
        assert len(live) == st.neurons and want.shape[2] - len(live) == st.dead
        assert np.array_equal(got[:, :, live], want[:, :, live]), st.name
    assert sum(int(sim.trains[st.name].sum()) for st in comp.stats[:-1]) > min_spikes
    lq = comp.quants[net.layers[-1].name]
    want = sim.potential[0] * (lq.delta / lq.s)[None, :]
    got = decode(comp.program, res.outputs, res.potential, T)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9)
    assert res.total("axon_collisions") == 0
    return comp


def _images(n: int, shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype(np.uint8)


@pytest.mark.parametrize("kernel,stride,padding", [
    ((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (3, 3), (0, 0, 0, 0)),
    ((3, 3), (2, 2), (1, 1, 1, 1)), ((3, 3), (2, 2), (0, 0, 1, 1))])
def test_maxpool_before_dense_spike_for_spike(kernel, stride, padding) -> None:
    rng = np.random.default_rng(0)
    layers = [Conv2d("c1", ("input",), True, ONE, weight=rng.normal(0, .5, (2, 1, 3, 3)).astype(F),
                     bias=np.zeros(2, F), padding=(1, 1, 1, 1)),
              Pool2d("p", ("c1",), False, ONE, mode="max", kernel=kernel, stride=stride,
                     padding=padding), Flatten("fl", ("p",))]
    n = SpikingNetwork((1, 9, 9), layers).shapes()["fl"][0]
    layers.append(Dense("o", ("fl",), True, ONE, weight=rng.normal(0, .3, (4, n)).astype(F),
                        bias=np.zeros(4, F)))
    net = SpikingNetwork((1, 9, 9), layers, {"encoding": "rate", "v_init": 0.5})
    comp = _check_exact(net, _images(4, (1, 9, 9)))
    k = kernel[0] * kernel[1]
    depth = int(np.ceil(np.log2(k)))
    names = [s.name for s in comp.stats]
    assert names == ["c1"] + [f"p.r{j}" for j in range(1, depth + 1)] + ["p", "o"]
    # one output tick per tree layer: the pool costs depth + 1 ticks
    assert comp.stats[names.index("p")].output_tick == depth + 1
    # neurons: K - 1 relus + 1 output per window and channel
    c, ho, wo = net.shapes()["p"]
    assert sum(s.neurons for s in comp.stats[1:-1]) == k * c * ho * wo


def test_maxpool_between_convs_and_tree_simulator_mode() -> None:
    rng = np.random.default_rng(1)
    net = SpikingNetwork((1, 8, 8), [
        Conv2d("c1", ("input",), True, ONE, weight=rng.normal(0, .5, (3, 1, 3, 3)).astype(F),
               bias=np.zeros(3, F), padding=(1, 1, 1, 1)),
        Pool2d("p1", ("c1",), False, ONE, mode="max"),
        Conv2d("c2", ("p1",), True, ONE, weight=rng.normal(0, .4, (4, 3, 3, 3)).astype(F),
               bias=np.zeros(4, F), padding=(1, 1, 1, 1)),
        Pool2d("p2", ("c2",), False, ONE, mode="max"),
        Flatten("fl", ("p2",)),
        Dense("o", ("fl",), True, ONE, weight=rng.normal(0, .3, (5, 16)).astype(F),
              bias=np.zeros(5, F))], {"encoding": "rate"})
    imgs = _images(4, (1, 8, 8), 1)
    comp = _check_exact(net, imgs)
    # the float tree simulation is what the compiler quantises: pool layers are exact
    # integers, so the quantised network's pool trains follow from its conv trains
    a = simulate(net, imgs, 24, maxpool="tree", record_layers=True)
    assert "p1.r2" in a.trains and a.trains["p1"].sum() > 0
    assert comp.quants["p1.r1"].exact and comp.quants["p1"].exact


def _resnet_module():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                           nn.BatchNorm2d(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out = out + (x if self.short is None else self.short(x))
            return torch.relu(out)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(1, 4, 3, 1, 1)
            self.b1 = Block(4, 4, 1)  # identity shortcut
            self.b2 = Block(4, 6, 2)  # 1x1 projection shortcut
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(24, 5)

        def forward(self, x):
            x = torch.relu(self.stem(x))
            x = self.pool(self.b2(self.b1(x)))
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    m = Net()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            # no folded biases after tick 0: a leak beyond the weight range cannot be held
            # before a neuron's first input (compiler "held"), which would break exactness
            mod.running_var.uniform_(0.5, 1.5)
    with torch.no_grad():  # residual branches as strong as the shortcuts (as trained ones)
        m.b1.bn2.weight.fill_(10.0)
        m.b2.bn2.weight.fill_(10.0)
    return m.eval()


def _check_resnet(source) -> None:
    from snn.converters import convert
    calib = _images(32, (1, 8, 8), 5)
    net = convert(source, calib)
    adds = [x for x in net.layers if isinstance(x, Add)]
    assert len(adds) == 2
    # 2-bit weights: every layer fits one core's axons without partial sums
    comp = _check_exact(net, _images(4, (1, 8, 8), 6), T=30, weight_bits=2)
    assert all(s.neurons > 0 and s.dead == 0 for s in comp.stats)
    ticks = {s.name: s for s in comp.stats}
    # the Add's neurons read both branches at one ideal tick: the shortcut (one layer
    # shallower) reaches them with one more tick of delay
    for add in adds:
        st = ticks[add.name]
        assert st.input_tick >= 2


def test_resnet_blocks_from_torch_fx_spike_for_spike() -> None:
    _check_resnet(_resnet_module())


def test_resnet_blocks_from_onnx_spike_for_spike(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    path = tmp_path / "resnet.onnx"
    torch.onnx.export(_resnet_module(), torch.zeros(1, 1, 8, 8), str(path), dynamo=False,
                      input_names=["x"], output_names=["y"])
    _check_resnet(path)


def test_add_refusals_name_layer_and_fix() -> None:
    rng = np.random.default_rng(2)
    conv = dict(weight=rng.normal(0, .5, (2, 1, 3, 3)).astype(F), bias=np.zeros(2, F),
                padding=(1, 1, 1, 1))
    # the addition is the readout
    net = SpikingNetwork((1, 4, 4), [
        Conv2d("a", ("input",), True, ONE, **conv), Conv2d("b", ("input",), True, ONE, **conv),
        Add("sum", ("a", "b"), True, ONE)])
    with pytest.raises(CompileError, match="'sum'.*readout"):
        compile(net)
    # a pass-through term read by another layer too
    net = SpikingNetwork((1, 4, 4), [
        Conv2d("a", ("input",), False, ONE, **conv), Conv2d("b", ("input",), True, ONE, **conv),
        Add("sum", ("a", "b"), True, ONE),
        Conv2d("c", ("a",), True, ONE, weight=np.ones((2, 2, 1, 1), F), bias=np.zeros(2, F)),
        Flatten("f", ("sum",)),
        Dense("o", ("f",), True, ONE, weight=np.ones((2, 32), F), bias=np.zeros(2, F))])
    with pytest.raises(CompileError, match="'a'.*only by one spiking addition"):
        compile(net)
    # two terms reading the same neurons
    net = SpikingNetwork((1, 4, 4), [
        Conv2d("a", ("input",), True, ONE, **conv),
        Conv2d("t1", ("a",), False, ONE, weight=np.ones((2, 2, 1, 1), F), bias=np.zeros(2, F)),
        Conv2d("t2", ("a",), False, ONE, weight=np.ones((2, 2, 3, 3), F), bias=np.zeros(2, F),
               padding=(1, 1, 1, 1)),
        Add("sum", ("t1", "t2"), True, ONE), Flatten("f", ("sum",)),
        Dense("o", ("f",), True, ONE, weight=np.ones((2, 32), F), bias=np.zeros(2, F))])
    with pytest.raises(CompileError, match="'sum'.*same neuron"):
        compile(net)


def test_branch_depths_beyond_the_delays_refused() -> None:
    """A shortcut skipping more layers than the longest delay cannot be aligned."""
    rng = np.random.default_rng(3)
    layers = [Conv2d("c0", ("input",), True, ONE, weight=rng.normal(0, .5, (2, 1, 1, 1)).astype(F),
                     bias=np.zeros(2, F))]
    for i in range(1, 4):
        layers.append(Conv2d(f"c{i}", (f"c{i - 1}",), True, ONE,
                             weight=rng.normal(0, .5, (2, 2, 1, 1)).astype(F),
                             bias=np.zeros(2, F)))
    layers += [Add("sum", ("c0", "c3"), True, ONE), Flatten("f", ("sum",)),
               Dense("o", ("f",), True, ONE, weight=np.ones((2, 32), F), bias=np.zeros(2, F))]
    net = SpikingNetwork((1, 4, 4), layers)
    compile(net)  # 3 ticks of extra delay: fine on TrueNorth
    with pytest.raises(CompileError, match="'c0'.*delays are 1..2"):
        compile(net, CoreSpec.truenorth().with_(delay_max=2))
