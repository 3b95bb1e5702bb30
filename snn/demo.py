"""The end-to-end demo (`snn demo`, `make demo`): no network access, no download.

scikit-learn's 8x8 digits -> a small torch MLP trained in seconds (``snn.models``, seeded)
-> spiking network (converter, calibrated on training images) -> TrueNorth cores (compiler,
``truenorth`` preset) -> the exact engine on the 539 held-out test images -> a report of
accuracy (ANN and SNN), cores, SOPs/frame, energy/frame, GSOP/s/W and frames/s/W, a spike
raster and the accuracy decomposition, written to the output folder. A client of the
library: nothing in the library imports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from snn.models import train_digits_mlp
from snn.scoring import frame_report, predict


def torch_accuracy(model: Any, images: np.ndarray, labels: np.ndarray,
                   pixel_scale: float = 1 / 255) -> float:
    """Accuracy of a torch classifier on raw 0..255 images times ``pixel_scale``."""
    import torch

    with torch.no_grad():
        x = torch.tensor(np.asarray(images, np.float32) * pixel_scale)
        pred = model(x).argmax(1).numpy()
    return float((pred == np.asarray(labels)).mean())


def run_demo(out: str | Path = "demo-output", *, ticks: int = 32, seed: int = 0,
             frames: int | None = None, raster_frames: int = 4, progress: bool = True,
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole flow; write report.json, report.md, raster.png, run.npz, network.npz,
    program.npz, image0.npz (the program with test image 0 stored as its input, for
    ``snn sim``), digits_mlp.pt (the trained torch module), accuracy_vs_ticks.png and
    decomposition.png to ``out``. Returns a summary.

    frames: number of held-out test images (default all 539)."""
    from snn.cores.compiler import compile as compile_program
    from snn.cores.compiler import encode_frames, layer_table
    from snn.cores.engine import run
    from snn.cores.evaluate import decode
    from snn.cores.hardware.spec import CoreSpec
    from snn.datasets import load_digits
    from snn.plots import plot_accuracy_vs_ticks, plot_decomposition, plot_raster
    from snn.runfile import SpikeRun, membrane_traces
    from snn.simulate import simulate

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, t0: float) -> float:
        timings[name] = time.perf_counter() - t0
        return time.perf_counter()

    echo("snn demo: scikit-learn 8x8 digits -> torch MLP -> spiking network -> "
         "TrueNorth cores -> engine")
    t = time.perf_counter()
    train_x, train_y = load_digits("train")
    test_x, test_y = load_digits("test")
    if frames is not None:
        test_x, test_y = test_x[:frames], test_y[:frames]
    model = train_digits_mlp(seed)
    ann_acc = torch_accuracy(model, test_x, test_y)
    import torch
    torch.save(model, out / "digits_mlp.pt")  # the whole module: `snn convert` reads it
    t = lap("train", t)
    echo(f"[1/5] trained MLP 64-64-10 on {len(train_x)} images in {timings['train']:.1f} s: "
         f"ANN accuracy {100 * ann_acc:.2f} % on {len(test_x)} held-out images")

    net = _convert(model, train_x[:300])
    net.save(out / "network.npz")
    tick_list = sorted({8, 16, 32, 64, 128, ticks})
    sim = simulate(net, test_x, tick_list, seed=seed)
    ideal = sim.accuracy(test_y, decode=net.meta.get("decode", "count"))
    t = lap("convert", t)
    curve = ", ".join(f"{k}: {100 * v:.1f}" for k, v in ideal.items())
    echo(f"[2/5] converted to a spiking network ({len(net.layers)} layers, calibrated on 300 "
         f"training images); ideal-simulator accuracy % by ticks: {curve}")

    spec = CoreSpec.preset("truenorth")
    prog = compile_program(net, spec, ticks=ticks)
    prog.save(out / "program.npz")
    table = layer_table(prog)
    t = lap("compile", t)
    echo(f"[3/5] compiled onto {prog.n_cores} TrueNorth cores (256 axons x 256 neurons): "
         + "; ".join(_layer_line(r) for r in table))

    lat = int(np.asarray(prog.extras.get("latency_ticks", 0)))
    core_ticks = ticks + lat  # the readout lags the input by the pipeline depth
    inputs = encode_frames(prog, test_x, ticks, seed=seed)
    res = run(prog, core_ticks, inputs, per_core=True, return_potential=True,
              progress=progress)
    snn_acc = float(np.mean(predict(prog, res, ticks) == test_y))
    report = frame_report(prog, res, snn_acc, ticks, "digits-mlp (demo)")
    report.to_json(out / "report.json")
    (out / "report.md").write_text(_demo_markdown(report, ann_acc, ideal, ticks))
    t = lap("engine", t)
    echo(f"[4/5] ran {len(test_x)} frames x {core_ticks} ticks ({ticks} + {lat} pipeline) on "
         f"the engine in {timings['engine']:.1f} s (including numba compilation; the run "
         f"alone {res.wall_s:.2f} s)")

    # spike raster of a few frames, with membrane traces of two readout neurons
    rf = min(raster_frames, len(test_x))
    sub = encode_frames(prog, test_x[:rf], ticks, seed=seed)
    rec = run(prog, core_ticks, sub, record="full", return_potential=True)
    scores = decode(prog, rec.outputs, rec.potential, ticks)
    srun = SpikeRun.from_result(prog, rec, sub, labels=test_y[:rf],
                                predictions=np.argmax(scores, axis=1),
                                meta={"name": "digits-mlp demo",
                                      "program": str(out / "program.npz")})
    srun.save(out / "run.npz")
    # the program with test image 0's input spikes stored in it: runnable by `snn sim`
    one = encode_frames(prog, test_x[:1], ticks, seed=seed)
    with_input = replace(prog, input_tick=one.tick.astype(np.int32),
                         input_core=one.core.astype(np.int32),
                         input_axon=one.axon.astype(np.int16))
    with_input.validate().save(out / "image0.npz")
    frame = 0
    label = int(test_y[frame])
    pred = int(np.argmax(scores[frame]))
    readout = _readout_neurons(prog)
    # traces: the true class and the strongest other class (highest decoded value)
    runner = max((k for k in readout if k != label), key=lambda k: scores[frame, k])
    shown = [k for k in (label, runner) if k in readout]
    traces = membrane_traces(prog, srun, [readout[k] for k in shown], frame, labels=[
        f"readout '{k}' (core {readout[k][0]}:{readout[k][1]})" for k in shown])
    plot_raster(srun.groups(frame), (0, core_ticks), traces=traces,
                title=f"digits-mlp on TrueNorth cores: test image {frame}, label {label}, "
                      f"predicted {pred}", out=out / "raster.png")
    on_cores = {ticks: float(report.accuracy)}
    for t_in in (8, 16, 64):  # the curve on cores: a few more engine runs (fractions of a s)
        if t_in != ticks:
            r = run(prog, t_in + lat, encode_frames(prog, test_x, t_in, seed=seed),
                    return_potential=True)
            on_cores[t_in] = float(np.mean(predict(prog, r, t_in) == test_y))
    plot_accuracy_vs_ticks({"ideal SNN (float)": ideal, "on cores (engine)": on_cores},
                           ann_accuracy=ann_acc, title="digits-mlp: accuracy vs ticks",
                           out=out / "accuracy_vs_ticks.png")
    plot_decomposition([{"stage": "ANN", "accuracy": ann_acc},
                        {"stage": "ideal SNN", "accuracy": ideal[ticks], "ticks": ticks},
                        {"stage": "on cores", "accuracy": report.accuracy, "ticks": ticks}],
                       title="digits-mlp: accuracy decomposition", out=out / "decomposition.png")
    lap("figures", t)
    total = time.perf_counter() - t_start
    echo(f"[5/5] wrote {out}/: report.json, report.md, raster.png, run.npz, program.npz, "
         "image0.npz, network.npz, digits_mlp.pt, accuracy_vs_ticks.png, decomposition.png")
    echo("")
    echo(_summary(report, ann_acc, ideal[ticks]))
    echo("")
    echo(f"done in {total:.1f} s. Next: `snn report {out}/report.json`, "
         f"`snn raster {out}/run.npz --layer {_last_layer(srun)} --out raster-out.png`")
    return {"ann_accuracy": ann_acc, "ideal_accuracy": ideal, "report": report,
            "timings": timings, "total_s": total, "out": out}


