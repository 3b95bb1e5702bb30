"""Relays of fan-in splits (snn.cores.compiler.relays): they conserve charge, so a split readout's
decoded value stays within the relays' thresholds of the ideal one however long the run,
where relays that floor their potential at 0 lose charge every time a block's running sum
changes sign."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cores.compiler import compile_network, encode_frames
from snn.cores.engine import run
from snn.cores.evaluate import decode
from snn.cores.hardware.spec import CoreSpec
from snn.errors import CompileError, ConfigError
from snn.network import Dense, Flatten, SpikingNetwork
from snn.simulate import simulate

f = np.float32


def _sign_flip_net(n_pairs: int = 20) -> SpikingNetwork:
    """Readout of 2 neurons over 2 * n_pairs inputs: +3 on even inputs, -2 on odd ones
    (neuron 1: the opposite signs). Integer weights: quantisation is exact."""
    w = np.zeros((2, 2 * n_pairs), f)
    w[0, 0::2], w[0, 1::2] = 3, -2
    w[1, 0::2], w[1, 1::2] = -3, 2
    return SpikingNetwork((1, 1, 2 * n_pairs), [
        Flatten("flat", ("input",)),
        Dense("out", ("flat",), True, np.full(2, 1000, f), weight=w, bias=np.zeros(2, f)),
    ], {"encoding": "rate"})


def _frames(n_pairs: int = 20) -> np.ndarray:
    """Even inputs at half rate, odd ones every tick: within a block the running partial
    sum goes up and down every tick (+1, -2, +1, -2, ...)."""
    x = np.zeros((1, 1, 1, 2 * n_pairs), np.uint8)
    x[..., 0::2], x[..., 1::2] = 128, 255
    return x


def _decoded_vs_ideal(comp, x: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    prog = comp.program
    lat = int(prog.extras["latency_ticks"])
    res = run(prog, T + lat, encode_frames(prog, x, T), return_potential=True)
    got = decode(prog, res.outputs, res.potential, T)
    sim = simulate(comp.quantised, x, T, encoding="rate", dtype=np.float64)
    lq = comp.quants["out"]
    want = sim.potential[0] * (lq.delta / lq.s)[None, :]
    return got, want


@pytest.mark.parametrize("relays", ["signed", "biased"])
def test_split_readout_error_bounded_by_relay_thresholds(relays: str) -> None:
    comp = compile_network(_sign_flip_net(), CoreSpec.preset("small"), relays=relays,
                           readout="relays")
    st = comp.stats[-1]
    assert st.blocks > 1 and st.relays > 0
    prog = comp.program
    relay = (prog.extras["core_role"] == 1)[:, None] & (prog.target_core >= 0)
    tr = prog.threshold[relay]
    assert np.all(prog.neg_threshold[relay] > 2 ** 18)  # no floor: nothing is clamped
    x = _frames()
    for T in (40, 160):
        got, want = _decoded_vs_ideal(comp, x, T)
        assert np.abs(want).max() > 100
        # each relay holds back less than its threshold (safe parameters never lag)
        bound = tr.sum() / 2  # the relays of both readout neurons
        assert np.all(np.abs(got - want) <= bound), (T, got, want, bound)
    # the error does not grow with the run: conserved, only the last residuals are missing
    e40 = np.abs(np.subtract(*_decoded_vs_ideal(comp, x, 40)))
    e160 = np.abs(np.subtract(*_decoded_vs_ideal(comp, x, 160)))
    assert e160.max() <= e40.max() + tr.max()


def test_calibrated_relays_exact_without_input_and_tighter() -> None:
    """Calibration picks T_r from the partial sums: smaller thresholds (less residual)."""
    net = _sign_flip_net()
    spec = CoreSpec.preset("small")
    safe = compile_network(net, spec, readout="relays")
    cal = compile_network(net, spec, calibration=_frames(), readout="relays")
    assert cal.program.n_cores == safe.program.n_cores
    got_s, want = _decoded_vs_ideal(safe, _frames(), 100)
    got_c, _ = _decoded_vs_ideal(cal, _frames(), 100)
    assert np.abs(got_c - want).max() <= np.abs(got_s - want).max()


def test_relay_options_checked() -> None:
    net = _sign_flip_net()
    with pytest.raises(ConfigError, match="relays"):
        compile_network(net, relays="floor")
    with pytest.raises(ConfigError, match="readout='sum'"):
        compile_network(net, readout="sum")
    with pytest.raises(ConfigError, match="calibration"):
        compile_network(net, calibration=np.zeros((2, 28, 28), np.uint8))


def test_network_calibration_frames_travel_to_the_compiler(tmp_path) -> None:
    """Frames kept in the network file (as `convert` does) are what compile uses by
    default: the same program as passing them explicitly, and not the data-free one."""
    net = _sign_flip_net()
    net.calibration = _frames()
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = SpikingNetwork.load(path)
    np.testing.assert_array_equal(loaded.calibration, _frames())
    spec = CoreSpec.preset("small")
    default = compile_network(loaded, spec, readout="relays").program
    explicit = compile_network(_sign_flip_net(), spec, calibration=_frames(),
                               readout="relays").program
    np.testing.assert_array_equal(default.threshold, explicit.threshold)
    np.testing.assert_array_equal(default.leak, explicit.leak)
    assert SpikingNetwork.load(path).calibration is not None
    net.calibration = None
    net.save(path)
    assert SpikingNetwork.load(path).calibration is None


def test_compiling_with_relays_does_not_load_torch() -> None:
    """Calibrating relays runs the ideal simulator; neither it nor the compiler may load
    torch (a core program compiles with numpy and numba alone; docs/design.md §8)."""
    import inspect
    import subprocess
    import sys
    code = "\n".join([
        "import sys", "import numpy as np",
        "from snn.cores.compiler import compile_network",
        "from snn.cores.hardware.spec import CoreSpec",
        "from snn.network import Dense, Flatten, SpikingNetwork",
        "f = np.float32",
        inspect.getsource(_sign_flip_net), inspect.getsource(_frames),
        "comp = compile_network(_sign_flip_net(), CoreSpec.preset('small'),"
        " calibration=_frames(), readout='relays')",
        "assert comp.stats[-1].relays > 0",
        "print('torch' in sys.modules)"])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout


@pytest.mark.parametrize("bias", [0.0, 7.0])
def test_partial_readout_decodes_exactly(bias: float) -> None:
    """The default for a readout wider than a core: partial readout neurons, one per input
    block, whose integrated inputs the decode adds. No relay, no lag: the decoded value
    equals the quantised network's integrated input at every T, and the readout takes
    no extra tick."""
    net = _sign_flip_net()
    net.layers[-1].bias[:] = bias
    spec = CoreSpec.preset("small")
    comp = compile_network(net, spec)
    relayed = compile_network(net, spec, readout="relays")
    st = comp.stats[-1]
    assert st.blocks > 1 and st.relays == 0
    assert int(comp.program.extras["latency_ticks"]) == \
        int(relayed.program.extras["latency_ticks"]) - 1
    assert (comp.program.output_index >= 0).sum() > 2  # several partials per class
    x = _frames()
    for T in (1, 7, 40, 160):
        got, want = _decoded_vs_ideal(comp, x, T)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)


def test_partial_readout_wider_than_a_core_of_blocks() -> None:
    """A readout with more input blocks per class than a core has axons (which relays
    could not sum: one relay axon per block on a summing core) maps as partial readout
    neurons and still decodes exactly."""
    net = _sign_flip_net(1000)
    spec = CoreSpec.preset("small")
    with pytest.raises(CompileError, match="relay axons"):
        compile_network(net, spec, readout="relays")
    comp = compile_network(net, spec)
    assert comp.stats[-1].blocks > spec.axons
    got, want = _decoded_vs_ideal(comp, _frames(1000), 24)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)


def test_phased_relays_step_in_half_thresholds() -> None:
    """relay_phases=2: two calibrated relays per input block and sign, starting at 0 and
    T_r / 2, each with its own summing axon of weight T_r / 2: the partial sum reaches the
    summing neuron in half steps, so the decoded error is smaller than with one relay."""
    net, spec, x = _sign_flip_net(), CoreSpec.preset("small"), _frames()
    one = compile_network(net, spec, calibration=x, readout="relays", relay_phases=1)
    two = compile_network(net, spec, calibration=x, readout="relays", relay_phases=2)
    assert two.stats[-1].relays == 2 * one.stats[-1].relays
    prog = two.program
    relay = (prog.extras["core_role"] == 1)[:, None] & (prog.target_core >= 0)
    v0, tr = prog.v_initial[relay], prog.threshold[relay]
    assert np.array_equal(np.unique(2 * v0 // tr), [0, 1]) and np.all(v0 % (tr // 2) == 0)
    e1 = e2 = 0.0
    for T in (7, 40, 160):
        got1, want = _decoded_vs_ideal(one, x, T)
        got2, _ = _decoded_vs_ideal(two, x, T)
        e1, e2 = e1 + np.abs(got1 - want).max(), e2 + np.abs(got2 - want).max()
    assert e2 < e1, (e1, e2)
    with pytest.raises(ConfigError, match="relay_phases"):
        compile_network(net, spec, relay_phases=0)
    with pytest.raises(ConfigError, match="calibration"):  # phases are fitted to data
        compile_network(net, spec, relay_phases=2)


def _calibration_problem(n: int, rng: np.random.Generator) -> dict:
    """Relay units of n neurons over 2 signed blocks of 40 sources each (block 0: positive
    weights, block 1: negative ones), with calibration spikes of 6 frames x 60 ticks."""
    uptr, ucols, uw, urow, ublk = [0], [], [], [], []
    for blk, sign in ((0, 1), (1, -1)):
        for r in range(n):
            cols = np.arange(40) + 40 * blk
            ucols += cols.tolist()
            uw += (sign * rng.integers(5, 60, 40)).tolist()
            urow.append(r)
            ublk.append(blk)
            uptr.append(len(ucols))
    uptr, ucols, uw = (np.asarray(a, np.int64) for a in (uptr, ucols, uw))
    urow, ublk = np.asarray(urow, np.int64), np.asarray(ublk, np.int64)
    unit = np.repeat(np.arange(len(urow)), np.diff(uptr))
    psum = np.zeros((n, 2))
    nsum = np.zeros((n, 2))
    np.add.at(psum, (urow[unit], ublk[unit]), np.maximum(uw, 0))
    np.add.at(nsum, (urow[unit], ublk[unit]), np.maximum(-uw, 0))
    spikes = (rng.random((80, 6, 60)) < 0.3).astype(np.uint8)
    return dict(uptr=uptr, ucols=ucols, uw=uw, urow=urow, ublk=ublk, psum=psum, nsum=nsum,
                spikes=spikes)


def test_calibration_ignores_relays_that_are_not_mapped() -> None:
    """A neuron nobody reads gets no relays (``has`` false): its units must not steer the
    layer's calibrated T_r step and offset shift, nor count in its reported error. (They
    did: with no range such a unit's T_r is 1, its summing neuron lags by tens of spikes,
    and a Fashion CNN layer with a quarter of its neurons unread was calibrated against
    them: rms count error 5.05 spikes instead of 0.57.)"""
    from snn.cores.compiler.relays import calibrate
    rng = np.random.default_rng(3)
    p = _calibration_problem(3, rng)
    sign = np.array([1.0, -1.0])
    thr, leak = np.array([900, 800, 700]), np.array([5, -3, 2])
    has = np.ones((3, 2), bool)
    has[2] = False  # neuron 2: read by nobody, so not mapped
    got = calibrate(p["uptr"], p["ucols"], p["uw"], p["urow"], p["ublk"], 3, 2, p["psum"],
                    p["nsum"], has, p["spikes"], 1, 255, sign, thr, leak)
    keep = p["urow"] < 2  # the same layer without neuron 2
    sizes = np.diff(p["uptr"])[keep]
    cols = np.concatenate([p["ucols"][p["uptr"][u]:p["uptr"][u + 1]] for u in np.flatnonzero(keep)])
    uw = np.concatenate([p["uw"][p["uptr"][u]:p["uptr"][u + 1]] for u in np.flatnonzero(keep)])
    ref = calibrate(np.concatenate([[0], np.cumsum(sizes)]), cols, uw, p["urow"][keep],
                    p["ublk"][keep], 2, 2, p["psum"][:2], p["nsum"][:2], has[:2],
                    p["spikes"], 1, 255, sign, thr[:2], leak[:2])
    assert (got.kappa, got.step) == (ref.kappa, ref.step)
    np.testing.assert_array_equal(got.t_r[:2], ref.t_r)
    np.testing.assert_allclose(got.offset[:2], ref.offset)
    assert got.count_rms == pytest.approx(ref.count_rms)
    assert 0 <= ref.count_rms < 3
