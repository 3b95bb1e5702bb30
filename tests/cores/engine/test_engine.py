"""The numba engine against hand-worked ticks and the pure-Python reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_test_programs import random_test_inputs, random_test_program

from snn.cores import engine
from snn.cores.engine import InputSpikes, _fastpath, api, run
from snn.cores.engine._layout import NP_THRESHOLD, WB_COLUMNS, WB_LEAK_ROW, WB_NARROW
from snn.cores.hardware.spec import CoreSpec
from snn.cores.program import CoreProgram
from snn.errors import ConfigError

SMALL = CoreSpec(name="t", axons=4, neurons=4)


def _prog(n_cores: int = 2) -> CoreProgram:
    return CoreProgram.empty(n_cores, SMALL)


def _one_input(tick: int, core: int, axon: int) -> InputSpikes:
    return InputSpikes.from_frames([(np.array([tick]), np.array([core]), np.array([axon]))])


def assert_same(a: engine.RunResult, b: engine.RunResult) -> None:
    """Two runs agree spike for spike, counter for counter."""
    for k in engine.COUNTERS:
        np.testing.assert_array_equal(a.counters[k], b.counters[k], err_msg=k)
    np.testing.assert_array_equal(a.outputs, b.outputs)
    if a.spikes is not None:
        assert len(a.spikes) == len(b.spikes)
        for x, y in zip(a.spikes, b.spikes, strict=True):
            np.testing.assert_array_equal(x, y)
    for name in ("spike_counts", "potential"):
        if getattr(a, name) is not None:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("per_core", "per_tick"):
        if getattr(a, name) is not None:
            for k in getattr(a, name):
                np.testing.assert_array_equal(getattr(a, name)[k], getattr(b, name)[k])


# -- hand-worked ticks ------------------------------------------------------------------------

def test_chain_delay_hops_and_counters():
    p = _prog(2)
    p.crossbar[0, 0, 0] = True          # input axon 0 -> neuron 0 of core 0
    p.weight[0, 0, 0] = 5
    p.threshold[0, 0] = 5
    p.target_core[0, 0], p.target_axon[0, 0], p.delay[0, 0] = 1, 2, 3
    p.crossbar[1, 2, 1] = True          # core 1: axon 2 -> neuron 1
    p.axon_type[1, 2] = 3
    p.weight[1, 1, 3] = 10
    p.threshold[1, 1] = 10
    p.output_index[1, 1] = 0
    r = run(p, 6, _one_input(0, 0, 0), record="full")
    np.testing.assert_array_equal(r.spikes[0], [[0, 0, 0], [3, 1, 1]])
    assert r.total("spikes") == 2 and r.total("sops") == 2 and r.total("input_events") == 1
    assert r.total("hops") == 1 and r.total("chip_crossings") == 0
    assert r.outputs.tolist() == [[1]]


@pytest.mark.parametrize("mode, expected_v, expected_ticks", [
    (0, [7, -3, 4, -3], [1, 3]),       # V <- R = -3
    (1, [7, 4, 1, 8], [1, 2]),         # V <- V - 10
    (2, [7, 14, 21, 28], [1, 2, 3]),   # no reset
])
def test_reset_modes(mode, expected_v, expected_ticks):
    p = _prog(1)
    p.leak[0, 0], p.threshold[0, 0] = 7, 10
    p.reset_mode[0, 0], p.reset_value[0, 0], p.neg_threshold[0, 0] = mode, -3, 5
    vs = [int(run(p, t, return_potential=True).potential[0, 0, 0]) for t in range(1, 5)]
    assert vs == expected_v
    r = run(p, 4, record="full")
    assert r.spikes[0][:, 0].tolist() == expected_ticks


def test_floor_applies_after_reset_and_leak():
    p = _prog(1)
    p.leak[0, 0], p.neg_threshold[0, 0] = -5, 12
    p.leak[0, 1], p.threshold[0, 1] = 3, 3
    p.reset_value[0, 1], p.neg_threshold[0, 1] = -100, 20   # reset below the floor
    assert run(p, 1, return_potential=True).potential[0, 0, 1] == -20
    assert run(p, 4, return_potential=True).potential[0, 0].tolist()[:2] == [-12, -11]


def test_saturation_at_20_bits():
    p = _prog(1)
    p.leak[0, :] = [2**20, -(2**21), 2**20, 0]
    p.threshold[0, 0] = 2**19                      # unreachable: V saturates at 2^19 - 1
    p.threshold[0, 2] = 2**19 - 1
    p.reset_mode[0, 2] = 2
    p.neg_threshold[0, 1] = 2**20                  # floor below the saturation
    r = run(p, 3, record="full", return_potential=True)
    assert r.potential[0, 0].tolist() == [2**19 - 1, -(2**19), 2**19 - 1, 0]
    assert r.spikes[0].tolist() == [[0, 0, 2], [1, 0, 2], [2, 0, 2]]


def test_collisions_add_and_are_counted():
    p = _prog(2)
    p.leak[0, 0:2] = 1                             # two neurons fire at tick 0 ...
    p.target_core[0, 0:2], p.target_axon[0, 0:2] = 1, 0   # ... onto the same axon
    p.crossbar[1, 0, :] = True
    p.weight[1, :, 0] = 3
    p.threshold[1, :] = 100
    r = run(p, 2, return_potential=True)
    assert r.potential[0, 1].tolist() == [6, 6, 6, 6]
    assert r.total("axon_collisions") == 1 and r.total("sops") == 8


def test_late_inputs_ignored_and_late_spikes_count_hops_not_sops():
    p = _prog(2)
    p.leak[0, 0] = 1
    p.target_core[0, 0], p.target_axon[0, 0], p.delay[0, 0] = 1, 0, 15
    p.crossbar[1, 0, :] = True
    p.leak[0, 1] = 1                               # a neuron without target: no hops
    inp = InputSpikes.from_frames([(np.array([1, 5, 9]), np.array([1, 1, 1]),
                                    np.array([0, 0, 0]))])
    r = run(p, 5, inp)                             # inputs at 5 and 9 are >= T
    assert r.total("input_events") == 1 and r.total("sops") == 4
    assert r.total("spikes") == 10 and r.total("hops") == 5


def test_chip_crossings_and_custom_placement():
    p = _prog(2)
    p.leak[0, 0] = 1
    p.target_core[0, 0] = 1
    r = run(p, 1, chip_size=(1, 1))                # cores 0 and 1 on different chips
    assert (r.total("hops"), r.total("chip_crossings")) == (1, 1)
    p.core_xy = np.array([[0, 0], [3, 70]], np.int32)
    r = run(p, 1)
    assert (r.total("hops"), r.total("chip_crossings")) == (73, 1)


def test_counts_per_core_per_tick_are_consistent():
    p = random_test_program(3, n_cores=3)
    inp = random_test_inputs(3, p, 25, n_frames=2)
    full = run(p, 25, inp, record="full", per_core=True, per_tick=True)
    counts = run(p, 25, inp, record="counts")
    for b in range(2):
        hist = np.zeros((3, 8), np.int32)
        np.add.at(hist, (full.spikes[b][:, 1], full.spikes[b][:, 2]), 1)
        np.testing.assert_array_equal(hist, counts.spike_counts[b])
        assert (np.diff(full.spikes[b][:, 0]) >= 0).all()
    for k in ("spikes", "sops"):
        np.testing.assert_array_equal(full.per_core[k].sum(1), full.counters[k])
        np.testing.assert_array_equal(full.per_tick[k].sum(1), full.counters[k])
    np.testing.assert_array_equal(full.per_core["hops"].sum(1), full.counters["hops"])
    assert full.total("spikes") == int(counts.spike_counts.sum())


def test_stored_inputs_are_the_default_frame():
    p = _prog(1)
    p.crossbar[0, 1, 2] = True
    p.weight[0, 2, 0] = 1
    p.input_tick = np.array([0, 2], np.int32)
    p.input_core = np.array([0, 0], np.int32)
    p.input_axon = np.array([1, 1], np.int16)
    r = run(p, 4, record="full")
    assert r.spikes[0].tolist() == [[0, 0, 2], [2, 0, 2]]
    assert r.total("input_events") == 2


def test_zero_ticks_and_empty_frames():
    p = random_test_program(1)
    r = run(p, 0, InputSpikes.empty(3), record="full")
    assert r.n_frames == 3 and r.total("spikes") == 0 and all(len(s) == 0 for s in r.spikes)


# -- input validation -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(ticks=-1), "ticks"),
    (dict(ticks=2.5), "ticks"),
    (dict(record="all"), "record"),
    (dict(backend="nest"), "backend"),
    (dict(inputs=_one_input(0, 2, 0)), r"inputs\.core\[0\] = 2"),
    (dict(inputs=_one_input(0, 0, 4)), r"inputs\.axon\[0\] = 4"),
    (dict(inputs=_one_input(-1, 0, 0)), r"inputs\.tick\[0\]"),
    (dict(inputs=InputSpikes(np.zeros(2, np.int32), np.zeros(2, np.int32),
                             np.zeros(2, np.int16), np.array([0, 1]))), "offsets"),
    (dict(inputs=InputSpikes(np.zeros(1), np.zeros(1, np.int32), np.zeros(1, np.int16),
                             np.array([0, 1]))), "dtype"),
])
def test_bad_arguments_give_clear_errors(kwargs, match):
    args = dict(ticks=3)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        run(_prog(2), **args)


# -- engine == reference ----------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_engine_matches_reference_on_random_programs(seed):
    p = random_test_program(seed, stochastic=seed % 2 == 1, n_cores=1 + seed % 3)
    inp = random_test_inputs(seed, p, 30, n_frames=1 + seed % 3)
    kw = dict(record="full", per_core=True, per_tick=True, return_potential=True, seed=seed)
    assert_same(run(p, 30, inp, **kw), run(p, 30, inp, backend="reference", **kw))


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31 - 1), cores=st.integers(1, 4), axons=st.sampled_from([4, 8]),
       neurons=st.sampled_from([4, 8]), density=st.floats(0.05, 1.0),
       stochastic=st.booleans(), ticks=st.integers(0, 40), frames=st.integers(1, 3),
       record=st.sampled_from(["full", "counts"]))
def test_property_engine_equals_reference(seed, cores, axons, neurons, density, stochastic,
                                          ticks, frames, record):
    p = random_test_program(seed, cores, axons, neurons, density, stochastic)
    inp = random_test_inputs(seed, p, max(ticks, 1), n_frames=frames)
    kw = dict(record=record, per_core=True, per_tick=True, return_potential=True, seed=seed)
    assert_same(run(p, ticks, inp, **kw), run(p, ticks, inp, backend="reference", **kw))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31 - 1), cores=st.integers(1, 5), axons=st.sampled_from([4, 8, 20]),
       neurons=st.sampled_from([4, 8, 16]), density=st.floats(0.05, 1.0),
       extreme=st.booleans(), ticks=st.integers(0, 40), frames=st.integers(1, 3),
       record=st.sampled_from(["full", "counts", "none"]))
def test_property_fast_path_equals_general_kernels(seed, cores, axons, neurons, density,
                                                   extreme, ticks, frames, record):
    p = random_test_program(seed, cores, axons, neurons, density, extreme=extreme)
    inp = random_test_inputs(seed, p, max(ticks, 1), n_frames=frames)
    kw = dict(record=record, per_core=True, per_tick=True, return_potential=True)
    fast = engine.prepare(p, inputs=inp)
    if not extreme:
        assert fast.rt is not None  # the fast path is taken
    general = engine.prepare(p, inputs=inp, options=engine.EngineOptions(path="general"))
    assert general.rt is None
    assert_same(engine.run_prepared(fast, ticks, inp, **kw),
                engine.run_prepared(general, ticks, inp, **kw))


@pytest.mark.parametrize("narrow", [False, True])
@pytest.mark.parametrize("mode", [0, 1, 2])
def test_fast_path_core_wide_reset_mode_equals_general_kernels(mode, narrow):
    # every neuron of a core shares the reset mode: the fast path resets without reading
    # route words or (modes 1 and 2) reset values; narrow (int16) cores reset by
    # subtraction inside the vector pass, and mode 2 needs no reset there
    p = random_test_program(11, 3, 8, 16, 0.6, extreme=not narrow)
    p.reset_mode[:] = mode
    p.reset_value[:] = 3
    inp = random_test_inputs(11, p, 40)
    fast = engine.prepare(p, inputs=inp)
    assert fast.rt is not None and (fast.cmode == mode).all()
    assert fast.wbound.shape[0] == (p.n_cores if narrow else 0)
    if narrow:  # every core may keep an int16 membrane: the pass resets (mode 1)
        assert (fast.wbound[:, WB_NARROW] == 1).all()
    general = engine.prepare(p, inputs=inp, options=engine.EngineOptions(path="general"))
    kw = dict(record="full", per_core=True, per_tick=True, return_potential=True)
    assert_same(engine.run_prepared(fast, 40, inp, **kw),
                engine.run_prepared(general, 40, inp, **kw))


def test_full_record_grows_beyond_its_first_capacity():
    # 8 cores x 256 neurons fire every tick: 1.2 M spikes in 600 ticks, beyond the first
    # 2^20 rows of the fast path's record (the ticks that do not fit grow it)
    p = CoreProgram.empty(8)
    p.leak[:] = 1
    p.threshold[:] = 1
    p.reset_mode[:] = 1
    fast = engine.prepare(p)
    assert fast.rt is not None
    spikes = engine.run_prepared(fast, 600, record="full").spikes[0]
    assert len(spikes) == 8 * 256 * 600 > 1 << 20
    np.testing.assert_array_equal(spikes[:, 0], np.repeat(np.arange(600), 8 * 256))
    np.testing.assert_array_equal(spikes[:, 1], np.tile(np.repeat(np.arange(8), 256), 600))
    np.testing.assert_array_equal(spikes[:, 2], np.tile(np.arange(256), 8 * 600))


def test_seed_changes_stochastic_runs_only():
    p = random_test_program(5, stochastic=True)
    a, b = run(p, 40, record="full", seed=1), run(p, 40, record="full", seed=2)
    assert not np.array_equal(a.spikes[0], b.spikes[0])
    q = random_test_program(5, stochastic=False)
    np.testing.assert_array_equal(run(q, 40, record="full", seed=1).spikes[0],
                                  run(q, 40, record="full", seed=2).spikes[0])


# -- thread-count independence ----------------------------------------------------------------

_THREAD_SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    from snn.cores import engine
    from snn.cores.engine import _fastpath
    from random_test_programs import random_test_program, random_test_inputs
    # force the per-tick prange over cores for one frame, even on a busy machine
    opts = engine.EngineOptions(par_min_cores=1)
    out = {}
    for stochastic in (True, False):  # the general kernels and the fast path
        p = random_test_program(11, n_cores=6, axons=16, neurons=16, stochastic=stochastic,
                                extreme=stochastic)
        assert (engine.prepare(p).rt is None) == stochastic
        for frames in (1, 4):
            inp = random_test_inputs(11, p, 60, n_frames=frames, events=80)
            r = engine.run(p, 60, inp, record="full", seed=3, return_potential=True,
                           per_core=True, per_tick=True, options=opts)
            h = hashlib.sha256()
            for s in r.spikes:
                h.update(s.tobytes())
            h.update(r.potential.tobytes())
            for d in (r.per_core, r.per_tick):
                for v in d.values():
                    h.update(v.tobytes())
            out[f"{stochastic}-{frames}"] = [h.hexdigest(),
                                             {k: v.tolist() for k, v in r.counters.items()}]
    import numba
    from snn.cores.engine import _narrow
    out["threads"] = numba.get_num_threads()
    out["compress"] = _narrow.COMPRESS
    print(json.dumps(out))
""")


