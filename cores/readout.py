"""What the evaluator reads off a run: the readout neurons, their decoded class values, the
counters it sums, and a shorter input stream cut from a longer one."""

from __future__ import annotations

import numpy as np

from snn.cores.program import CoreProgram

COUNTER_KEYS = ("spikes", "sops", "hops", "chip_crossings", "input_events", "axon_collisions")


def readout_neurons(program: CoreProgram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(core, neuron, output_index) of every readout neuron, by output index."""
    c, n = np.nonzero(program.output_index >= 0)
    idx = program.output_index[c, n]
    order = np.argsort(idx, kind="stable")
    return c[order], n[order], idx[order]


def decode(program: CoreProgram, outputs: np.ndarray, potential: np.ndarray, ticks: int
           ) -> np.ndarray:
    """Class values [B, n_classes] from a run of ``ticks + latency`` core ticks.

    outputs: RunResult.outputs [B, n_outputs]; potential: RunResult.potential [B, C, N]."""
    ex = program.extras
    lat = int(ex["latency_ticks"])
    c, n, idx = readout_neurons(program)
    thr = program.threshold[c, n].astype(np.float64)
    leak = program.leak[c, n].astype(np.float64)
    integ = outputs[:, idx] * thr + potential[:, c, n] - leak * lat
    cls = np.asarray(ex["readout_class"])[idx]
    w = np.asarray(ex["readout_weight"], np.float64)[idx]
    n_cls = int(ex["n_classes"])
    out = np.zeros((len(outputs), n_cls))
    for j in range(len(idx)):
        out[:, cls[j]] += w[j] * integ[:, j]
    return out


def truncate(inp, ticks: int):
    """The events of ``inp`` before ``ticks``."""
    from snn.cores.engine.run_types import InputSpikes
    keep = inp.tick < ticks
    frame = np.repeat(np.arange(inp.n_frames), np.diff(inp.offsets))[keep]
    offsets = np.searchsorted(frame, np.arange(inp.n_frames + 1)).astype(np.int64)
    return InputSpikes(inp.tick[keep], inp.core[keep], inp.axon[keep], offsets)
