"""Evaluate a compiled core program on labelled frames with the engine.

Decoding: the readout neurons integrate their input with linear reset, so at the end of a
run ``count * threshold + V - latency * leak`` is exactly the input they integrated over the
T ideal ticks (the simulator's ``potential``). A class's value is the weighted sum of its
readout terms (``x_readout_class``, ``x_readout_weight``: two terms per class when the
readout has 2k-bit weights); the prediction is the arg-max (ties: lowest class).

Several tick counts are one run of ``max(T) + latency_ticks`` core ticks: the engine takes
a snapshot of its counters, the readout counts and the readout membranes after ``T +
latency_ticks`` ticks for every requested T (``snn.cores.engine._fastpath._snapshot``), which is
what a run of that many ticks on the same input stream ends with. The input is one stream
of ``max(T)`` encoded ticks, so the counters at a smaller T include the work of the inputs
that entered during its latency ticks (a pipelined stream, as on hardware); the decoded
value does not (they reach the readout after T + latency ticks).

Frames stream through in batches (``snn.cores.engine.stream``): each frame is encoded, expanded
through the input map and run inside the engine's parallel loop, so memory does not grow
with the number of frames and both CPUs run frames. ``scheduler``: frames are sharded over
a Dask cluster instead (identical results: every count is an integer sum over frames).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from snn.cores.compiler.io import check_compiled
from snn.cores.program import CoreProgram
from snn.cores.readout import COUNTER_KEYS, decode, readout_neurons  # noqa: F401 (API)
from snn.errors import ConfigError


def evaluate_program(program: CoreProgram, images: np.ndarray, labels: np.ndarray,
                     ticks_list: list[int] | int, *, seed: int = 0, batch: int | None = None,
                     progress: bool = False, chip_size: tuple[int, int] | None = None,
                     energy_preset: str | None = "truenorth", scheduler: str | None = None,
                     json_path: str | Path | None = None, extra: dict | None = None) -> dict:
    """Run ``program`` on ``images`` for every T in ``ticks_list``; the eval JSON dict.

    Keys: accuracy {T: fraction}, frames, ticks, core_ticks {T: T + latency},
    sops_per_frame / spikes_per_frame {T}, counters {T: {name: mean per frame}}, cores,
    chips, latency_ticks, wall_s (engine time), encode_s, frames_per_s and sops_per_s (of
    the whole evaluation), energy {T: ...} (J per frame with ``energy_preset``, latency
    accounting: T + latency ticks of static and per-tick energy per frame) and
    energy_streaming {T: ...} (streaming accounting: a new frame every T ticks).
    batch: frames per engine call (default: adaptive, about a second of work each).
    scheduler: a Dask scheduler address: frames run as tasks on its cluster.
    json_path: where a Ctrl-C writes the frames finished so far (``"interrupted": true``)
    before KeyboardInterrupt propagates; ``extra`` is merged into that dict.
    """
    from snn.cores.engine.stream import FrameStream, Tally
    check_compiled(program)
    ts = sorted({int(t) for t in np.atleast_1d(ticks_list)})
    if not ts or ts[0] < 1:
        raise ConfigError(f"ticks must be positive, got {ticks_list!r}")
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ConfigError(f"{len(images)} images but {len(labels)} labels")
    chip = tuple(chip_size or (64, 64))
    tally = Tally(ts)
    t0 = time.perf_counter()
    try:
        if scheduler:
            from snn.cores.engine.stream import run_on_dask
            run_on_dask(scheduler, program, images, labels, ts, seed, chip, tally, progress)
        else:
            stream = FrameStream(program, ts, seed=seed, chip_size=chip)
            stream.evaluate(images, labels, tally, batch=batch, progress=progress)
    except KeyboardInterrupt:
        if json_path is not None and tally.frames:
            from snn.fileio import atomic_write_json
            out = _result(program, tally, chip, energy_preset, time.perf_counter() - t0)
            out["interrupted"] = True
            out.update(extra or {})
            atomic_write_json(json_path, out)
        raise
    return _result(program, tally, chip, energy_preset, time.perf_counter() - t0)


def _result(program: CoreProgram, tally, chip: tuple[int, int],  # noqa: ANN001
            energy_preset: str | None, total_s: float) -> dict:
    """The eval JSON dict of the frames in ``tally``."""
    ts = tally.ticks
    n = max(tally.frames, 1)
    lat = int(program.extras["latency_ticks"])
    counters = {t: {k: v / n for k, v in tally.sums[t].items()} for t in ts}
    out = {
        "accuracy": {t: tally.correct[t] / n for t in ts},
        "frames": tally.frames, "ticks": ts, "core_ticks": {t: t + lat for t in ts},
        "latency_ticks": lat,
        "sops_per_frame": {t: counters[t]["sops"] for t in ts},
        "spikes_per_frame": {t: counters[t]["spikes"] for t in ts},
        "counters": counters,
        "cores": program.n_cores,
        "chips": _chips(program, chip),
        "encoding": str(program.extras["encoding"]),
        "decode": "potential",
        "wall_s": tally.engine_s, "encode_s": tally.encode_s, "total_s": total_s,
        "frames_per_s": tally.frames / max(total_s, 1e-9),
        "sops_per_s": tally.sums[ts[-1]]["sops"] / max(tally.engine_s, 1e-9),
        "engine": tally.how,
        "frames_per_wall_s": {t: n / max(tally.engine_s, 1e-9) for t in ts}
        if len(ts) == 1 else None,
    }
    energy = energy_per_frame(program, counters, lat, energy_preset)
    if energy is not None:  # "energy" keeps its meaning: the latency accounting
        out["energy"] = energy
        out["energy_streaming"] = energy_per_frame(program, counters, lat, energy_preset,
                                                   "streaming")
    return out


def _chips(program: CoreProgram, chip: tuple[int, int]) -> int:
    xy = program.placement(*chip)
    return int(len({(int(x) // chip[0], int(y) // chip[1]) for x, y in xy}))


def energy_per_frame(program: CoreProgram, counters: dict, latency: int,
                     preset: str | None, accounting: str = "latency") -> dict | None:
    """Energy per frame for each T (``snn.cores.hardware.energy``), or None without a preset.

    ``accounting``: "latency" (each frame charged T + latency ticks of static and per-tick
    energy) or "streaming" (a new frame every T ticks: charged T ticks); see
    ``snn.cores.hardware.energy.ACCOUNTINGS``."""
    if preset is None:
        return None
    try:
        from snn.cores.hardware.energy import EnergyModel, accountings
    except ImportError:
        return None
    model = EnergyModel.preset(preset)
    out = {}
    for t, c in counters.items():
        e = accountings(model, dict(c), input_ticks=t, run_ticks=t + latency,
                        n_cores=program.n_cores)[accounting]
        out[t] = _energy_dict(e)
    return out


def _energy_dict(e) -> dict:
    if hasattr(e, "to_dict"):
        return e.to_dict()
    if hasattr(e, "__dataclass_fields__"):
        from dataclasses import asdict
        return asdict(e)
    return {"total_j": float(e)}