def test_identical_results_for_1_and_2_threads_and_any_cpu():
    """The same spikes, membranes and counts on 1 and 2 threads, and where numba compiles
    for an AVX2 CPU (no AVX-512: the narrow pass leaves fire bits instead of compressing
    the fired list in a register)."""
    results = []
    for threads, cpu in ((1, None), (2, None), (2, "haswell")):
        path = os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                             os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), PYTHONPATH=path)
        env.pop("NUMBA_CPU_FEATURES", None)
        if cpu:
            env["NUMBA_CPU_NAME"] = cpu
        proc = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert [r.pop("threads") for r in results] == [1, 2, 2]
    assert results[2].pop("compress") is False
    assert results[0].pop("compress") == results[1].pop("compress")
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("chunks", [None, 3, 5])
@pytest.mark.parametrize("record", ["none", "counts", "full"])
def test_one_frame_on_several_threads_equals_one_thread(seed, chunks, record, monkeypatch):
    """The fast path's single-frame pool (one parallel region, chunks claimed by threads,
    ticks closed by the last chunk's thread) gives the serial result; with more chunks than
    threads, each thread runs its home chunks and the ones nobody claims. A full spike
    record is written chunk by chunk in (tick, core, neuron) order."""
    import numba
    p = random_test_program(seed, n_cores=6, axons=16, neurons=16, extreme=False)
    inp = random_test_inputs(seed, p, 50, events=60)
    kw = dict(record=record, per_core=True, per_tick=True, return_potential=True)
    serial = run(p, 50, inp, **kw)
    calls = []
    pool = _fastpath.fast_frame_pool
    monkeypatch.setattr(_fastpath, "fast_frame_pool",
                        lambda *a: calls.append(a[1]) or pool(*a))
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        assert engine.prepare(p, inputs=inp).rt is not None  # the fast path
        pooled = run(p, 50, inp, **kw, options=engine.EngineOptions(
            threads=2, chunks=chunks, par_min_cores=1))
    finally:
        numba.set_num_threads(before)
    assert_same(serial, pooled)
    assert serial.total("spikes") > 0
    assert calls, "the single-frame pool did not run"
    if chunks is not None:
        assert len(calls[-1]) == chunks + 1  # its bounds: the chunks asked for


