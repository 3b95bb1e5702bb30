"""QCFS CNNs on Fashion-MNIST: float ANN, QCFS ANN, ideal SNN and truenorth cores.

For each network (trained by ``benchmarks/train_qcfs_fashion.py`` or ``snn finetune``):
``snn convert`` (calibration: train frames 0:500, v_init 0.5; the clips are the
thresholds), ``snn compile --ticks L`` (truenorth preset; relays calibrated on 16 training
frames at T = L), ``snn eval PROG --data fashion-mnist --ticks ...`` on the test frames
(default all 10k). Per network and T: the float and QCFS ANN accuracy (torch; the QCFS ANN
also on inputs rate-quantised to L levels, which is what the cores see at T = L), the ideal
float SNN (``snn.simulate``, rate-coded input as on cores), the accuracy on cores, cores,
core ticks (T + pipeline latency), SOPs and spikes per frame, and the eval JSON's energy
(J/frame and frames/s/W, truenorth preset, 1 ms ticks: charges T + latency ticks), next to
the streaming estimate of issue 18 (a new frame every T ticks with all cores busy:
cores x T x (9.92 uW x 1 ms + 5.67 nJ) + spikes x 0.236 nJ per frame).

Writes ``benchmarks/results/qcfs_fashion.{json,md}`` (rows merged by network, so networks
can be run one at a time) and, with ``--keep``, copies the core program to
``benchmarks/models/qcfs_fashion_{net}_cores.npz``. ``--weight-bits K`` compiles with K axons
per input (results and program named ``{net}_kK``): fewer axons per input, coarser weights
(every layer's leak before its first input is absorbed either way: docs/compiler.md, Leak
hold).

Usage: ``python benchmarks/qcfs_fashion.py --net small_L4 --ticks 4,8,16 [--keep]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from snn.cli import main as snn
from snn.converters.qcfs import from_stock
from snn.converters.torch_import import load_torch
from snn.cores.hardware.energy import EnergyModel
from snn.datasets import load, parse_range
from snn.fileio import atomic_write_json, atomic_write_text
from snn.finetune import evaluate

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
RESULTS = HERE / "results"

def _trained(stem: str, levels: int) -> tuple[str, int, str, str]:
    """A net as train_qcfs_fashion.py saves it: (QCFS model, L, float model, avgpool)."""
    return (f"qcfs_fashion_{stem}_L{levels}.pt", levels, f"qcfs_fashion_{stem}_float.pt",
            "spiking")


NETS = {f"{stem}_L{levels}": _trained(stem, levels) for stem, levels in [
    ("small", 4), ("small", 8), ("nosplit", 4), ("sep", 4), ("sep", 8), ("sep48", 4),
    ("sep48", 8), ("shallow", 8), ("shallow", 4), ("shallow64", 8), ("shallow2", 8),
    # shallow64, sep64 and mob7 distilled from vgg5 (train_qcfs_fashion.py --net NET
    # --levels 8 --teacher benchmarks/models/qcfs_fashion_vgg5_float.pt --tag _kd); mob7h
    # (60 channels, every neuron's leak held exactly) with --qcfs-kd too
    ("shallow64_kd", 8), ("sep64_kd", 8), ("mob7_kd", 8), ("mob7h_kd", 8),
    # 13,777 cores, 1.2-1.7 frames/s on cores here: run on test 0:240 only (--frames 0:240)
    ("vgg5", 8)]}
NETS.update({
    # two shallow64 nets (seeds 0, 1) averaged at the readout (benchmarks/ensemble_qcfs.py;
    # a third member, train_qcfs_fashion.py --net shallow64 --seed 2 --tag _seed2, gave a
    # QCFS ANN of 91.29% against two members' 91.43%: not kept); its "float ANN" column is
    # the ensemble's clip-only model (the members' float nets have their own ReLUs); the
    # same for two distilled members (seeds 0, 1)
    "shallow64x2_L8": ("qcfs_fashion_shallow64x2_L8.pt", 8, "qcfs_fashion_shallow64x2_L8.pt",
                       "spiking"),
    "shallow64kdx2_L8": ("qcfs_fashion_shallow64kdx2_L8.pt", 8,
                         "qcfs_fashion_shallow64kdx2_L8.pt", "spiking"),
    "cnn_avg_L8": ("qcfs_fashion_cnn_avg_L8.pt", 8, "fashion_cnn_avg.pt", "linear"),
    "cnn_avg_L8_spk": ("qcfs_fashion_cnn_avg_L8.pt", 8, "fashion_cnn_avg.pt", "spiking"),
})


def streaming_j(cores: int, ticks: int, spikes: float) -> float:
    """J per frame when a frame enters every T ticks and all cores run throughout: the
    truenorth preset's static, per-tick and per-spike terms (no SOP, hop or chip term; the
    eval JSON's ``energy_streaming`` is the engine-counted accounting, with hops)."""
    m = EnergyModel.preset("truenorth")
    return cores * ticks * (m.p_static * m.tick_s + m.e_tick) + spikes * m.e_spike


