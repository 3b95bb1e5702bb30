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

``layered_program`` builds a feed-forward workload with local traffic (the placement
benchmark). Small random programs for the engine's tests live in
tests/cores/engine/random_test_programs.py.
"""

from __future__ import annotations

import numpy as np

from snn.cores.hardware.spec import CoreSpec
from snn.cores.program import CoreProgram
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