def test_pool_record_that_outgrows_its_rows_runs_the_frame_again(monkeypatch):
    """A pool frame whose spikes overflow its record rows runs again with room for all:
    the same record, counters and membranes as the serial kernel."""
    import numba

    from snn.cores.engine import api
    p = random_test_program(3, n_cores=6, axons=16, neurons=16, extreme=False)
    inp = random_test_inputs(3, p, 50, events=60)
    kw = dict(record="full", per_core=True, per_tick=True, return_potential=True)
    serial = run(p, 50, inp, **kw)
    calls = []
    pool = _fastpath.fast_frame_pool
    monkeypatch.setattr(_fastpath, "fast_frame_pool",
                        lambda *a: calls.append(a[-1].shape[0]) or pool(*a))
    monkeypatch.setattr(api, "_POOL_RECORD_ROWS", 2)
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        pooled = run(p, 50, inp, **kw, options=engine.EngineOptions(threads=2,
                                                                    par_min_cores=1))
    finally:
        numba.set_num_threads(before)
    assert_same(serial, pooled)
    assert serial.total("spikes") > 4
    assert calls[-2:] == [2, calls[-1]] and calls[-1] > 2  # ran again with more rows


@pytest.mark.parametrize("threads", [1, 2])
def test_record_sized_by_the_last_frame_stays_exact(threads):
    """A single frame's full record starts with a quarter more rows than the last frame's
    (serial: it doubles where more are needed; pool: the frame runs again): longer, shorter
    and equal runs after one another give the records of a fresh preparation."""
    import numba
    p = random_test_program(4, n_cores=6, axons=16, neurons=16, extreme=False)
    opts = engine.EngineOptions(threads=threads, par_min_cores=1)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        prep = engine.prepare(p, options=opts)
        for T in (10, 200, 200, 30):
            got = engine.run_prepared(prep, T, record="full")
            want = engine.run_prepared(engine.prepare(p, options=opts), T, record="full")
            assert np.array_equal(got.spikes[0], want.spikes[0])
            assert prep.record_rows[0] == len(got.spikes[0])
    finally:
        numba.set_num_threads(before)
    assert len(want.spikes[0]) > 0