def ann_rows(model_file: str, levels: int, float_file: str, x: torch.Tensor,
             y: torch.Tensor) -> dict:
    fl = load_torch(MODELS / float_file)
    q = from_stock(load_torch(MODELS / model_file), levels)
    return {"float_ann": evaluate(fl, x, y), "qcfs_ann": evaluate(q, x, y),
            "qcfs_ann_input_L": evaluate(q, x, y, levels=levels)}


def result_tag(name: str, weight_bits: int | None, readout_bits: int | None) -> str:
    """The name of a network's results and program: NET, NET_kK, NET_rbK, NET_kK_rbK."""
    return (name + ("" if weight_bits is None else f"_k{weight_bits}")
            + ("" if readout_bits is None else f"_rb{readout_bits}"))


def run_net(name: str, ticks: list[int], frames: str, work: Path, keep: bool,
            weight_bits: int | None = None, readout_bits: int | None = None) -> dict:
    from snn.network import SpikingNetwork
    from snn.simulate import simulate

    model_file, levels, float_file, avgpool = NETS[name]
    bits = ([] if weight_bits is None else ["--weight-bits", str(weight_bits)]) + (
        [] if readout_bits is None else ["--readout-bits", str(readout_bits)])
    tag = result_tag(name, weight_bits, readout_bits)
    xte, yte = load("fashion-mnist", None, "test")
    sl = parse_range(frames, len(xte))
    x, y = xte[sl], yte[sl]
    t0 = time.time()
    anns = ann_rows(model_file, levels, float_file, torch.from_numpy(x.copy()),
                    torch.from_numpy(y.copy()))
    print(f"[{name}] ANN: {anns}", flush=True)
    work.mkdir(parents=True, exist_ok=True)
    net_path = work / f"{name}_net.npz"
    assert snn(["convert", str(MODELS / model_file), "--data", "fashion-mnist", "--split",
                "train", "--calib", "0:500", "--avgpool", avgpool, "--out",
                str(net_path)]) == 0
    net = SpikingNetwork.load(net_path)
    ideal = simulate(net, x, ticks, encoding="rate", progress=False).accuracy(y)
    print(f"[{name}] ideal SNN (rate input): {ideal}", flush=True)
    prog, table = work / f"{tag}_cores.npz", work / f"{tag}_layers.json"
    ev_path = work / f"{tag}_eval.json"
    assert snn(["compile", str(net_path), "--ticks", str(levels), *bits, "--out", str(prog),
                "--json", str(table)]) == 0
    assert snn(["eval", str(prog), "--data", "fashion-mnist", "--range", frames, "--ticks",
                ",".join(map(str, ticks)), "--json", str(ev_path)]) == 0
    ev = json.loads(ev_path.read_text())
    rows = []
    for t in ticks:
        k = str(t)
        spikes = float(ev["spikes_per_frame"][k])
        sj = streaming_j(int(ev["cores"]), t, spikes)
        rows.append({
            "ticks": t, "core_ticks": ev["core_ticks"][k], "ideal_snn": ideal[t],
            "cores_accuracy": ev["accuracy"][k], "j_per_frame": ev["energy"][k]["j_per_frame"],
            "frames_per_s_per_w": ev["energy"][k]["frames_per_s_per_w"],
            "streaming_j_per_frame": sj, "streaming_frames_per_s_per_w": 1.0 / sj,
            "cores_x_t": int(ev["cores"]) * t,
            "sops_per_frame": ev["sops_per_frame"][k], "spikes_per_frame": spikes})
    out = {"model": model_file, "levels": levels, "float_model": float_file,
           "avgpool": avgpool, "weight_bits": weight_bits or "compiler default",
           "readout_bits": readout_bits or "weight bits",
           "frames": f"fashion-mnist test {sl.start}:{sl.stop}",
           "calibration": "fashion-mnist train 0:500 (16 kept for relays)",
           "cores": int(ev["cores"]), "latency_ticks": int(ev["latency_ticks"]),
           "relays_calibrated_at_ticks": levels, **anns, "rows": rows,
           "layers": json.loads(table.read_text()), "wall_s": round(time.time() - t0, 1),
           "device": "CPU (engine: numba), truenorth preset"}
    if keep:
        dest = MODELS / f"qcfs_fashion_{tag}_cores.npz"
        shutil.copyfile(prog, dest)
        out["program"] = f"benchmarks/models/{dest.name} ({dest.stat().st_size} bytes)"
    return out


