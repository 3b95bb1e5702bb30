"""``snn eval ... --data nmnist``: event data through tonic, on cores (kept apart from
``snn.commands.eval`` so that the frame path stays as it is)."""

from __future__ import annotations

import argparse
from pathlib import Path

from snn.errors import ConfigError, DatasetError, FormatError
from snn.fileio import atomic_write_json

# the shared data folder next to the working directory or next to the repository
DEFAULT_NMNIST_DIRS = (Path("../shared/data/nmnist"),
                       Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nmnist")


def _program(path: str):
    """A temporal core program from a program file, a binarized network or a checkpoint."""
    from snn.cli_common import file_format
    from snn.cores.compiler import compile as compile_net
    from snn.cores.program import CoreProgram
    from snn.network import SpikingNetwork

    if Path(path).suffix.lower() in (".pt", ".pth"):
        from snn.converters.binarized_load import load_binarized
        net = load_binarized(path)
    else:
        fmt = file_format(path)
        if fmt == "snn-cores/1":
            return CoreProgram.load(path), None
        if fmt != "snn-net/1":
            raise FormatError(f"{path}: format is {fmt!r}; give a core program, a spiking "
                              "network or a binarized checkpoint (.pt)")
        net = SpikingNetwork.load(path)
    if net.meta.get("binarized_mode") != "temporal":
        raise ConfigError(f"{path}: N-MNIST evaluation runs event models on cores (temporal "
                          "binarized networks, e.g. benchmarks/models/nmnist_bsnn.pt); this "
                          "network takes frames")
    prog = compile_net(net)
    if "event_transform" in net.meta:
        import json

        import numpy as np
        prog.extras["event_transform"] = np.array(json.dumps(net.meta["event_transform"]))
    return prog, net


def checkpoint_program(path: str):
    """The core program of a binarized checkpoint (.pt), compiled in memory."""
    from snn.converters.binarized_load import load_binarized
    from snn.cores.compiler import compile as compile_net

    return compile_net(load_binarized(path))


def run_events(args: argparse.Namespace) -> int:
    from snn.cli_common import parse_ticks
    from snn.cores.evaluate_events import evaluate_events, load_event_spikes, program_transform
    from snn.datasets import parse_range

    program, _ = _program(args.network)
    transform = program_transform(program)
    data_dir = args.data_dir
    if data_dir is None:
        data_dir = next((d for d in DEFAULT_NMNIST_DIRS if Path(d, "NMNIST").is_dir()), None)
        if data_dir is None:
            raise DatasetError("no N-MNIST directory found; pass --data-dir DIR (DIR/NMNIST/"
                               "Train/<label>/<id>.bin)")
    spikes, labels, text = load_event_spikes(data_dir, args.split, transform)
    sl = parse_range(args.range, len(labels)) if args.range else slice(0, len(labels))
    spikes, labels = spikes[sl], labels[sl]
    ticks = parse_ticks(args.ticks) if args.ticks else [int(transform["ticks"]) or 32]
    out = evaluate_events(program, spikes, labels, ticks)
    out.update({"dataset": args.data, "split": args.split, "data_dir": str(data_dir),
                "range": f"{sl.start}:{sl.stop}", "network": str(args.network),
                "transforms": text, "event_transform": transform})
    if args.json:
        atomic_write_json(args.json, out)
    acc = "  ".join(f"{t}: {a:.4f}" for t, a in out["accuracy"].items())
    print(f"{out['frames']} samples ({args.data} {args.split}), {out['n_cores']} cores, "
          f"accuracy by input ticks: {acc}")
    print(f"  input: {text}")
    for t, e in out["energy"].items():
        ps = out["per_sample"][t]
        j = e.get("j_per_frame")
        jt = f", {j:.3g} J/sample" if isinstance(j, float) else ""
        print(f"  {t} input ticks (+{out['latency_ticks']} latency): "
              f"{ps.get('sops', 0):.0f} SOPs, {ps.get('spikes', 0):.0f} spikes per sample{jt}")
    return 0


def run_binarized_frames(args: argparse.Namespace, program, images, labels, extra: dict
                         ) -> int:
    """``snn eval PROG --data fashion-mnist`` for a frame-mode binarized program."""
    from snn.cores.evaluate_events import evaluate_binarized_frames

    out = evaluate_binarized_frames(program, images, labels, batch=args.batch_size or 500)
    out.update(extra)
    if args.json:
        atomic_write_json(args.json, out)
    (t, acc), = out["accuracy"].items()
    e = out["energy"].get("j_per_frame")
    jt = f", {e:.3g} J/frame" if isinstance(e, float) else ""
    print(f"{out['frames']} frames, {out['n_cores']} cores, {out['encoding']} input, "
          f"accuracy after {t} ticks: {acc:.4f}; {out['per_sample'].get('sops', 0):.0f} SOPs "
          f"per frame{jt}")
    return 0