def test_progress_chunks_give_the_same_result():
    p = random_test_program(9, n_cores=2)
    inp = random_test_inputs(9, p, 20, n_frames=25)
    kw = dict(record="full", per_core=True, per_tick=True, return_potential=True)
    assert_same(run(p, 20, inp, progress=True, **kw), run(p, 20, inp, **kw))


@pytest.mark.parametrize("fast", [True, False])
def test_v_initial_is_the_membrane_at_the_start_of_every_frame(fast):
    p = CoreProgram.empty(1)
    p.threshold[0, :3] = 10
    p.reset_mode[0, :3] = 1
    p.output_index[0, :3] = [0, 1, 2]
    p.v_initial = np.zeros((1, 256), np.int32)
    p.v_initial[0, :3] = [10, 25, -3]  # fires at tick 0; fires at ticks 0 and 1; never
    p.neg_threshold[0, 2] = 10  # floor -10: neuron 2 keeps its -3
    empty = (np.zeros(0, np.int64),) * 3
    inp = InputSpikes.from_frames([empty, empty])  # two frames: each starts from v_initial
    r = engine.run(p.validate(), 5, inp, return_potential=True,
                   options=engine.EngineOptions(path="fast" if fast else "general"))
    np.testing.assert_array_equal(r.outputs, [[1, 2, 0], [1, 2, 0]])
    np.testing.assert_array_equal(r.potential[:, 0, :3], [[0, 5, -3], [0, 5, -3]])


