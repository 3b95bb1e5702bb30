"""What one benchmark-suite row does: convert a model (once), compile it for a preset and a
weight precision, run its held-out frames on the engine, and price the run.

Kept apart from :mod:`snn.bench_suite` (scheduling, files) so that rows run the same on a
local process pool and on Dask workers: ``evaluate_row`` is a plain picklable function of
(row, prepared model, settings).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from snn.bench_spec import ModelSpec, PreparedModel, Suite
from snn.errors import ConfigError, DatasetError

#: frames per engine call (bounds the memory of the encoded inputs)
ENGINE_BATCH = 256


def load_frames(suite: Suite, spec: ModelSpec, split: str, rng_text: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of ``spec.dataset`` (``rng_text`` a range A:B of the split)."""
    from snn.datasets import load, parse_range

    directory = suite.resolve(spec.data_dir) if spec.data_dir else None
    images, labels = load(spec.dataset, directory, split)
    sl = parse_range(rng_text, len(labels))
    return images[sl], labels[sl]


def load_model(suite: Suite, spec: ModelSpec) -> Any:
    """The trained model: a torch module (builtin or file) or the path of an ONNX file."""
    src = spec.source
    if src == "builtin:digits-mlp":
        from snn.models import train_digits_mlp
        return train_digits_mlp(seed=suite.seed)
    if src.startswith("builtin:"):
        raise ConfigError(f"[models.{spec.name}] source {src!r}: the only builtin model is "
                          "'builtin:digits-mlp'")
    path = Path(suite.resolve(src))
    if not path.exists():
        hint = (" (train it with benchmarks/train_fashion_cnn.py)" if "fashion_cnn" in src
                else "")
        raise DatasetError(f"[models.{spec.name}] {path}: model file not found{hint}")
    if path.suffix == ".onnx":
        return str(path)
    from snn.converters.torch_import import load_torch
    return load_torch(path)  # weights-only: stock layers load, other pickles are refused


def ann_accuracy(model: Any, images: np.ndarray, labels: np.ndarray, pixel_scale: float
                 ) -> float:
    """Accuracy of the source ANN (onnxruntime or torch) on raw pixels x ``pixel_scale``."""
    from snn.converters import ann_predict

    scores = ann_predict(model, images, pixel_scale=pixel_scale)
    return float((np.argmax(scores, axis=1) == np.asarray(labels)).mean())


def prepare_model(suite: Suite, spec: ModelSpec) -> PreparedModel:
    """Convert ``spec``'s model (calibrated on its ``calib`` frames) and load its ``eval``
    frames. Builtin models calibrate on the train split, file models on the test split; the
    two ranges of one split must not overlap (accuracy on held-out frames only)."""
    from snn.converters import convert

    builtin = spec.source.startswith("builtin:")
    calib_split = "train" if builtin else "test"
    calib_x, _ = load_frames(suite, spec, calib_split, spec.calib)
    eval_x, eval_y = load_frames(suite, spec, "test", spec.eval)
    if calib_split == "test" and _overlap(spec.calib, spec.eval):
        raise ConfigError(f"[models.{spec.name}] calib {spec.calib} and eval {spec.eval} "
                          "overlap: accuracy must be measured on held-out frames")
    model = load_model(suite, spec)
    scale = spec.pixel_scale if spec.pixel_scale is not None else 1 / 255
    t0 = time.perf_counter()
    net = convert(model, calib_x, pixel_scale=scale, **(spec.options or {}))
    info = {"convert_s": time.perf_counter() - t0, "calib_frames": len(calib_x)}
    acc = ann_accuracy(model, eval_x, eval_y, scale)
    return PreparedModel(spec=spec, network=net, images=eval_x, labels=eval_y, ann_accuracy=acc,
                    info=info)


def _overlap(a: str, b: str) -> bool:
    def bounds(t: str) -> tuple[float, float]:
        lo, hi = t.split(":")
        return float(lo or 0), float(hi) if hi else float("inf")
    (a0, a1), (b0, b1) = bounds(a), bounds(b)
    return a0 < b1 and b0 < a1


