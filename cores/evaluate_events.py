"""Core-program accuracy and energy on event data (N-MNIST), for ``snn eval --data nmnist``.

Events come through ``snn.event_data`` with the transforms the training script used (stored
by ``snn compile`` in the program's ``event_transform`` extra: tonic Denoise, Downsample in
space and time, 1 ms ticks, one spike per element and tick) and reach the cores at their
ticks as ``InputSpikes`` (``snn.cores.compiler.binarized_map.event_inputs``): no framing.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from snn.cores.program import CoreProgram
from snn.errors import ConfigError

DEFAULT_TRANSFORM = {"denoise_us": 10000.0, "spatial_factor": 0.5, "time_factor": 0.1,
                     "tick_us": 1000, "ticks": 32}


def program_transform(program: CoreProgram) -> dict[str, Any]:
    """The event transform stored by ``snn compile`` (else the N-MNIST script's defaults)."""
    if "event_transform" in program.extras:
        return {**DEFAULT_TRANSFORM, **json.loads(str(program.extras["event_transform"]))}
    return dict(DEFAULT_TRANSFORM)


def load_event_spikes(directory: str | os.PathLike, split: str, transform: dict[str, Any]
                      ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, str]:
    """N-MNIST ``split`` of ``directory`` as per-sample (tick, element) spikes, labels, and a
    one-line description of the transforms."""
    from snn.event_data import EventGrid, default_transform, events_to_spikes, load_nmnist

    sf, tf = float(transform["spatial_factor"]), float(transform["time_factor"])
    grid = EventGrid.for_nmnist(sf)
    ev, labels = load_nmnist(directory, split, default_transform(sf, tf,
                                                                 transform["denoise_us"]))
    tick_us = int(transform["tick_us"])
    spikes = [events_to_spikes(e, grid, tick_us) for e in ev]
    text = (f"tonic Denoise(filter_time={transform['denoise_us']:g} us), Downsample(spatial "
            f"{sf:g} -> {grid.channels}x{grid.height}x{grid.width}, time {tf:g}), {tick_us} us "
            f"ticks (one tick = {tick_us / tf / 1000:g} ms of recording), one spike per "
            "element and tick")
    return spikes, labels, text


def evaluate_events(program: CoreProgram, spikes: list[tuple[np.ndarray, np.ndarray]],
                    labels: np.ndarray, input_ticks: list[int], *,
                    energy_preset: str = "truenorth") -> dict[str, Any]:
    """Accuracy, counters and energy with inputs cut to each of ``input_ticks`` ticks; each
    run lasts input ticks + the program's latency. ``energy``: latency accounting;
    ``energy_streaming``: a new sample every T input ticks
    (``snn.cores.hardware.energy.ACCOUNTINGS``)."""
    from snn.cores.compiler.binarized_map import decode_scores, event_inputs
    from snn.cores.engine import run
    from snn.cores.hardware.energy import EnergyModel, accountings

    if str(program.extras.get("binarized_mode", "")) != "temporal":
        raise ConfigError("event data runs on temporal-mode programs (compiled from an event "
                          "model such as benchmarks/models/nmnist_bsnn.pt); this program "
                          "takes frames: use --data mnist/fashion-mnist")
    latency = int(program.extras.get("latency_ticks", 0))
    labels = np.asarray(labels)
    out: dict[str, Any] = {"accuracy": {}, "per_sample": {}, "energy": {},
                           "energy_streaming": {}, "run_ticks": {}}
    t0 = time.perf_counter()
    for T in input_ticks:
        inp = event_inputs(program, [(t[t < T], e[t < T]) for t, e in spikes])
        ticks = T + latency
        r = run(program, ticks, inp, record="counts")
        pred = decode_scores(r.outputs)
        out["accuracy"][str(T)] = float((pred == labels).mean())
        out["run_ticks"][str(T)] = ticks
        out["per_sample"][str(T)] = {k: float(np.mean(v)) for k, v in r.counters.items()}
        try:
            both = accountings(EnergyModel.preset(energy_preset),
                               {k: int(np.sum(v)) for k, v in r.counters.items()},
                               input_ticks=T, run_ticks=ticks, n_cores=program.n_cores,
                               n_frames=len(labels))
            out["energy"][str(T)] = both["latency"].to_dict()
            out["energy_streaming"][str(T)] = both["streaming"].to_dict()
        except Exception as exc:  # noqa: BLE001 - energy is a report, not the result
            out["energy"][str(T)] = {"error": f"{type(exc).__name__}: {exc}"}
    out.update({"frames": int(len(labels)), "ticks": list(input_ticks),
                "latency_ticks": latency, "n_cores": int(program.n_cores),
                "wall_s": round(time.perf_counter() - t0, 3)})
    return out


def evaluate_binarized_frames(program: CoreProgram, images: np.ndarray, labels: np.ndarray,
                              *, batch: int = 500, energy_preset: str = "truenorth"
                              ) -> dict[str, Any]:
    """Accuracy, counters and energy of a frame-mode binarized program (thermometer input,
    one frame = the program's latency in ticks) on raw 0..255 images. ``energy``: latency
    accounting (every tick of the run); ``energy_streaming``: a new frame every
    ``stream_ticks`` = readout_ticks (the slowest pipeline stage), see
    ``snn.cores.hardware.energy.ACCOUNTINGS``."""
    from snn.cores.compiler.binarized_map import decode_scores, frame_inputs, thermometer_encode
    from snn.cores.engine import run
    from snn.cores.hardware.energy import EnergyModel, accountings

    if str(program.extras.get("binarized_mode", "")) != "frame":
        raise ConfigError("not a frame-mode binarized program")
    levels = [int(v) for v in np.asarray(program.extras["thermometer_levels"]).reshape(-1)]
    ticks = int(program.extras["latency_ticks"])
    labels = np.asarray(labels)
    bits = thermometer_encode(np.asarray(images).reshape(len(images), 1, *images.shape[-2:]),
                              levels)
    pred = np.zeros(len(labels), np.int64)
    counters: dict[str, int] = {}
    t0 = time.perf_counter()
    for s in range(0, len(labels), batch):
        r = run(program, ticks, frame_inputs(program, bits[s:s + batch]))
        pred[s:s + batch] = decode_scores(r.outputs)
        for k, v in r.counters.items():
            counters[k] = counters.get(k, 0) + int(np.sum(v))
    n = max(len(labels), 1)
    # streaming: hidden layers take one tick per frame, the readout counts over
    # readout_ticks, the slowest stage: a new frame can enter every readout_ticks ticks
    period = min(int(program.extras.get("readout_ticks", ticks)), ticks)
    try:
        both = accountings(EnergyModel.preset(energy_preset), counters, input_ticks=period,
                           run_ticks=ticks, n_cores=program.n_cores, n_frames=n)
        energy, streaming = both["latency"].to_dict(), both["streaming"].to_dict()
    except Exception as exc:  # noqa: BLE001
        energy = streaming = {"error": f"{type(exc).__name__}: {exc}"}
    return {"accuracy": {str(ticks): float((pred == labels).mean())}, "frames": int(len(labels)),
            "ticks": [ticks], "stream_ticks": period, "latency_ticks": ticks,
            "per_sample": {k: v / n for k, v in counters.items()},
            "energy": energy, "energy_streaming": streaming, "n_cores": int(program.n_cores),
            "encoding": f"thermometer {levels}", "wall_s": round(time.perf_counter() - t0, 3)}