# -- int16 membrane of the fast path ----------------------------------------------------------

def _narrowable(seed: int, cores: int, axons: int, neurons: int, density: float,
                climbers: float) -> CoreProgram:
    """A random program whose leak, threshold, floor and reset values fit int16 (the fast
    path may keep its membranes in int16); a share of neurons never reset and leak upwards
    hard, so that their membrane leaves int16 and their cores must turn wide."""
    p = random_test_program(seed, cores, axons, neurons, density, extreme=False)
    rng = np.random.default_rng(seed)
    p.neg_threshold[:] = rng.choice([0, 1, 50, 500, 30000, 32768, 2**19], p.neg_threshold.shape)
    p.reset_value[:] = np.clip(p.reset_value, -32768, 32767)
    climb = rng.random(p.leak.shape) < climbers
    p.reset_mode[climb] = 2
    p.threshold[climb] = rng.integers(20000, 40000, climb.sum())  # some beyond int16
    p.leak[climb] = rng.integers(500, 20000, climb.sum())
    p.threshold[rng.random(p.threshold.shape) < 0.05] = 2**18 - 1  # parked neurons
    if cores > 1 and rng.random() < 0.5:
        p.leak[0, 0] = 40000  # core 0 cannot be narrow; the others can
    return p


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31 - 1), cores=st.integers(1, 5), axons=st.sampled_from([4, 8, 20]),
       neurons=st.sampled_from([16, 32, 80]), density=st.floats(0.05, 1.0),
       climbers=st.sampled_from([0.0, 0.05, 0.3]), ticks=st.integers(0, 60),
       frames=st.integers(1, 3), record=st.sampled_from(["full", "counts", "none"]))
def test_property_int16_membranes_equal_int32(seed, cores, axons, neurons, density, climbers,
                                              ticks, frames, record):
    """Cores that keep their membrane in int16 (and turn to int32 when a tick's input could
    leave int16) give exactly what the int32 fast path and the general kernels give."""
    p = _narrowable(seed, cores, axons, neurons, density, climbers)
    inp = random_test_inputs(seed, p, max(ticks, 1), n_frames=frames)
    kw = dict(record=record, per_core=True, per_tick=True, return_potential=True)
    prep = engine.prepare(p, inputs=inp)
    assert prep.rt is not None and prep.wbound.shape == (cores, WB_COLUMNS)  # int16 may serve
    assert prep.wbound[:, 4].tolist() == [p.leak[c].max() <= 32767 for c in range(cores)]
    narrow = engine.run_prepared(prep, ticks, inp, **kw)
    assert_same(narrow, engine.run_prepared(prep, ticks, inp, **kw,
                                            options=engine.EngineOptions(narrow=False)))
    general = _general(p, inp)
    assert_same(narrow, engine.run_prepared(general, ticks, inp, **kw))


def test_a_membrane_leaving_int16_turns_its_core_wide():
    """A neuron that never resets climbs by its leak past int16 to the 20-bit ceiling; its
    neighbours on the core, and the other core, keep counting right."""
    p = CoreProgram.empty(2, CoreSpec(name="t16", axons=4, neurons=16))
    p.threshold[:] = 32767
    p.reset_mode[0, 0] = 2  # fires from tick 10 on, never resets
    p.leak[0, 0] = 3000  # 3000 a tick: leaves int16 at tick 10, saturates at tick 174
    p.leak[0, 1] = -7
    p.neg_threshold[0, 1] = 100
    p.leak[1, :] = 1
    prep = engine.prepare(p)
    assert prep.wbound.shape == (2, WB_COLUMNS)
    for ticks in (5, 11, 200):
        r = run(p, ticks, return_potential=True)
        v = r.potential[0]
        assert v[0, 0] == min(3000 * ticks, 2**19 - 1)
        assert v[0, 1] == max(-7 * ticks, -100)
        assert (v[1] == ticks).all()
        assert_same(r, run(p, ticks, return_potential=True, backend="reference"))


