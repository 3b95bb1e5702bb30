"""`snn eval --report`'s run (snn.eval_extras.report_run): in batches, the same numbers as
one engine call, with memory of one batch."""

from __future__ import annotations

import numpy as np

from snn.cores.compiler import compile_network, encode_frames
from snn.cores.engine import run
from snn.eval_extras import report_run
from snn.network import Dense, Flatten, SpikingNetwork
from snn.scoring import frame_report, predict


def _net() -> SpikingNetwork:
    rng = np.random.default_rng(0)
    f = np.float32
    one = np.ones(1, f)
    return SpikingNetwork((1, 8, 8), [
        Flatten("flat"),
        Dense("h", ("flat",), True, one, weight=rng.normal(0, .25, (30, 64)).astype(f),
              bias=rng.normal(0, .02, 30).astype(f)),
        Dense("out", ("h",), True, one, weight=rng.normal(0, .3, (10, 30)).astype(f),
              bias=np.zeros(10, f)),
    ], {"encoding": "poisson", "v_init": 0.5})


def test_report_run_in_batches_equals_one_call() -> None:
    prog = compile_network(_net()).program
    images = np.random.default_rng(1).integers(0, 256, (10, 1, 8, 8)).astype(np.uint8)
    one, pred1 = report_run(prog, images, 20, seed=3, batch=100)
    many, pred3 = report_run(prog, images, 20, seed=3, batch=3)
    assert many.n_frames == one.n_frames == 10 and many.potential is None
    np.testing.assert_array_equal(pred3, pred1)
    for k in one.counters:
        np.testing.assert_array_equal(many.counters[k], one.counters[k])
    for k in one.per_core:
        assert many.per_core[k].shape == (1, prog.n_cores)
        np.testing.assert_array_equal(many.per_core[k], one.per_core[k])
    assert one.total("spikes") > 0
    # and both equal a plain engine run of all frames in one call (what --report did before)
    lat = int(prog.extras["latency_ticks"])
    ref = run(prog, 20 + lat, encode_frames(prog, images, 20, seed=3), per_core=True,
              return_potential=True, seed=3)
    np.testing.assert_array_equal(pred3, predict(prog, ref, 20))
    for k in ref.counters:
        np.testing.assert_array_equal(many.counters[k], ref.counters[k])
    for k in ref.per_core:
        np.testing.assert_array_equal(many.per_core[k][0], ref.per_core[k].sum(axis=0))
    r1 = frame_report(prog, one, 1.0, 20, "p").to_dict()
    r3 = frame_report(prog, many, 1.0, 20, "p").to_dict()
    assert r1["energy_j"] == r3["energy_j"] and r1["per_core"] == r3["per_core"]
