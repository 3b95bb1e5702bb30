"""Small random core programs and inputs that exercise every rule of the tick, for the engine's
spike-exactness tests and for cross-checking other simulators (Brian2, the validator).

Imported by tests as ``from random_test_programs import ...`` (tests/conftest.py puts this
folder on sys.path)."""

from __future__ import annotations

import numpy as np

from snn.cores.engine import InputSpikes
from snn.cores.hardware.spec import CoreSpec
from snn.cores.program import CoreProgram


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