@pytest.mark.parametrize("seed", range(3))
def test_int16_cores_on_several_threads_equal_one_thread(seed, monkeypatch):
    """The single-frame pool keeps narrow cores narrow (and turns them wide) as the serial
    kernel does."""
    import numba
    p = _narrowable(seed, 6, 16, 16, 0.5, 0.1)
    inp = random_test_inputs(seed, p, 80, events=60)
    kw = dict(record="counts", per_core=True, per_tick=True, return_potential=True)
    assert engine.prepare(p, inputs=inp).wbound.shape == (6, WB_COLUMNS)
    serial = run(p, 80, inp, **kw)
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        pooled = run(p, 80, inp, **kw, options=engine.EngineOptions(
            threads=2, chunks=3, par_min_cores=1))
    finally:
        numba.set_num_threads(before)
    assert_same(serial, pooled)
    assert_same(serial, run(p, 80, inp, **kw, options=engine.EngineOptions(narrow=False)))


# -- collision-free programs and route words ---------------------------------------------------

def _general(p: CoreProgram, inp: InputSpikes | None = None) -> engine.Prepared:
    return engine.prepare(p, inputs=inp, options=engine.EngineOptions(path="general"))


def test_collisions_are_possible_only_with_two_sources_or_inputs():
    """The fast path skips marking axons only where no two spikes can meet on one."""
    from snn.cores.random_network import random_program
    p = random_program(3, synapses=4, spec=CoreSpec(name="t", axons=8, neurons=4), seed=1)
    prep = engine.prepare(p)

    def may(frames: list[tuple[list[int], list[int], list[int]]]) -> bool:
        inp = InputSpikes.from_frames([tuple(np.array(x) for x in f) for f in frames])
        return api._may_collide(prep, *api._sorted_inputs(inp, 10))

    assert not may([([], [], [])])
    free = [a for a in range(8) if not ((p.target_core == 0) & (p.target_axon == a)).any()]
    taken = int(p.target_axon[p.target_core == 0][0])
    assert free  # an untargeted axon: an input there meets no neuron's spike
    assert not may([([1, 2], [0, 0], [free[0], free[0]])])
    assert may([([1, 1], [0, 0], [free[0], free[0]])])          # two inputs in one tick
    assert not may([([1], [0], [free[0]]), ([1], [0], [free[0]])])  # different frames
    assert may([([3], [0], [taken])])                           # input on a neuron's axon
    p.target_core[0, :2], p.target_axon[0, :2] = 1, 5           # two sources on one axon
    none = api._sorted_inputs(InputSpikes.empty(), 10)
    assert api._may_collide(engine.prepare(p), *none) is True


@pytest.mark.parametrize("seed", [0, 1])
def test_collision_free_program_equals_general_kernels(seed):
    """A one-to-one network (no axon marks on the fast path) with and without colliding
    inputs: the same spikes and counters, collisions included, as the general kernels."""
    from snn.cores.random_network import random_program
    spec = CoreSpec(name="t", axons=16, neurons=16)
    p = random_program(4, rate_hz=100, synapses=8, seed=seed, spec=spec)
    kw = dict(record="full", per_core=True, per_tick=True, return_potential=True)
    free = engine.prepare(p)
    assert not api._may_collide(free, *api._sorted_inputs(InputSpikes.empty(), 60))
    assert_same(engine.run_prepared(free, 60, **kw), engine.run_prepared(_general(p), 60, **kw))
    inp = random_test_inputs(seed, p, 60, n_frames=2, events=80)
    r = engine.run_prepared(engine.prepare(p, inputs=inp), 60, inp, **kw)
    assert r.total("axon_collisions") > 0
    assert_same(r, engine.run_prepared(_general(p, inp), 60, inp, **kw))


def test_routes_off_chip_or_beyond_127_hops_count_from_positions():
    """Hops of on-chip routes up to 127 come from the route word, the rest from the mesh
    positions: both equal hop_counts and the general kernels."""
    p = _prog(3)
    p.leak[0, :3] = 1
    p.target_core[0, :3] = [1, 2, 0]
    p.core_xy = np.array([[0, 0], [127, 0], [100, 28]], np.int32)   # 127 and 128 hops
    for chips in [(256, 256), (64, 64)]:
        prep = engine.prepare(p, chip_size=chips)
        assert (prep.rt[0, :3] < 0).tolist() == [chips == (64, 64), True, False]
        hops, cross = engine.hop_counts(p, chips)
        r = engine.run_prepared(prep, 3)
        g = engine.run_prepared(_general(p), 3) if chips == (64, 64) else None
        assert r.total("hops") == 3 * hops[0, :3].sum() and r.total("chip_crossings") == (
            3 * cross[0, :3].sum())
        if g is not None:
            assert_same(r, g)


