"""``snn eval PROG.npz --record RUN.npz --report REPORT.json``: what a user keeps of an
evaluation on cores besides the accuracy JSON (the spike record for ``snn raster``, the full
Report for ``snn report``). Used by ``snn.commands.eval``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from snn.errors import ConfigError


def add_options(p: argparse.ArgumentParser) -> None:
    """--record, --record-frames, --report."""
    p.add_argument("--record", metavar="RUN.npz", default=None,
                   help="core programs: keep the spikes of the first --record-frames frames "
                        "at the largest tick count (snn-run/1, for `snn raster`)")
    p.add_argument("--record-frames", type=int, default=8, metavar="N",
                   help="frames kept by --record (default 8)")
    p.add_argument("--report", metavar="REPORT.json", default=None,
                   help="core programs: the full report (snn-report/1: energy, per layer) of "
                        "a run at the largest tick count; `snn report` renders it")


def run_extras(args: argparse.Namespace, program: Any, images: np.ndarray,
               labels: np.ndarray, ticks: list[int], out: dict) -> None:
    """Write --record and --report for a core program (a no-op when neither is asked)."""
    record, report = getattr(args, "record", None), getattr(args, "report", None)
    if not record and not report:
        return
    if program is None:
        raise ConfigError("--record and --report need a core program: compile the network "
                          "first (`snn compile NET.npz --out PROG.npz`)")
    t = max(ticks)
    name = Path(args.network).name
    if record:
        from snn.runfile import record_program_run
        n = max(1, int(args.record_frames))
        srun = record_program_run(program, images[:n], t, labels=labels[:n], seed=args.seed,
                                  name=name, program_path=args.network)
        srun.save(record)
        print(f"wrote {record}: spikes of {srun.n_frames} frames x {srun.ticks} ticks "
              f"(`snn raster {record}`)")
    if report:
        from snn.scoring import frame_report
        res, pred = report_run(program, images, t, args.seed)
        rep = frame_report(program, res, float(np.mean(pred == labels)), t, name)
        rep.to_json(report)
        print(f"wrote {report} ({t} ticks; `snn report {report}`)")


REPORT_BATCH = 64  # frames per engine call of --report (memory does not grow with frames)


def report_run(program: Any, images: np.ndarray, ticks: int, seed: int,
               batch: int = REPORT_BATCH) -> tuple[Any, np.ndarray]:
    """The run a report needs (per-core counters) and the predictions, in batches of
    ``batch`` frames: each batch's final membranes are decoded and dropped and its per-core
    counters summed, so memory stays that of one batch (one call for all frames held a
    membrane per neuron and frame: 2 MB a frame for a 2,000-core CNN). The same numbers as
    one call (frames are independent; seeds follow the frame index)."""
    from snn.cores.compiler import encode_frames
    from snn.cores.engine import concat_results, run
    from snn.scoring import predict

    lat = int(np.asarray(program.extras.get("latency_ticks", 0)))
    parts, preds = [], []
    for lo in range(0, len(images), batch):
        x = images[lo:lo + batch]
        inputs = encode_frames(program, x, ticks, seed=seed, first_frame=lo)
        res = run(program, ticks + lat, inputs, per_core=True, return_potential=True,
                  seed=seed, first_frame=lo)
        preds.append(predict(program, res, ticks))
        res.potential = None
        res.per_core = {k: v.sum(axis=0, keepdims=True) for k, v in res.per_core.items()}
        parts.append(res)
    res = concat_results(parts)
    res.per_core = {k: v.sum(axis=0, keepdims=True) for k, v in res.per_core.items()}
    return res, np.concatenate(preds)