def to_markdown(res: dict) -> str:
    lines = ["# QCFS CNNs on Fashion-MNIST: ANN, ideal SNN and truenorth cores", "",
             "Produced by `python benchmarks/qcfs_fashion.py` (see its docstring). Accuracy on "
             "the held-out test frames named per network; training on the train split only; "
             "conversion calibrated on train frames 0:500. Energy: `snn eval`'s JSON "
             "(truenorth preset, 1 ms ticks, charged for T + pipeline latency core ticks) "
             "and the streaming estimate (a new frame every T ticks: cores x T x 15.6 nJ + "
             "spikes x 0.236 nJ).", "",
             "| network | L | frames | float ANN | QCFS ANN | QCFS ANN, L-level input | T | "
             "core ticks | ideal SNN | cores acc | cores | cores x T | J/frame (eval) | "
             "frames/s/W (eval) | J/frame (streaming) | frames/s/W (streaming) | SOPs/frame | "
             "spikes/frame |", "|" + "---|" * 18]
    for name, r in res["nets"].items():
        for row in r["rows"]:
            lines.append(
                f"| {name} | {r['levels']} | {r['frames']} | {r['float_ann']:.2%} | "
                f"{r['qcfs_ann']:.2%} | {r['qcfs_ann_input_L']:.2%} | {row['ticks']} | "
                f"{row['core_ticks']} | {row['ideal_snn']:.2%} | {row['cores_accuracy']:.2%} | "
                f"{r['cores']} | {row['cores_x_t']} | {row['j_per_frame']:.3g} | "
                f"{row['frames_per_s_per_w']:.0f} | {row['streaming_j_per_frame']:.3g} | "
                f"{row['streaming_frames_per_s_per_w']:.0f} | {row['sops_per_frame']:.3g} | "
                f"{row['spikes_per_frame']:.3g} |")
    lines += ["", "Networks: " + "; ".join(
        f"{n}: {r['model']} (float: {r['float_model']}, avgpool {r['avgpool']}, latency "
        f"{r['latency_ticks']} ticks{', program ' + r['program'] if 'program' in r else ''})"
        for n, r in res["nets"].items()), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", required=True, choices=sorted(NETS))
    ap.add_argument("--ticks", default="4,8,16")
    ap.add_argument("--frames", default="0:10000", help="test frames START:STOP")
    ap.add_argument("--work", default="/tmp/qcfs_fashion", help="folder for nets/programs")
    ap.add_argument("--keep", action="store_true", help="copy the program to benchmarks/models")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weight-bits", type=int, default=None,
                    help="snn compile --weight-bits (results and program named NET_kK)")
    ap.add_argument("--readout-bits", type=int, default=None,
                    help="snn compile --readout-bits (results and program named ..._rbK)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ticks = sorted({int(t) for t in args.ticks.split(",")})
    out = run_net(args.net, ticks, args.frames, Path(args.work), args.keep, args.weight_bits,
                  args.readout_bits)
    path = RESULTS / "qcfs_fashion.json"
    res = json.loads(path.read_text()) if path.exists() else {"nets": {}}
    res["nets"][result_tag(args.net, args.weight_bits, args.readout_bits)] = out
    atomic_write_json(path, res)
    atomic_write_text(RESULTS / "qcfs_fashion.md", to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
