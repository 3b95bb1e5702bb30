"""TrueNorth's benchmark network: random recurrent cores at a chosen mean rate.

Merolla et al. (Science 2014) report TrueNorth's power on recurrent networks where every
neuron has a given number of active synapses and sends its spikes to an axon drawn
uniformly over all cores (every axon has exactly one source), at mean rates up to 200 Hz.
``random_program`` builds such a network for the engine; its activity is self-sustained
and deterministic (no external input, no stochastic mode), so every backend must produce
the same spikes.

How the rate is set: each neuron has a leak lambda > 0 and a threshold theta with
lambda / theta = rate * tick, reset by subtraction (mode 1) and a deep floor, so in the long
run it fires lambda / theta spikes per tick plus its mean synaptic drive. The synaptic
drive is balanced: half of a neuron's synapses come from excitatory axon types (+w), half
from inhibitory ones (-w), all axons of one type are equally likely sources, so the mean
drive is ~0 and the measured mean rate stays close to ``rate_hz`` (the benchmark measures
and reports it). Thresholds vary per neuron (so firing desynchronises), the weights make
spike timing irregular.
"""

from __future__ import annotations

import numpy as np

from snn.cores.program import CoreProgram
from snn.cores.spec import CoreSpec
from snn.errors import ConfigError

THETA_MEAN = 1000  # mean threshold; rates are set through the leak


