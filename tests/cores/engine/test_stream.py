"""The streaming evaluator: one run with snapshots equals one run per tick count, for any
batching, sharding and encoding; a Ctrl-C keeps the finished frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snn.cores.compiler import compile_network, encode_frames
from snn.cores.engine import run
from snn.cores.engine.stream import FrameStream, Tally
from snn.cores.evaluate import decode, evaluate_program
from snn.cores.hardware.spec import CoreSpec


def _load_builders():  # noqa: ANN202
    """The small networks of test_compiler (tests run with --import-mode=importlib)."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "_compiler_builders", Path(__file__).parents[1] / "compiler" / "test_compiler.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._cnn, mod._images, mod._mlp


_cnn, _images, _mlp = _load_builders()

TICKS = [5, 12, 30]


def _programs() -> dict:
    return {"mlp": compile_network(_mlp()).program,
            "cnn": compile_network(_cnn()).program,
            "mlp-split": compile_network(_mlp(1, bias=False), CoreSpec.preset("small")).program}


@pytest.fixture(scope="module")
def programs() -> dict:
    return _programs()


def _per_t(prog, imgs, ticks=TICKS) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Predictions and counters from one engine run per T (the evaluator before streaming)."""
    fs = FrameStream(prog, ticks)
    fs.fast = False
    pred, counters, _, _ = fs.run_batch(imgs)
    return pred, counters


@pytest.mark.parametrize("name", ["mlp", "cnn", "mlp-split"])
def test_snapshots_equal_one_run_per_tick_count(programs, name) -> None:  # noqa: ANN001
    prog = programs[name]
    imgs = _images(11, 2)
    fs = FrameStream(prog, TICKS)
    assert fs.fast
    pred, counters, _, _ = fs.run_batch(imgs)
    want_pred, want_counters = _per_t(prog, imgs)
    assert np.array_equal(pred, want_pred)
    assert np.array_equal(counters, want_counters)
    assert (counters[:, -1, 1] > counters[:, 0, 1]).all()  # SOPs grow with T


def test_snapshot_values_equal_a_run_of_exactly_t_ticks(programs) -> None:  # noqa: ANN001
    """The readout's decoded value at T does not see the inputs after T ideal ticks (they
    reach it after T + latency core ticks), so it equals a run fed only T ticks."""
    prog = programs["mlp-split"]
    imgs = _images(5, 4)
    fs = FrameStream(prog, TICKS)
    lat = fs.latency
    snap_vals = None

    from snn.cores.engine import _stream  # noqa: F401  (compiled by run_batch)
    orig = fs._decode

    def keep(snap):  # noqa: ANN001, ANN202
        nonlocal snap_vals
        snap_vals = orig(snap)
        return snap_vals
    fs._decode = keep
    fs.run_batch(imgs)
    for s, t in enumerate(TICKS):
        res = run(prog, t + lat, encode_frames(prog, imgs, t), return_potential=True)
        assert np.allclose(snap_vals[:, s], decode(prog, res.outputs, res.potential, t))


def test_batching_does_not_change_results(programs) -> None:  # noqa: ANN001
    prog = programs["cnn"]
    imgs, labels = _images(13, 5), np.arange(13) % 10
    results = [evaluate_program(prog, imgs, labels, TICKS, batch=b) for b in (1, 4, None)]
    for r in results[1:]:
        assert r["accuracy"] == results[0]["accuracy"]
        assert r["counters"] == results[0]["counters"]
    assert results[0]["frames"] == 13 and "snapshots" in results[0]["engine"]


def test_poisson_program_streams_like_per_t_runs() -> None:
    net = _mlp(2)
    net.meta["encoding"] = "poisson"
    prog = compile_network(net).program
    assert str(prog.extras["encoding"]) == "poisson"
    imgs = _images(6, 7)
    tally_a, tally_b = Tally(TICKS), Tally(TICKS)
    labels = np.zeros(6, int)
    FrameStream(prog, TICKS, seed=3).evaluate(imgs, labels, tally_a, batch=4,
                                              first_frame=10)
    # frames 10.. of the data set: the same Poisson streams whatever the batch
    fs = FrameStream(prog, TICKS, seed=3)
    fs.fast = False
    fs.evaluate(imgs, labels, tally_b, batch=6, first_frame=10)
    assert tally_a.sums == tally_b.sums and tally_a.correct == tally_b.correct


def test_ctrl_c_writes_the_finished_frames(programs, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    prog = programs["mlp"]
    imgs, labels = _images(12, 1), np.zeros(12, int)
    calls = {"n": 0}
    real = FrameStream.run_batch

    def interrupted(self, images, first_frame=0):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, images, first_frame=first_frame)
    monkeypatch.setattr(FrameStream, "run_batch", interrupted)
    out = tmp_path / "eval.json"
    with pytest.raises(KeyboardInterrupt):
        evaluate_program(prog, imgs, labels, TICKS, batch=4, json_path=out,
                         extra={"dataset": "test"})
    got = json.loads(out.read_text())
    assert got["interrupted"] is True and got["frames"] == 8 and got["dataset"] == "test"


def test_dask_shards_equal_a_local_run(programs, monkeypatch) -> None:  # noqa: ANN001
    distributed = pytest.importorskip("distributed")
    import snn.cores.engine.stream as stream
    monkeypatch.setattr(stream, "DASK_SHARD_FRAMES", 4)
    prog = programs["mlp-split"]
    imgs, labels = _images(10, 9), np.arange(10) % 10
    local = evaluate_program(prog, imgs, labels, TICKS)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = evaluate_program(prog, imgs, labels, TICKS,
                                  scheduler=cluster.scheduler_address)
    assert remote["accuracy"] == local["accuracy"]
    assert remote["counters"] == local["counters"] and remote["frames"] == 10


@pytest.mark.parametrize("name", ["cnn", "mlp-split"])
def test_packed_sparse_rows_equal_dense_rows(programs, name) -> None:  # noqa: ANN001
    """Rows with few synapses are packed into one cache line and scattered: same spikes,
    membranes and counters as dense rows (and the general kernels read them unpacked)."""
    import snn.cores.engine as engine
    prog = programs[name]
    imgs = _images(4, 6)
    lat = int(prog.extras["latency_ticks"])
    inp = encode_frames(prog, imgs, 20)
    packed = engine.prepare(prog)
    assert (packed.rowinfo >= 1 << 16).sum() > 0
    got = run(prog, 20 + lat, inp, return_potential=True, record="full")
    want = run(prog, 20 + lat, inp, return_potential=True, record="full",
               options=engine.EngineOptions(sparse_rows=False))
    assert np.array_equal(got.potential, want.potential)
    assert all(np.array_equal(a, b) for a, b in zip(got.spikes, want.spikes, strict=True))
    assert all(np.array_equal(got.counters[k], want.counters[k]) for k in got.counters)
    # the unpacked table is crossbar * weight of the axon's type, row c * A + a
    w = np.take_along_axis(prog.weight.astype(np.int64),
                           prog.axon_type.astype(np.int64)[:, None, :], axis=2)  # [C, N, A]
    want_rows = (prog.crossbar * w.transpose(0, 2, 1)).reshape(-1, prog.n_neurons)
    rows = prog.n_cores * prog.n_axons
    assert np.array_equal(packed.dense_rows()[:rows], want_rows)
    assert len(packed.mrow) < rows  # packed and inline rows take no row of their own


def test_row_table_marks_identity_only_when_nothing_is_packed() -> None:
    """The kernels skip rowinfo lookups when the table has one row per (core, axon) row
    plus the zero row; a table with one packed row must not look like that."""
    from snn.cores.engine._fastpath import pack_rows
    rng = np.random.default_rng(0)
    dense = rng.integers(1, 5, (9, 64)).astype(np.int8)
    frow, info = pack_rows(dense, 8, np.full(8, 64))
    assert len(frow) == 9 and np.array_equal(frow[:8], dense[:8])
    one = dense.copy()
    one[3] = 0
    one[3, [5, 9]] = 7  # one packed row (2 entries), no inline row
    frow, info = pack_rows(one, 8, np.full(8, 64))
    assert len(frow) != 9 and info[3] & (1 << 16)


def test_stochastic_program_does_not_depend_on_batching(programs) -> None:  # noqa: ANN001
    """Off the fast path each frame draws from the key of its index in the whole run, so
    batches (and Dask shards) give the results of one run, as the reference computes."""
    import copy

    from snn.cores.engine import InputSpikes
    prog = copy.deepcopy(programs["mlp"])
    prog.stochastic_synapse = np.zeros_like(prog.weight, dtype=bool)
    prog.stochastic_synapse[0] = True  # core 0's synapses fire with probability |w| / 256
    imgs, labels = _images(7, 8), np.arange(7) % 10
    fs = FrameStream(prog, TICKS, seed=5)
    assert not fs.fast
    tallies = []
    for bs in (1, 3, 7):
        tally = Tally(TICKS)
        fs.evaluate(imgs, labels, tally, batch=bs)
        tallies.append((tally.correct, tally.sums))
    assert tallies[0] == tallies[1] == tallies[2]
    lat = fs.latency
    inp = encode_frames(prog, imgs[4:6], 5, seed=5, first_frame=4)
    one = InputSpikes(inp.tick, inp.core, inp.axon, inp.offsets)
    got = run(prog, 5 + lat, one, seed=5, first_frame=4, return_potential=True)
    want = run(prog, 5 + lat, one, seed=5, first_frame=4, return_potential=True,
               backend="reference")
    assert np.array_equal(got.potential, want.potential)
    assert all(np.array_equal(got.counters[k], want.counters[k]) for k in got.counters)
    other = run(prog, 5 + lat, one, seed=5, first_frame=0, return_potential=True)
    assert not np.array_equal(other.potential, got.potential)  # the key moves with the frame
