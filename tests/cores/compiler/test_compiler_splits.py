"""Exactness around fan-in splits and tick offsets: integer conv networks (quantisation is
exact), engine spikes vs the quantised ideal simulator (float64)."""

from __future__ import annotations

import numpy as np

from snn.cores.compiler import compile_network, encode_frames
from snn.cores.engine import run
from snn.cores.hardware.spec import CoreSpec
from snn.network import Conv2d, Dense, Flatten, SpikingNetwork
from snn.simulate import simulate

f = np.float32


def _int_cnn(seed: int, c2_in: int, bias2: bool, thr2: float = 6.0) -> SpikingNetwork:
    """c1 (1 -> c2_in, 3x3) -> c2 (c2_in -> 4, 3x3) -> dense readout; integer weights,
    thresholds and biases, so the compiler's quantisation is exact (scale 1)."""
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-1, 2, (c2_in, 1, 3, 3)).astype(f)
    w1[:, 0, 1, 1] = 2  # every c1 channel responds to bright pixels
    w2 = rng.integers(-1, 2, (4, c2_in, 3, 3)).astype(f)
    b2 = np.array([3, -2, 1, 2], f) if bias2 else np.zeros(4, f)
    return SpikingNetwork((1, 6, 6), [
        Conv2d("c1", ("input",), True, np.full(1, 4, f), weight=w1, bias=np.zeros(c2_in, f),
               padding=(1, 1, 1, 1)),
        Conv2d("c2", ("c1",), True, np.full(1, thr2, f), weight=w2, bias=b2,
               padding=(1, 1, 1, 1)),
        Flatten("flat", ("c2",)),
        Dense("out", ("flat",), True, np.ones(1, f),
              weight=rng.integers(-1, 2, (3, 4 * 36)).astype(f), bias=np.zeros(3, f)),
    ], {"encoding": "rate"})