def random_program(n_cores: int, rate_hz: float = 20.0, synapses: int = 128, seed: int = 0,
                   spec: CoreSpec | None = None, tick_s: float = 1e-3) -> CoreProgram:
    """A random recurrent program of ``n_cores`` cores, ``synapses`` active synapses per
    neuron, targets uniform over all cores, mean rate ~``rate_hz`` at ``tick_s`` ticks."""
    spec = spec or CoreSpec.truenorth()
    C, A, N = int(n_cores), spec.axons, spec.neurons
    if C < 1:
        raise ConfigError(f"n_cores must be >= 1, got {n_cores}")
    if A < 4 or A % 4:
        raise ConfigError(f"random_program needs a multiple of 4 axons per core, spec has {A}")
    if not 1 <= synapses <= A:
        raise ConfigError(f"synapses must be 1..{A} (axons per core), got {synapses}")
    per_tick = rate_hz * tick_s
    if not 0 < per_tick <= 0.5:
        raise ConfigError(f"rate_hz * tick_s must lie in (0, 0.5] spikes per tick, got "
                          f"{per_tick:g} (rate_hz={rate_hz}, tick_s={tick_s})")
    rng = np.random.default_rng(seed)
    p = CoreProgram.empty(C, spec)
    # axon types: A/4 axons of each type, 0 and 1 excitatory, 2 and 3 inhibitory
    base_types = np.repeat(np.arange(4, dtype=np.uint8), A // 4)
    n_exc = (synapses + 1) // 2
    n_inh = synapses - n_exc
    half = A // 2
    rows = np.arange(N)[:, None]
    for c in range(C):
        types = rng.permutation(base_types)
        p.axon_type[c] = types
        exc_axons = np.flatnonzero(types < 2)
        inh_axons = np.flatnonzero(types >= 2)
        # each neuron picks n_exc excitatory and n_inh inhibitory axons without repetition
        pick_e = np.argsort(rng.random((N, half)), axis=1)[:, :n_exc]
        pick_i = np.argsort(rng.random((N, half)), axis=1)[:, :n_inh]
        cbT = np.zeros((N, A), np.bool_)
        cbT[rows, exc_axons[pick_e]] = True
        cbT[rows, inh_axons[pick_i]] = True
        p.crossbar[c] = cbT.T
    w = rng.integers(16, 65, (C, N)).astype(np.int16)
    w = np.minimum(w, min(spec.weight_max, -spec.weight_min))
    p.weight[:] = np.stack([w, w, -w, -w], axis=2)
    theta = rng.integers(THETA_MEAN // 2, 3 * THETA_MEAN // 2 + 1, (C, N))
    theta = np.minimum(theta, spec.threshold_max)
    p.threshold[:] = theta
    p.leak[:] = np.maximum(1, np.rint(per_tick * theta)).astype(np.int32)
    p.reset_mode[:] = 1
    p.neg_threshold[:] = 4 * THETA_MEAN
    # targets: a random one-to-one map of neurons onto (core, axon) slots
    slots = rng.permutation(C * A)[: C * N]
    n_src = min(C * N, C * A)
    tc = np.full(C * N, -1, np.int64)
    ta = np.zeros(C * N, np.int64)
    tc[:n_src] = slots[:n_src] // A
    ta[:n_src] = slots[:n_src] % A
    p.target_core[:] = tc.reshape(C, N)
    p.target_axon[:] = ta.reshape(C, N)
    p.delay[:] = rng.integers(spec.delay_min, spec.delay_max + 1, (C, N))
    return p


def measured_rate_hz(spikes: int, n_neurons: int, ticks: int, tick_s: float = 1e-3) -> float:
    """Mean firing rate of a run: spikes / neurons / simulated seconds."""
    return spikes / max(n_neurons, 1) / max(ticks * tick_s, 1e-300)


def random_test_program(seed: int, n_cores: int = 3, axons: int = 8, neurons: int = 8,
                        density: float = 0.5, stochastic: bool = False,
                        extreme: bool = True) -> CoreProgram:
    """A small random program that exercises every rule of the tick (for tests and for
    cross-checking other simulators): all reset modes, delays 1..15, negative floors,
    readouts, targets -1 / same core / other cores, several sources per axon, in half the
    programs a non-zero initial membrane (``v_initial``), and with
    ``extreme`` leaks, weights and reset values that hit the +-2^19 saturation."""
    rng = np.random.default_rng(seed)
    C, A, N = n_cores, axons, neurons
    spec = CoreSpec(name="test", axons=A, neurons=N)
    p = CoreProgram.empty(C, spec)
    p.crossbar[:] = rng.random((C, A, N)) < density
    p.axon_type[:] = rng.integers(0, 4, (C, A))
    p.weight[:] = rng.integers(-256, 256, (C, N, 4))
    p.leak[:] = rng.integers(-20, 21, (C, N))
    p.threshold[:] = rng.integers(1, 400, (C, N))
    p.neg_threshold[:] = rng.choice([0, 1, 50, 500, 2**19], (C, N))
    p.reset_value[:] = rng.integers(-300, 300, (C, N))
    p.reset_mode[:] = rng.integers(0, 3, (C, N))
    p.target_core[:] = rng.integers(-1, C, (C, N))
    p.target_axon[:] = rng.integers(0, A, (C, N))
    p.delay[:] = rng.integers(1, 16, (C, N))
    p.output_index[:] = rng.integers(-1, 4, (C, N))
    if extreme:
        big = rng.random((C, N)) < 0.15
        p.leak[big] = rng.choice([-(2**20), -(2**19), 2**19, 2**20], big.sum())
        p.weight[rng.random((C, N, 4)) < 0.1] = 32767
        odd = rng.random((C, N)) < 0.1
        p.reset_value[odd] = rng.choice([-(2**25), 2**25, 2**31 - 1], odd.sum())
        p.threshold[rng.random((C, N)) < 0.1] = 2**19 - 1
    if stochastic:
        p.stochastic_synapse = rng.random((C, N, 4)) < 0.5
        p.stochastic_leak = rng.random((C, N)) < 0.5
        p.threshold_mask = rng.choice([0, 1, 15, 255], (C, N)).astype(np.int32)
    if rng.random() < 0.5:  # half the programs start from a non-zero membrane
        p.v_initial = rng.integers(-500, 500, (C, N)).astype(np.int32)
        if extreme:
            p.v_initial[rng.random((C, N)) < 0.1] = rng.choice([-(2**19), 2**19 - 1])
    return p.validate()


def random_test_inputs(seed: int, program: CoreProgram, ticks: int, n_frames: int = 1,
                       events: int = 30):
    """Random external inputs (engine.InputSpikes) for random_test_program, some of them at
    ticks >= ``ticks`` (to be ignored) and some repeated (collisions)."""
    from snn.cores.engine import InputSpikes
    rng = np.random.default_rng(seed + 7919)
    frames = []
    for _ in range(n_frames):
        e = int(rng.integers(0, events + 1))
        t = rng.integers(0, ticks + 5, e)
        c = rng.integers(0, program.n_cores, e)
        a = rng.integers(0, program.n_axons, e)
        if e:
            rep = rng.integers(0, e, e // 4)
            t, c, a = np.r_[t, t[rep]], np.r_[c, c[rep]], np.r_[a, a[rep]]
        frames.append((t, c, a))
    return InputSpikes.from_frames(frames)


def layered_program(layers: list[int], seed: int = 0, spread: int = 2) -> CoreProgram:
    """A hand-built feed-forward mesh workload: ``layers`` gives the cores of each layer; every
    neuron of core c targets a random axon of a core near c's relative position in the next
    layer (±spread). Used to measure placement on layered traffic."""
    rng = np.random.default_rng(seed)
    p = CoreProgram.empty(sum(layers))
    starts = np.cumsum([0] + list(layers))
    for li in range(len(layers) - 1):
        n, m = layers[li], layers[li + 1]
        for c in range(starts[li], starts[li + 1]):
            base = starts[li + 1] + int((c - starts[li]) / n * m)
            tgt = np.clip(base + rng.integers(-spread, spread + 1, 256), starts[li + 1],
                          starts[li + 2] - 1)
            p.target_core[c] = tgt
            p.target_axon[c] = rng.integers(0, 256, 256)
    return p
