"""Evaluate a compiled core program on labelled frames with the engine.

Decoding: the readout neurons integrate their input with linear reset, so at the end of a
run ``count * threshold + V - latency * leak`` is exactly the input they integrated over the
T ideal ticks (the simulator's ``potential``). A class's value is the weighted sum of its
readout terms (``x_readout_class``, ``x_readout_weight``: two terms per class when the
readout has 2k-bit weights); the prediction is the arg-max (ties: lowest class).

Several tick counts: the engine's readout counters are cumulative and the decode needs the
final membrane, so each requested T is its own run of ``T + latency_ticks`` core ticks (on
the same input spikes: the first T ticks of a longer encoding equal a shorter one).
"""

from __future__ import annotations

import time

import numpy as np

from snn.cores.compiler_io import check_compiled, encode_frames
from snn.cores.program import CoreProgram
from snn.errors import ConfigError

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


def _batch_size(program: CoreProgram, batch: int | None) -> int:
    if batch is not None:
        return max(1, int(batch))
    per_frame = program.n_cores * program.n_neurons * 4  # final potentials, int32
    return int(max(2, min(256, (256 * 2 ** 20) // per_frame)))


def evaluate_program(program: CoreProgram, images: np.ndarray, labels: np.ndarray,
                     ticks_list: list[int] | int, *, seed: int = 0, batch: int | None = None,
                     progress: bool = False, chip_size: tuple[int, int] | None = None,
                     energy_preset: str | None = "truenorth") -> dict:
    """Run ``program`` on ``images`` for each T in ``ticks_list``; the eval JSON dict.

    Keys: accuracy {T: fraction}, frames, ticks, core_ticks {T: T + latency},
    sops_per_frame / spikes_per_frame {T}, counters {T: {name: mean per frame}}, cores,
    chips, latency_ticks, wall_s (engine time), encode_s, energy {T: ...} when
    ``snn.cores.energy`` exists (J per frame with ``energy_preset``).
    """
    from snn.cores.engine import run
    check_compiled(program)
    ts = sorted({int(t) for t in np.atleast_1d(ticks_list)})
    if not ts or ts[0] < 1:
        raise ConfigError(f"ticks must be positive, got {ticks_list!r}")
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ConfigError(f"{len(images)} images but {len(labels)} labels")
    lat = int(program.extras["latency_ticks"])
    bs = _batch_size(program, batch)
    chip = chip_size or (64, 64)
    correct = {t: 0 for t in ts}
    sums = {t: {k: 0.0 for k in COUNTER_KEYS} for t in ts}
    wall = enc_s = 0.0
    starts = range(0, len(images), bs)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc="cores", unit="batch", leave=False)
    for s in starts:
        x = images[s:s + bs]
        t0 = time.perf_counter()
        inp = encode_frames(program, x, ts[-1], seed, first_frame=s)
        enc_s += time.perf_counter() - t0
        for t in ts:
            sel = inp if t == ts[-1] else _truncate(inp, t + lat)
            res = run(program, t + lat, sel, return_potential=True, seed=seed, chip_size=chip)
            wall += res.wall_s
            vals = decode(program, res.outputs, res.potential, t)
            correct[t] += int((np.argmax(vals, axis=1) == labels[s:s + bs]).sum())
            for k in COUNTER_KEYS:
                sums[t][k] += float(res.counters[k].sum())
    n = len(images)
    counters = {t: {k: v / n for k, v in sums[t].items()} for t in ts}
    out = {
        "accuracy": {t: correct[t] / n for t in ts},
        "frames": n, "ticks": ts, "core_ticks": {t: t + lat for t in ts},
        "latency_ticks": lat,
        "sops_per_frame": {t: counters[t]["sops"] for t in ts},
        "spikes_per_frame": {t: counters[t]["spikes"] for t in ts},
        "counters": counters,
        "cores": program.n_cores,
        "chips": _chips(program, chip),
        "encoding": str(program.extras["encoding"]),
        "decode": "potential",
        "wall_s": wall, "encode_s": enc_s,
        "frames_per_wall_s": {t: n / max(wall, 1e-9) for t in ts} if len(ts) == 1 else None,
    }
    energy = energy_per_frame(program, counters, lat, energy_preset)
    if energy is not None:
        out["energy"] = energy
    return out


def _truncate(inp, ticks: int):
    """The events of ``inp`` before ``ticks``."""
    from snn.cores.engine import InputSpikes
    keep = inp.tick < ticks
    frame = np.repeat(np.arange(inp.n_frames), np.diff(inp.offsets))[keep]
    offsets = np.searchsorted(frame, np.arange(inp.n_frames + 1)).astype(np.int64)
    return InputSpikes(inp.tick[keep], inp.core[keep], inp.axon[keep], offsets)


def _chips(program: CoreProgram, chip: tuple[int, int]) -> int:
    xy = program.placement(*chip)
    return int(len({(int(x) // chip[0], int(y) // chip[1]) for x, y in xy}))


def energy_per_frame(program: CoreProgram, counters: dict, latency: int,
                     preset: str | None) -> dict | None:
    """Energy per frame for each T when ``snn.cores.energy`` is available, else None."""
    if preset is None:
        return None
    try:
        from snn.cores.energy import EnergyModel
    except ImportError:
        return None
    model = EnergyModel.preset(preset)
    out = {}
    for t, c in counters.items():
        e = model.evaluate({k: v for k, v in c.items()}, ticks=t + latency,
                           n_cores=program.n_cores, n_frames=1)
        out[t] = _energy_dict(e)
    return out


def _energy_dict(e) -> dict:
    if hasattr(e, "to_dict"):
        return e.to_dict()
    if hasattr(e, "__dataclass_fields__"):
        from dataclasses import asdict
        return asdict(e)
    return {"total_j": float(e)}