def _convert(model: Any, calib: np.ndarray) -> Any:
    """torch MLP -> SpikingNetwork, calibrated on raw 0..255 images (converter API)."""
    from snn.converters import convert

    return convert(model, calib, pixel_scale=1 / 255)


def _layer_line(row: dict) -> str:
    name = row.get("layer") or row.get("name")
    return f"{name}: {row.get('cores')} cores"


def _readout_neurons(prog: Any) -> dict[int, tuple[int, int]]:
    """class -> (core, neuron) of its main readout neuron (the term of largest weight when
    a class has several, ``x_readout_class``/``x_readout_weight``)."""
    cs, ns = np.nonzero(prog.output_index >= 0)
    idx = prog.output_index[cs, ns]
    ex = prog.extras
    cls = np.asarray(ex.get("readout_class", np.arange(idx.max() + 1)))[idx]
    w = np.abs(np.asarray(ex.get("readout_weight", np.ones(idx.max() + 1)), float))[idx]
    best: dict[int, tuple[float, int, int]] = {}
    for c, n, k, wk in zip(cs, ns, cls, w, strict=True):
        if int(k) not in best or wk > best[int(k)][0]:
            best[int(k)] = (float(wk), int(c), int(n))
    return {k: (c, n) for k, (_, c, n) in best.items()}


def _last_layer(srun: Any) -> str:
    return srun.layer_names[-1] if srun.layer_names else "input"


def _summary(report: Any, ann_acc: float, ideal_acc: float) -> str:
    rows = [("ANN accuracy (torch)", f"{100 * ann_acc:.2f} %"),
            ("SNN accuracy, ideal simulator", f"{100 * ideal_acc:.2f} %")]
    rows += [("SNN accuracy on cores" if k == "accuracy" else k, v) for k, v in report.rows()]
    w = max(len(k) for k, _ in rows)
    lines = [f"  {k:<{w}}  {v}" for k, v in rows]
    lines.append(f"  {'energy preset':<{w}}  {report.preset}")
    return "\n".join(["Report (all counts from the engine's counters of this run):"] + lines)


def _demo_markdown(report: Any, ann_acc: float, ideal: dict[int, float], ticks: int) -> str:
    head = ["# snn demo: digits MLP on TrueNorth cores", "",
            "| stage | accuracy |", "|---|---|",
            f"| ANN (torch) | {100 * ann_acc:.2f} % |",
            f"| ideal SNN, {ticks} ticks | {100 * ideal[ticks]:.2f} % |",
            f"| on cores (engine), {ticks} ticks | {100 * (report.accuracy or 0):.2f} % |", ""]
    return "\n".join(head) + "\n" + report.to_markdown()
