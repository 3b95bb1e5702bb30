"""``snn eval``: accuracy vs ticks of a spiking network (.npz) or a core program."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from snn.cli_common import file_format, parse_ticks  # noqa: F401 (used by importers)
from snn.datasets import NAMES, load, parse_range
from snn.errors import ConfigError, FormatError, SnnError
from snn.fileio import atomic_write_json

HELP = "accuracy vs ticks (and SOPs) of a spiking network or core program on a dataset"
EVENT_NAMES = ("nmnist",)
DEFAULT_TICKS = "8,16,32,64,128,256"


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", help="spiking network (.npz, snn-net/1), core program "
                                   "(.npz, snn-cores/1) or, with --data nmnist, a binarized "
                                   "event checkpoint (.pt)")
    p.add_argument("--data", choices=NAMES + EVENT_NAMES, default="mnist",
                   help="dataset; nmnist: N-MNIST .bin files through tonic (--data-dir holds "
                        "NMNIST/Train and NMNIST/Test), run on cores at the event ticks")
    p.add_argument("--data-dir", default=None,
                   help="dataset directory (default: the loader's standard location)")
    p.add_argument("--split", choices=["train", "test"], default="test")
    p.add_argument("--range", default=None, help="START:STOP of the split (default: all)")
    p.add_argument("--ticks", default=None,
                   help="comma-separated tick counts (default 8,16,32,64,128,256; nmnist: "
                        "input ticks, default the ticks the model was trained on)")
    p.add_argument("--json", default=None, help="write the results here (atomically)")
    p.add_argument("--ann", default=None, help="the source ANN, for its accuracy on the same "
                                               "frames")
    p.add_argument("--encoding", choices=["current", "rate", "poisson"], default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--decode", choices=["count", "potential"], default=None,
                   help="decoding (default: the network's meta 'decode')")
    p.add_argument("--batch-size", type=int, default=None,
                   help="frames per engine call / progress step (default: networks 500; "
                        "core programs adaptive, about a second of work each)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="core programs: shard frames over the Dask cluster at this scheduler "
                        "address (tcp://host:8786); identical results to a local run")
    from snn.eval_extras import add_options  # --record, --report (UX helper, issue 8)
    add_options(p)


def write_json_atomic(path: str | os.PathLike, obj: dict) -> None:
    atomic_write_json(path, obj)


def evaluate_network(net, images: np.ndarray, labels: np.ndarray, ticks: list[int], *,
                     encoding: str | None = None, seed: int = 0, decode: str | None = None,
                     batch_size: int = 500, progress: bool = True, json_path: str | None = None,
                     extra: dict | None = None) -> dict:
    """Ideal-simulator accuracy vs ticks; writes partial results if interrupted."""
    from snn.simulate import simulate

    decode = decode or net.meta.get("decode", "count")
    enc = encoding or net.meta.get("encoding", "current")
    correct = {d: np.zeros(len(ticks)) for d in ("count", "potential")}
    sops = np.zeros(len(ticks))
    spikes = np.zeros(len(ticks))
    done = 0
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(images), desc="eval", unit="frame")

    def result(interrupted: bool) -> dict:
        n = max(done, 1)
        acc = {d: {str(t): correct[d][k] / n for k, t in enumerate(ticks)} for d in correct}
        out = {"accuracy": acc[decode], "accuracy_count": acc["count"],
               "accuracy_potential": acc["potential"], "decode": decode, "encoding": enc,
               "frames": done, "ticks": ticks,
               "sops_per_frame": {str(t): sops[k] / n for k, t in enumerate(ticks)},
               "spikes_per_frame": {str(t): spikes[k] / n for k, t in enumerate(ticks)},
               "wall_s": round(time.perf_counter() - t0, 3), "seed": seed}
        if interrupted:
            out["interrupted"] = True
        out.update(extra or {})
        return out

    try:
        for s in range(0, len(images), batch_size):
            res = simulate(net, images[s:s + batch_size], ticks, encoding=enc, seed=seed,
                           first_frame=s)
            lab = labels[s:s + batch_size]
            for d in correct:
                correct[d] += (res.predictions(d) == lab[None]).sum(axis=1)
            sops += res.total_sops().sum(axis=1)
            spikes += res.total_spikes().sum(axis=1)
            done += len(lab)
            if bar is not None:
                bar.update(len(lab))
    except KeyboardInterrupt:
        if json_path and done:
            write_json_atomic(json_path, result(True))
        raise
    finally:
        if bar is not None:
            bar.close()
    out = result(False)
    if json_path:
        write_json_atomic(json_path, out)
    return out


def run(args: argparse.Namespace) -> int:
    from snn.fileio import check_outputs
    check_outputs({"NETWORK": args.network, "--ann": args.ann},
                  {"--json": args.json, "--record": args.record, "--report": args.report})
    if args.data in EVENT_NAMES:
        from snn.eval_events import run_events
        return run_events(args)
    ticks = parse_ticks(args.ticks or DEFAULT_TICKS)
    preloaded = None
    if Path(args.network).suffix.lower() in (".pt", ".pth"):  # a binarized checkpoint
        from snn.eval_events import checkpoint_program
        preloaded, fmt = checkpoint_program(args.network), "snn-cores/1"
    else:
        fmt = file_format(args.network)
    if fmt not in ("snn-cores/1", "snn-net/1"):
        raise FormatError(f"{args.network}: format is {fmt!r}; give a spiking network "
                          "(snn-net/1, from `snn convert`) or a core program (snn-cores/1)")
    images, labels = load(args.data, args.data_dir, args.split)
    sl = parse_range(args.range, len(images)) if args.range else slice(0, len(images))
    images, labels = images[sl], labels[sl]
    extra = {"dataset": args.data, "split": args.split,
             "range": f"{sl.start}:{sl.stop}", "network": str(args.network)}
    if fmt == "snn-cores/1":
        try:
            from snn.cores.evaluate import evaluate_program
        except ImportError as exc:
            raise SnnError("evaluating a core program needs snn.cores.evaluate (the core "
                           "compiler's evaluator), which this installation lacks") from exc
        from snn.cores.program import CoreProgram
        program = preloaded or CoreProgram.load(args.network)
        if str(program.extras.get("binarized_mode", "")) == "frame":  # binarized checkpoints
            from snn.eval_events import run_binarized_frames
            return run_binarized_frames(args, program, images, labels, extra)
        out = evaluate_program(program, images, labels, ticks, seed=args.seed,
                               batch=args.batch_size, progress=True,
                               scheduler=args.scheduler, json_path=args.json, extra=extra)
        out = dict(out)
        out.update(extra)
        from snn.eval_extras import run_extras
        run_extras(args, program, images, labels, ticks, out)
    else:
        from snn.network import SpikingNetwork
        net = SpikingNetwork.load(args.network)
        if args.record or args.report:
            from snn.eval_extras import run_extras
            run_extras(args, None, images, labels, ticks, {})
        if args.scheduler:
            raise ConfigError("--scheduler shards core programs; evaluate a network on one "
                              "machine, or compile it first (`snn compile NET.npz --out "
                              "PROG.npz`)")
        out = evaluate_network(net, images, labels, ticks, encoding=args.encoding,
                               seed=args.seed, decode=args.decode,
                               batch_size=args.batch_size or 500,
                               json_path=args.json, extra=extra)
    if args.ann:
        from snn.converters import ann_predict
        scale = float(out.get("pixel_scale", 0) or _pixel_scale(args.network))
        pred = ann_predict(args.ann, images, pixel_scale=scale).argmax(1)
        out["ann_accuracy"] = float((pred == labels).mean())
    if args.json:
        write_json_atomic(args.json, out)
    acc = out.get("accuracy", {})
    line = "  ".join(f"{t}: {float(a):.4f}" for t, a in acc.items())
    ann = f"  (ANN {out['ann_accuracy']:.4f})" if "ann_accuracy" in out else ""
    print(f"{out.get('frames', len(images))} frames, accuracy by ticks: {line}{ann}")
    return 0


def _pixel_scale(path: str) -> float:
    fmt = file_format(path)
    if fmt == "snn-net/1":
        from snn.network import SpikingNetwork
        return float(SpikingNetwork.load(path).meta.get("pixel_scale", 1 / 255))
    with np.load(path, allow_pickle=False) as data:
        if "x_pixel_scale" in data.files:
            return float(data["x_pixel_scale"])
    return 1 / 255