def test_narrow_pass_adds_every_number_of_rows():
    """Tick t brings t input spikes (0..12) to a narrow core, so its pass adds each number of
    weight rows once (up to MAX_ROWS itself, the rest four at a time first): membranes and
    spikes equal the int32 fast path and the reference."""
    from snn.cores.engine._narrow import MAX_ROWS
    rng = np.random.default_rng(3)
    p = CoreProgram.empty(2, CoreSpec(name="t16", axons=16, neurons=16))
    p.crossbar[:] = rng.random(p.crossbar.shape) < 0.8
    p.axon_type[:] = rng.integers(0, 4, p.axon_type.shape)
    p.weight[:] = rng.integers(-60, 61, p.weight.shape)
    p.threshold[:] = rng.integers(100, 400, p.threshold.shape)
    p.neg_threshold[:] = 300
    p.reset_mode[:] = rng.integers(0, 3, p.reset_mode.shape)
    p.leak[:] = rng.integers(-3, 4, p.leak.shape)
    ticks = MAX_ROWS + 5
    t = np.concatenate([np.full(k, k) for k in range(ticks)])
    a = np.concatenate([rng.permutation(16)[:k] for k in range(ticks)])
    inp = InputSpikes.from_frames([(t, np.zeros_like(t), a)])
    assert engine.prepare(p, inputs=inp).wbound.shape == (2, WB_COLUMNS)
    kw = dict(record="full", per_tick=True, return_potential=True)
    narrow = run(p, ticks, inp, **kw)
    assert narrow.total("spikes") > 0
    assert_same(narrow, run(p, ticks, inp, backend="reference", **kw))
    assert_same(narrow, run(p, ticks, inp, **kw, options=engine.EngineOptions(narrow=False)))


def test_narrow_cores_clip_parked_thresholds_and_deep_floors():
    """Thresholds above int16 (parked neurons) and floors below it (no floor), as converted
    networks have them, leave a core narrow: a membrane driven to exactly 32766 and -32768
    in int16 neither fires nor floors wrongly, then the core turns wide and goes on exactly."""
    p = CoreProgram.empty(2, CoreSpec(name="t16", axons=4, neurons=16))
    p.threshold[:] = 2**18 - 1
    p.neg_threshold[:] = 2**19
    p.leak[0, 0] = 16383    # 16383, 32766 (narrow, below the parked threshold), then wide
    p.leak[0, 1] = -16384   # -16384, -32768 (narrow, floor far below), then wide
    p.leak[1, :] = 7
    p.threshold[1, :] = 50
    p.reset_mode[1, :] = 1
    prep = engine.prepare(p)
    assert prep.wbound[:, 4].tolist() == [1, 1] and prep.npar16[NP_THRESHOLD, 0, 0] == 32767
    kw = dict(record="full", per_tick=True, return_potential=True)
    two = engine.run_prepared(prep, 2, **kw)
    assert two.potential[0, 0, :2].tolist() == [32766, -32768] and two.total("spikes") == 0
    for ticks in (2, 3, 40):
        r = run(p, ticks, **kw)
        assert_same(r, run(p, ticks, backend="reference", **kw))
    fired = r.spikes[0][r.spikes[0][:, 1] == 0].tolist()
    assert fired == [[16, 0, 0], [33, 0, 0]]  # 17 leaks reach the parked threshold


def test_narrow_cores_read_shared_parameter_rows_where_a_core_is_uniform():
    """A narrow core whose neurons share a leak, threshold or floor reads that plane's
    shared row (one per distinct value, after the cores' own rows), else its own: mixed
    uniform and per-neuron parameters run as the reference does."""
    rng = np.random.default_rng(5)
    p = random_test_program(5, n_cores=5, axons=16, neurons=16, extreme=False)
    p.reset_mode[:] = rng.integers(0, 3, p.reset_mode.shape)
    p.leak[:] = rng.integers(-2, 4, p.leak.shape)
    p.leak[[0, 2]] = 3                      # cores 0 and 2 share one leak row
    p.threshold[1] = 40                     # core 1: a threshold row of its own value
    p.neg_threshold[:] = 300                # every core: one floor row
    p.neg_threshold[4, :8] = 200            # core 4's floors differ: its own row
    prep = engine.prepare(p)
    C = p.n_cores
    rows = prep.wbound[:, WB_LEAK_ROW:WB_LEAK_ROW + 3]
    assert rows[0, 0] == rows[2, 0] >= C and rows[1, 0] == 1 and rows[3, 0] == 3
    assert rows[1, 1] >= C and rows[0, 1] == 0
    assert (rows[:4, 2] == rows[0, 2]).all() and rows[0, 2] >= C and rows[4, 2] == 4
    assert prep.wbound[:, 4].all()  # every core may be narrow
    assert (prep.npar16[0, rows[0, 0]] == 3).all() and (prep.npar16[1, rows[1, 1]] == 40).all()
    assert (prep.npar16[2, rows[0, 2]] == -300).all()
    inp = random_test_inputs(5, p, 60, events=80)
    kw = dict(record="full", per_tick=True, return_potential=True)
    fast = run(p, 60, inp, **kw)
    assert fast.total("spikes") > 0
    assert_same(fast, run(p, 60, inp, backend="reference", **kw))