def evaluate_row(row: dict, prepared: PreparedModel, settings: dict) -> dict:
    """Compile for ``row`` (preset, weight_bits, ticks), run every held-out frame on the
    engine, and return the row's figures (per frame unless named otherwise)."""
    from snn.cores.compiler import compile as compile_program
    from snn.cores.engine import COUNTERS, RunResult
    from snn.cores.engine.stream import FrameStream
    from snn.cores.hardware.spec import CoreSpec
    from snn.report import Report

    t0 = time.perf_counter()
    spec = CoreSpec.preset(row["preset"])
    ticks = int(row["ticks"])
    prog = compile_program(prepared.network, spec, weight_bits=row["weight_bits"], ticks=ticks)
    t_compile = time.perf_counter() - t0
    seed = int(settings.get("seed", 0))
    lat = int(np.asarray(prog.extras.get("latency_ticks", 0)))
    images, labels = prepared.images, prepared.labels
    stream = FrameStream(prog, [ticks], seed=seed)
    per_frame, correct, engine_s = [], 0, 0.0
    for i in range(0, len(images), ENGINE_BATCH):
        pred, counters, e_s, _ = stream.run_batch(images[i:i + ENGINE_BATCH], first_frame=i)
        correct += int((pred[:, 0] == labels[i:i + ENGINE_BATCH]).sum())
        per_frame.append(counters[:, 0])
        engine_s += e_s
    counts = np.concatenate(per_frame) if per_frame else np.zeros((0, len(COUNTERS)), np.int64)
    results = [RunResult(ticks=ticks + lat, n_frames=len(counts),
                         counters={k: counts[:, j] for j, k in enumerate(COUNTERS)},
                         outputs=np.zeros((len(counts), 0), np.int64), spikes=None,
                         spike_counts=None, per_core=None, per_tick=None, potential=None,
                         wall_s=engine_s, backend="numba")]
    res = _merge(results)
    tick_s = float(settings.get("tick_us", 1000.0)) * 1e-6
    rep = Report.from_run(prog, res, settings.get("energy", "truenorth"),
                          accuracy=correct / max(len(labels), 1), tick_s=tick_s,
                          chip_size=(spec.chip_width, spec.chip_height), input_ticks=ticks)
    B = max(rep.n_frames, 1)
    return {
        "dataset": prepared.spec.dataset, "accuracy": rep.accuracy,
        "ann_accuracy": prepared.ann_accuracy, "frames": rep.n_frames,
        "sops_per_frame": rep.sops / B, "spikes_per_frame": rep.spikes / B,
        "hops_per_frame": rep.hops / B, "energy_per_frame_uj": rep.j_per_frame * 1e6,
        # a frame's answer is ready after the ticks it runs: T input ticks + pipeline
        "latency_ticks": res.ticks, "latency_ms": res.ticks * tick_s * 1e3,
        "pipeline_ticks": lat,
        "gsops_per_watt": rep.gsops_per_w, "frames_per_s_per_w": rep.frames_per_s_per_w,
        # streaming accounting (a new frame every T ticks); the two above: latency
        "stream_energy_per_frame_uj": rep.stream_j_per_frame * 1e6,
        "stream_frames_per_s_per_w": rep.stream_frames_per_s_per_w,
        "power_mw": rep.power_w * 1e3, "cores": rep.cores, "chips": rep.chips,
        "weight_bits_used": _bits(prog, row["weight_bits"]),
        "compile_s": t_compile, "engine_s": sum(r.wall_s for r in results),
        "wall_s": time.perf_counter() - t0,
    }


def _bits(prog: Any, asked: int | None) -> int | None:
    ex = getattr(prog, "extras", {}) or {}
    if "weight_bits" in ex:
        return int(np.asarray(ex["weight_bits"]).max())
    return asked


def _merge(results: list[Any]) -> Any:
    """One RunResult from several engine calls over consecutive frames (counters and
    outputs concatenated, wall time summed)."""
    if len(results) == 1:
        return results[0]
    first = results[0]
    counters = {k: np.concatenate([r.counters[k] for r in results]) for k in first.counters}
    return replace(first, n_frames=sum(r.n_frames for r in results), counters=counters,
                   outputs=np.concatenate([r.outputs for r in results]),
                   spikes=None, spike_counts=None, per_core=None, per_tick=None,
                   potential=None, wall_s=sum(r.wall_s for r in results))