def _counts(comp, res, layer: str, T: int) -> np.ndarray:
    """int [B, n] spike counts of a layer's neurons over ideal ticks 0..T-1; -1 for
    neurons nobody reads (not mapped)."""
    ex = comp.program.extras
    li = [str(s) for s in ex["layer_names"]].index(layer)
    lt = int(ex["layer_tick"][li])
    n = int(ex["layer_neurons"][li]) + int(ex["layer_dead"][li])
    out = np.zeros((res.n_frames, n), np.int64)
    for b, sp in enumerate(res.spikes):
        t, c, nn = sp[:, 0], sp[:, 1], sp[:, 2]
        idx = ex["neuron_index"][c, nn]
        sel = (ex["core_layer"][c] == li) & (idx >= 0) & (ex["core_role"][c] != 1) & \
              (t >= lt) & (t < lt + T)
        np.add.at(out[b], idx[sel], 1)
    cc, nn = np.nonzero((ex["core_layer"][:, None] == li) & (ex["neuron_index"] >= 0)
                        & (ex["core_role"][:, None] != 1))
    copies = np.bincount(ex["neuron_index"][cc, nn], minlength=n)
    assert np.all(out % np.maximum(copies, 1) == 0), "copies spike differently"
    return np.where(copies > 0, out // np.maximum(copies, 1), -1)  # -1: not mapped (dead)
    return out


def _run(comp, imgs: np.ndarray, T: int):
    sim = simulate(comp.quantised, imgs, T, encoding="rate", record_layers=True,
                   dtype=np.float64)
    lat = int(comp.program.extras["latency_ticks"])
    res = run(comp.program, T + lat, encode_frames(comp.program, imgs, T), record="full",
              return_potential=True)
    return sim, res


def _assert_spikes_as_ideal(comp, layer: str, imgs: np.ndarray, T: int) -> None:
    """The layer's spike counts on cores equal the quantised ideal simulator's (> 20)."""
    sim, res = _run(comp, imgs, T)
    want = sim.trains[layer].reshape(T, len(imgs), -1).sum(0)
    assert want.sum() > 20
    got = _counts(comp, res, layer, T)
    assert np.array_equal(got, np.where(got < 0, -1, want))


def test_direct_layer_with_bias_after_tick_zero_is_exact() -> None:
    """c2 sits at core tick 1 with a bias: its leak is held until its first input."""
    net = _int_cnn(0, 4, bias2=True)
    comp = compile_network(net)
    assert all(s.blocks == 1 for s in comp.stats) and comp.stats[1].input_tick == 1
    assert all(s.exact for s in comp.stats[:2]) and all(s.held for s in comp.stats)
    imgs = np.random.default_rng(1).integers(0, 256, (4, 1, 6, 6)).astype(np.uint8)
    T = 30
    sim, res = _run(comp, imgs, T)
    for name in ("c1", "c2"):
        want = sim.trains[name].reshape(T, len(imgs), -1).sum(0)
        assert want.sum() > 20
        got = _counts(comp, res, name, T)
        assert np.array_equal(got, np.where(got < 0, -1, want)), name


def test_split_layer_bias_held_until_relays_arrive() -> None:
    """Blank frames, relays calibrated on blank frames (so no relay bias): relays stay
    silent, the split layer is driven by its bias alone and must spike as the ideal one
    does (without the hold it starts at V = offset * bias)."""
    net = _int_cnn(2, 8, bias2=True, thr2=7.0)
    imgs = np.zeros((2, 1, 6, 6), np.uint8)
    comp = compile_network(net, CoreSpec.preset("small"), calibration=imgs)
    st = comp.stats[1]
    assert st.blocks > 1 and st.relays > 0 and st.output_tick >= 2 and st.held
    T = 20
    sim, res = _run(comp, imgs, T)
    want = sim.trains["c2"].reshape(T, len(imgs), -1).sum(0)
    assert want.sum() > 0
    got = _counts(comp, res, "c2", T)
    assert np.array_equal(got, np.where(got < 0, -1, want))


def test_split_conv_layer_close_to_ideal() -> None:
    """Random frames through a split conv layer: relays re-quantise partial sums, but the
    counts stay close to the ideal ones, with and without biases."""
    imgs = np.random.default_rng(3).integers(0, 256, (4, 1, 6, 6)).astype(np.uint8)
    T = 60
    errs = {}
    for bias in (False, True):
        comp = compile_network(_int_cnn(2, 8, bias2=bias), CoreSpec.preset("small"))
        assert comp.stats[1].blocks > 1
        sim, res = _run(comp, imgs, T)
        want = sim.trains["c2"].reshape(T, len(imgs), -1).sum(0)
        got = _counts(comp, res, "c2", T)
        want = np.where(got < 0, 0, want)
        assert want.sum() > 100
        errs[bias] = np.abs(np.maximum(got, 0) - want).sum() / want.sum()
    assert errs[False] < 0.1 and errs[True] < 0.1, errs


def test_block_codebooks_fit_each_relay() -> None:
    """A float split layer: each relay gets type weights of its own (they differ between
    the blocks of one neuron), its synapses sit nearer the float weights than with the
    neuron's code, and the layer's spike counts stay close to the float SNN's."""
    net = _int_cnn(4, 8, bias2=True)
    rng = np.random.default_rng(5)
    c2 = net.layers[1]
    c2.weight[:] = rng.normal(0, 0.6, c2.weight.shape).astype(f)
    imgs = rng.integers(0, 256, (6, 1, 6, 6)).astype(np.uint8)
    T = 60
    float_counts = simulate(net, imgs, T, encoding="rate", record_layers=True,
                            dtype=np.float64).trains["c2"].reshape(T, len(imgs), -1).sum(0)
    errs, kinds = {}, {}
    for block_codebooks in (False, True):
        comp = compile_network(net, CoreSpec.preset("small"), weight_bits=4,
                               block_codebooks=block_codebooks)
        assert comp.stats[1].blocks > 1
        p, ex = comp.program, comp.program.extras
        relays = (ex["core_layer"] == 1) & (ex["core_role"] == 1)
        w = p.weight[relays].reshape(-1, 4)
        kinds[block_codebooks] = len(np.unique(np.abs(w[np.abs(w).sum(1) > 0]), axis=0))
        got = _counts(comp, _run(comp, imgs, T)[1], "c2", T)
        want = np.where(got < 0, 0, float_counts)
        errs[block_codebooks] = np.abs(np.maximum(got, 0) - want).sum() / want.sum()
    # the neuron's code: one set of type weights per output channel (4 channels)
    assert kinds[False] <= 4 < kinds[True]
    assert errs[True] < 0.8 * errs[False] and errs[True] < 0.1, errs  # 4.9% vs 8.2%


def test_depthwise_layer_packs_by_channel(monkeypatch) -> None:
    """A depthwise 3x3 layer on 7x7: the channel-major packing keeps each channel on one or
    two cores, so the layer and its producer's copies need fewer cores than the
    position-major packing alone gave (which spread every channel over many cores, each
    needing copies of the producer's neurons); spikes stay those of the ideal simulator."""
    from snn.cores.compiler import build, tiling

    rng = np.random.default_rng(3)
    C = 12
    w1 = rng.integers(-1, 2, (C, 1, 1, 1)).astype(f) + 2
    wd = rng.integers(-6, 7, (C, 1, 3, 3)).astype(f)
    net = SpikingNetwork((1, 7, 7), [
        Conv2d("pw", ("input",), True, np.full(1, 3, f), weight=w1, bias=np.zeros(C, f)),
        Conv2d("dw", ("pw",), True, np.full(1, 9, f), weight=wd, bias=np.zeros(C, f),
               padding=(1, 1, 1, 1), groups=C),
        Flatten("flat", ("dw",)),
        Dense("out", ("flat",), True, np.ones(1, f),
              weight=rng.integers(-1, 2, (3, C * 49)).astype(f), bias=np.zeros(3, f)),
    ], {"encoding": "rate"})
    comp = compile_network(net, CoreSpec.truenorth())
    assert comp.stats[1].blocks == 1 and comp.stats[1].weight_bits == 4

    def position_major(n_out, shape, sizes=(1, 2, 4, 8)):
        return tiling.conv_orders(n_out, shape, sizes)[0::2]

    monkeypatch.setattr(build, "conv_orders", position_major)
    before = compile_network(net, CoreSpec.truenorth())
    monkeypatch.undo()

    def cores(c, i):
        return sum(c.stats[i].role_cores.values())

    assert cores(comp, 1) < cores(before, 1)
    assert comp.stats[0].splitters < before.stats[0].splitters
    assert comp.program.n_cores < before.program.n_cores
    imgs = np.random.default_rng(4).integers(0, 256, (3, 1, 7, 7)).astype(np.uint8)
    _assert_spikes_as_ideal(comp, "dw", imgs, 16)


def test_negative_bias_held_with_the_weights_own_axon_types() -> None:
    """A layer two hops deep with a negative bias and 4-bit weights (every axon type used,
    so no free type for a hold axon of weight -leak): the start cannot absorb two ticks of
    leak without firing (v0 + |b| >= threshold), so hold axons of the weights' own types
    cancel it (snn.cores.compiler.build._hold_code) and the layer spikes exactly as the
    ideal simulator's, where the precharged start alone lost charge."""
    rng = np.random.default_rng(5)
    w1 = rng.integers(0, 3, (4, 1, 3, 3)).astype(f)
    w2 = rng.integers(-2, 3, (4, 4, 1, 1)).astype(f)
    w3 = rng.integers(-8, 8, (4, 4, 1, 1)).astype(f)
    w3[:, :, 0, 0] += np.eye(4, dtype=f) * 3
    w3 = np.clip(w3, -8, 7)
    net = SpikingNetwork((1, 6, 6), [
        Conv2d("c1", ("input",), True, np.full(1, 4, f), weight=w1, bias=np.zeros(4, f),
               padding=(1, 1, 1, 1)),
        Conv2d("c2", ("c1",), True, np.full(1, 3, f), weight=w2, bias=np.ones(4, f)),
        Conv2d("c3", ("c2",), True, np.full(1, 6, f), weight=w3,
               bias=np.array([-4, -5, -3, -4], f)),
        Flatten("flat", ("c3",)),
        Dense("out", ("flat",), True, np.ones(1, f),
              weight=rng.integers(-1, 2, (3, 4 * 36)).astype(f), bias=np.zeros(3, f)),
    ], {"encoding": "rate", "v_init": 0.5})
    comp = compile_network(net, CoreSpec.truenorth())
    st = comp.stats[2]
    assert st.input_tick == 2 and st.weight_bits == 4 and st.exact and st.held
    assert len(comp.program.extras["hold_core"]) > 0
    imgs = np.random.default_rng(6).integers(0, 256, (4, 1, 6, 6)).astype(np.uint8)
    _assert_spikes_as_ideal(comp, "c3", imgs, 24)


def test_hold_code_cancels_more_leak_with_more_axons_per_type() -> None:
    from snn.cores.compiler.build import _hold_code

    tw = np.array([[3, 6, 12, -24], [3, 6, 12, -24]])
    leak = np.array([-20, 5])
    count, rho = _hold_code(tw, leak, 1)  # subsets: the largest positive sum is 21
    assert count.max() <= 1 and list(rho) == [1, -1]  # -20 + 21, 5 - 6
    count, rho = _hold_code(tw, leak, 3)
    assert np.array_equal(rho, leak + (tw * count).sum(1)) and np.abs(rho).max() <= 1
    assert count.max() <= 3