# -- membrane probes --------------------------------------------------------------------------

@pytest.mark.parametrize("seed, stochastic, extreme, frames", [
    (0, False, False, 1), (1, False, False, 3), (2, True, True, 2), (3, True, False, 1),
    (4, False, True, 2), (5, False, False, 2)])
def test_probes_equal_the_reference_membrane_tick_by_tick(seed, stochastic, extreme, frames):
    p = random_test_program(seed, 3, 8, 8, stochastic=stochastic, extreme=extreme)
    inp = random_test_inputs(seed, p, 30, n_frames=frames)
    probe = [(c, n) for c in range(p.n_cores) for n in range(p.n_neurons)]
    kw = dict(record="full", return_potential=True, seed=seed, probe=probe)
    ref = run(p, 30, inp, backend="reference", **kw)
    got = run(p, 30, inp, **kw)
    assert got.probes.shape == (frames, 30, len(probe)) and got.probes.dtype == np.int32
    np.testing.assert_array_equal(got.probes, ref.probes)
    np.testing.assert_array_equal(got.probes[:, -1], got.potential.reshape(frames, -1))
    assert_same(got, ref)
    if not (stochastic or extreme):
        assert engine.prepare(p, inputs=inp).rt is not None  # the fast path's snapshots


def test_bad_probes_name_the_entry():
    with pytest.raises(ConfigError, match=r"probe\[1\] = \(2, 0\) is outside"):
        run(_prog(2), 3, probe=[(0, 0), (2, 0)])
    with pytest.raises(ConfigError, match="brian2 backend keeps no membrane"):
        run(_prog(2), 3, probe=[(0, 0)], backend="brian2")
    assert run(_prog(2), 3).probes is None


def test_probes_start_from_v_initial_on_every_path():
    seeds = [s for s in range(20) if random_test_program(s, extreme=False).v_initial is not None]
    p = random_test_program(seeds[0], extreme=False)
    assert np.abs(p.v_initial).max() > 0
    inp = random_test_inputs(seeds[0], p, 20, n_frames=1)
    probe = [(c, n) for c in range(p.n_cores) for n in range(p.n_neurons)]
    ref = run(p, 20, inp, backend="reference", probe=probe).probes
    for opts in (dict(path="fast"), dict(path="general"), dict(narrow=False),
                 dict(threads=2, chunks=3, par_min_cores=1)):
        got = run(p, 20, inp, probe=probe, options=engine.EngineOptions(**opts)).probes
        np.testing.assert_array_equal(got, ref, err_msg=str(opts))


def test_engine_options_are_checked_and_fast_is_refused_where_it_cannot_run():
    with pytest.raises(ConfigError, match="EngineOptions.path must be one of"):
        engine.EngineOptions(path="quick")
    with pytest.raises(ConfigError, match="EngineOptions.threads must be None or"):
        engine.EngineOptions(threads=0)
    p = random_test_program(2, stochastic=True)
    with pytest.raises(ConfigError, match="cannot take the fast path"):
        run(p, 5, options=engine.EngineOptions(path="fast"))
    assert engine.frame_chunks(300, engine.EngineOptions(threads=1)) == 1
    assert engine.frame_chunks(300, engine.EngineOptions(threads=4)) == 4
    assert engine.frame_chunks(300, engine.EngineOptions(threads=4, chunks=7)) == 7
    # the pool from 32 cores, kernels with a barrier per tick from 256, unless told
    assert engine.frame_chunks(100, engine.EngineOptions(threads=4)) == 4
    assert engine.frame_chunks(20, engine.EngineOptions(threads=4)) == 1
    assert engine.frame_chunks(20, engine.EngineOptions(threads=4, par_min_cores=16)) == 4
    assert engine.frame_chunks(100, engine.EngineOptions(threads=4), barrier=True) == 1
    assert engine.frame_chunks(300, engine.EngineOptions(threads=4), barrier=True) == 4
    assert engine.frame_chunks(8, engine.EngineOptions(threads=2, par_min_cores=8),
                               barrier=True) == 2
    with pytest.raises(ConfigError, match="EngineOptions.par_min_cores must be None or"):
        engine.EngineOptions(par_min_cores=0)


def test_threads_for_load_says_why_it_chose_fewer(monkeypatch):
    from snn.cores.engine import options
    monkeypatch.setattr(options.os, "getloadavg", lambda: (3.9, 0.0, 0.0))
    monkeypatch.setattr(options.os, "sched_getaffinity", lambda _: {0, 1, 2, 3}, raising=False)
    assert options.threads_for_load(4) == (1, "one frame runs on 1 of 4 threads: the 1-minute "
                                           "load average 3.9 on 4 CPUs leaves no more free")
    monkeypatch.setattr(options.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert options.threads_for_load(4) == (4, "")
