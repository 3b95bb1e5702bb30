"""Brian2 backend == numba engine == reference, spike for spike (deterministic programs)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_test_programs import random_test_inputs, random_test_program

from snn.cores.engine import run
from snn.cores.random_network import random_program
from snn.errors import ConfigError

pytest.importorskip("brian2")

KW = dict(record="full", per_core=True, per_tick=True, return_potential=True)


def _same(a, b) -> None:
    for k in a.counters:
        np.testing.assert_array_equal(a.counters[k], b.counters[k], err_msg=k)
    np.testing.assert_array_equal(a.outputs, b.outputs)
    for x, y in zip(a.spikes, b.spikes, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.potential, b.potential)
    for k in a.per_core:
        np.testing.assert_array_equal(a.per_core[k], b.per_core[k])
    for k in a.per_tick:
        np.testing.assert_array_equal(a.per_tick[k], b.per_tick[k])


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31 - 1), cores=st.integers(1, 3), density=st.floats(0.1, 1.0),
       ticks=st.integers(1, 30))
def test_property_brian2_equals_engine_and_reference(seed, cores, density, ticks):
    p = random_test_program(seed, cores, 8, 8, density)
    inp = random_test_inputs(seed, p, ticks, n_frames=1)
    eng = run(p, ticks, inp, **KW)
    _same(eng, run(p, ticks, inp, backend="brian2", **KW))
    _same(eng, run(p, ticks, inp, backend="reference", **KW))


def test_brian2_on_a_benchmark_network():
    p = random_program(2, rate_hz=100, synapses=32, seed=3)
    eng = run(p, 80, **KW)
    assert eng.total("spikes") > 500
    _same(eng, run(p, 80, backend="brian2", **KW))


def test_brian2_refuses_stochastic_programs():
    p = random_test_program(1, stochastic=True)
    with pytest.raises(ConfigError, match="deterministic"):
        run(p, 5, backend="brian2")


def test_brian2_repeats_keep_the_fastest_run_of_the_same_spikes():
    from snn.cores.engine import InputSpikes
    from snn.cores.engine.brian2_backend import run_brian2
    p = random_program(1, rate_hz=100, synapses=32, seed=5)
    inp = InputSpikes.from_program(p)
    once = run_brian2(p, 40, inp, record="full", return_potential=True)
    twice = run_brian2(p, 40, inp, record="full", return_potential=True, repeats=3)
    assert twice.total("spikes") > 0
    _same_spikes = [np.array_equal(x, y) for x, y in zip(once.spikes, twice.spikes, strict=True)]
    assert all(_same_spikes)
    np.testing.assert_array_equal(once.potential, twice.potential)
    with pytest.raises(ConfigError, match="repeats"):
        run_brian2(p, 40, inp, repeats=0)
