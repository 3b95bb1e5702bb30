"""The core compiler: exact mapping where no layer is split, splits, splitters, errors."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cores.compiler import compile, compile_network, encode_frames
from snn.cores.compiler.io import layer_table
from snn.cores.engine import run
from snn.cores.evaluate import decode, evaluate_program
from snn.cores.hardware.spec import CoreSpec
from snn.cores.program import CoreProgram
from snn.errors import CompileError
from snn.network import Conv2d, Dense, Flatten, Pool2d, SpikingNetwork
from snn.simulate import simulate

ONE = np.ones(1, np.float32)


def _mlp(seed: int = 0, bias: bool = True) -> SpikingNetwork:
    rng = np.random.default_rng(seed)
    f = np.float32
    return SpikingNetwork((1, 8, 8), [
        Flatten("flat"),
        Dense("h1", ("flat",), True, ONE, weight=rng.normal(0, .25, (30, 64)).astype(f),
              bias=(rng.normal(0, .02, 30) if bias else np.zeros(30)).astype(f)),
        Dense("h2", ("h1",), True, ONE, weight=rng.normal(0, .3, (20, 30)).astype(f),
              bias=np.zeros(20, f)),
        Dense("out", ("h2",), True, ONE, weight=rng.normal(0, .3, (10, 20)).astype(f),
              bias=rng.normal(0, .02, 10).astype(f)),
    ], {"encoding": "rate"})


def _cnn(seed: int = 0) -> SpikingNetwork:
    rng = np.random.default_rng(seed)
    f = np.float32
    return SpikingNetwork((1, 8, 8), [
        Conv2d("c1", ("input",), True, ONE, weight=rng.normal(0, .4, (4, 1, 3, 3)).astype(f),
               bias=rng.normal(0, .02, 4).astype(f), padding=(1, 1, 1, 1)),
        Pool2d("p1", ("c1",), True, ONE, mode="avg"),
        Flatten("flat", ("p1",)),
        Dense("out", ("flat",), True, ONE, weight=rng.normal(0, .3, (10, 64)).astype(f),
              bias=np.zeros(10, f)),
    ], {"encoding": "rate"})


def _images(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 1, 8, 8)).astype(np.uint8)


def _layer_trains(prog: CoreProgram, res, layer: str, T: int, n: int) -> np.ndarray:
    """bool [T, B, n] spike trains of a layer's neurons from a full record; checks that all
    copies of a neuron spike identically."""
    ex = prog.extras
    li = [str(s) for s in ex["layer_names"]].index(layer)
    lt = int(ex["layer_tick"][li])
    out = np.zeros((T, res.n_frames, n), bool)
    for b, sp in enumerate(res.spikes):
        t, c, nn = sp[:, 0], sp[:, 1], sp[:, 2]
        sel = (ex["core_layer"][c] == li) & (ex["neuron_index"][c, nn] >= 0) & \
              (ex["core_role"][c] != 1)
        tt, idx = t[sel] - lt, ex["neuron_index"][c[sel], nn[sel]]
        keep = (tt >= 0) & (tt < T)
        # every copy spikes: count per (tick, neuron) equals the copies of that neuron
        cnt = np.zeros((T, n), np.int64)
        np.add.at(cnt, (tt[keep], idx[keep]), 1)
        copies = np.zeros(n, np.int64)
        cc, nn2 = np.nonzero((ex["core_layer"][:, None] == li) & (ex["neuron_index"] >= 0)
                             & (ex["core_role"][:, None] != 1))
        np.add.at(copies, ex["neuron_index"][cc, nn2], 1)
        assert np.all((cnt == 0) | (cnt == copies[None, :])), "copies spike differently"
        out[:, b] = cnt > 0
    return out


def _mlp_v_init() -> SpikingNetwork:
    net = _mlp()
    net.meta["v_init"] = 0.5  # spiking neurons start at half their threshold
    return net


def _mlp_deep_bias() -> SpikingNetwork:
    """Biases (both signs) on a layer whose first input arrives after tick 0, with 4-bit
    weights on 4 axon types: no type is free for a hold axon, so the precharged start must
    absorb the leak before the first input."""
    net = _mlp_v_init()
    net.layers[2].bias = np.random.default_rng(5).normal(0, .1, 20).astype(np.float32)
    return net


@pytest.mark.parametrize("make,layers", [(_mlp, ["h1", "h2"]), (_cnn, ["c1", "p1"]),
                                         (_mlp_v_init, ["h1", "h2"]),
                                         (_mlp_deep_bias, ["h1", "h2"])])
def test_spike_for_spike_without_splits(make, layers) -> None:
    net = make()
    comp = compile_network(net, weight_bits=4)
    assert all(s.held for s in comp.stats)
    if net.meta.get("v_init"):
        assert comp.program.v_initial is not None and comp.program.v_initial.max() > 0
    assert all(s.blocks == 1 for s in comp.stats), "this network should map without splits"
    imgs, T = _images(), 25
    sim = simulate(comp.quantised, imgs, T, encoding="rate", record_layers=True)
    lat = int(comp.program.extras["latency_ticks"])
    res = run(comp.program, T + lat, encode_frames(comp.program, imgs, T), record="full",
              return_potential=True)
    for name in layers:
        want = sim.trains[name].reshape(T, len(imgs), -1)
        got = _layer_trains(comp.program, res, name, T, want.shape[2])
        assert want.sum() > 50
        assert np.array_equal(got, want), name
    if make is _mlp_deep_bias:  # the leak was absorbed by the start, not by hold inputs
        assert not len(comp.program.extras["hold_core"]) and comp.stats[1].input_tick > 0
    # readout: decoded values = the simulator's integrated input, in model units
    lq = comp.quants[net.layers[-1].name]
    want = sim.potential[0] * (lq.delta / lq.s)[None, :]
    got = decode(comp.program, res.outputs, res.potential, T)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9)
    assert res.total("axon_collisions") == 0


def test_splits_relays_and_accuracy_close_to_ideal() -> None:
    net = _mlp(1, bias=False)
    spec = CoreSpec.preset("small")  # 64 axons: every layer is split
    comp = compile_network(net, spec)
    assert comp.stats[0].blocks > 1 and comp.stats[0].relays > 0
    assert comp.program.n_cores > 3
    imgs, T = _images(20, 3), 60
    sim = simulate(comp.quantised, imgs, T, encoding="rate")
    lq = comp.quants["out"]
    ideal = (sim.potential[0] * (lq.delta / lq.s)[None, :]).argmax(1)
    ev = evaluate_program(comp.program, imgs, ideal, [T])
    # relays delay and re-quantise partial sums: most predictions still agree with ideal
    assert ev["accuracy"][T] >= 0.75
    assert ev["latency_ticks"] > 3  # a relay hop per split layer
    rows = layer_table(comp.program)
    assert [r["layer"] for r in rows] == ["h1", "h2", "out"]
    assert all(r["splits"] >= 1 and r["partial_cores"] > 0 for r in rows)


def test_splitters_counted_and_targets_unique() -> None:
    comp = compile_network(_mlp())
    p = comp.program
    assert comp.stats[0].splitters > 0  # h1 feeds 4 axons (bits) per consumer core
    tgt = p.target_core >= 0
    pairs = p.target_core[tgt].astype(np.int64) * p.n_axons + p.target_axon[tgt]
    assert len(np.unique(pairs)) == len(pairs), "an axon has two sources"
    # the input map may drive many axons per element, but never one axon twice
    ex = p.extras
    ip = ex["input_map_core"].astype(np.int64) * p.n_axons + ex["input_map_axon"]
    assert len(np.unique(ip)) == len(ip)


def test_program_round_trip_and_eval(tmp_path) -> None:
    net = _mlp()
    prog = compile(net, ticks=20)
    path = prog.save(tmp_path / "p.npz")
    back = CoreProgram.load(path, spec=CoreSpec.truenorth())
    for key in ("layer_names", "core_layer", "input_shape", "pixel_scale", "encoding",
                "input_element", "input_map_core", "input_map_axon", "n_classes",
                "latency_ticks"):
        assert key in back.extras
    imgs = _images(4)
    a = evaluate_program(prog, imgs, np.zeros(4, int), [10, 20])
    b = evaluate_program(back, imgs, np.zeros(4, int), [10, 20])
    assert a["accuracy"] == b["accuracy"] and a["counters"] == b["counters"]
    assert a["cores"] == prog.n_cores and a["chips"] == 1
    assert a["counters"][20]["sops"] > a["counters"][10]["sops"] > 0
    lat = int(prog.extras["latency_ticks"])
    res = run(prog, 20 + lat, encode_frames(prog, imgs, 20), per_core=True)
    rows = layer_table(prog, res)
    assert sum(r["sops_per_frame"] for r in rows) == pytest.approx(res.total("sops") / 4)
    assert sum(r["cores"] for r in rows) == prog.n_cores


def test_errors_name_layer_and_fix() -> None:
    net = _mlp()
    with pytest.raises(CompileError, match="weight-bits"):
        compile(net, weight_bits=5)
    big = _mlp()
    with pytest.raises(CompileError, match="max-chips"):
        compile(big, CoreSpec.preset("small").with_(chip_width=1, chip_height=1),
                max_chips=1)
    mp = SpikingNetwork((1, 8, 8), [
        Pool2d("mp", ("input",), False, ONE, mode="max"), Flatten("f", ("mp",)),
        Dense("o", ("f",), True, ONE, weight=np.ones((2, 16), np.float32),
              bias=np.zeros(2, np.float32))])
    prog = compile(mp)  # max pooling compiles as the tree of pairwise maxima (snn.maxpool)
    assert "mp.r2" in [str(x) for x in prog.extras["layer_names"]]


def test_linear_avgpool_folded_exactly() -> None:
    rng = np.random.default_rng(4)
    f = np.float32
    net = SpikingNetwork((1, 8, 8), [
        Conv2d("c1", ("input",), True, ONE, weight=rng.normal(0, .4, (3, 1, 3, 3)).astype(f),
               bias=np.zeros(3, f), padding=(1, 1, 1, 1)),
        Pool2d("p1", ("c1",), False, ONE, mode="avg"),
        Conv2d("c2", ("p1",), True, ONE, weight=rng.normal(0, .4, (4, 3, 3, 3)).astype(f),
               bias=np.zeros(4, f), padding=(1, 1, 1, 1)),
        Pool2d("p2", ("c2",), False, ONE, mode="avg"),
        Flatten("f", ("p2",)),
        Dense("o", ("f",), True, ONE, weight=rng.normal(0, .3, (5, 16)).astype(f),
              bias=np.zeros(5, f))], {"encoding": "rate"})
    from snn.cores.compiler.fold_passthrough import fold_network
    folded = fold_network(net)
    assert [layer.kind for layer in folded.layers] == ["conv2d", "conv2d", "dense"]
    imgs = _images(5)
    a = simulate(net, imgs, 30, encoding="rate", dtype=np.float64)
    b = simulate(folded, imgs, 30, encoding="rate", dtype=np.float64)
    assert np.allclose(a.potential, b.potential, atol=1e-6)


def test_readout_bits_change_only_the_readout() -> None:
    """readout_bits=2: the readout maps with 2 axons per input (levels of 4 bits through
    its hi and lo neurons), the hidden layers keep 4, and the decode still equals the
    quantised network's integrated input."""
    net = _mlp_v_init()
    comp = compile_network(net, weight_bits=4, readout_bits=2)
    assert [s.weight_bits for s in comp.stats] == [4, 4, 2]
    full = compile_network(net, weight_bits=4)
    assert comp.program.n_cores <= full.program.n_cores
    imgs, T = _images(), 25
    sim = simulate(comp.quantised, imgs, T, encoding="rate")
    lat = int(comp.program.extras["latency_ticks"])
    res = run(comp.program, T + lat, encode_frames(comp.program, imgs, T),
              return_potential=True)
    lq = comp.quants["out"]
    assert lq.bits == 2
    want = sim.potential[0] * (lq.delta / lq.s)[None, :]
    got = decode(comp.program, res.outputs, res.potential, T)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9)
    with pytest.raises(CompileError, match="readout-bits"):
        compile_network(net, readout_bits=5)
