"""``snn finetune MODEL --data DATASET --levels L --epochs E --out MODEL``: QCFS fine-tuning
of a torch model for low-latency conversion (``snn.finetune``, ``snn.converters.qcfs``)."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

HELP = ("fine-tune a torch model with QCFS activations (L levels) so that its SNN is near "
        "lossless at T = L ticks")

EPILOG = """\
The ReLUs (nn.ReLU modules) become QCFS clip-floor-shift activations with a learnable clip
lambda per layer (initialised from 512 training frames); the output holds stock layers only
(the clips as nn.Hardtanh(0, lambda), weights-only loadable), and `snn convert` uses each
lambda as that layer's threshold. Convert with the default --v-init 0.5 and run at
--ticks L (or more). The model must take pixel / 255 (the usual torch input).

A checkpoint (--checkpoint, default OUT.ckpt) is written every 200 steps and at each epoch's
end; after Ctrl-C the last one is kept and rerunning the same command resumes from it. It is
removed once OUT is written.

examples:
  snn finetune cnn.pt --data fashion-mnist --levels 8 --epochs 3 --out cnn_qcfs.pt
  snn finetune cnn.pt --data mnist --split test --range 0:5000 --levels 4 --epochs 2 --out q.pt
"""


def add_parser(p: argparse.ArgumentParser) -> None:
    from snn.datasets import NAMES

    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("model", help="torch file written by torch.save(model) (nn.ReLU modules; "
                                 "a model saved by snn finetune continues with its clips)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load a torch file holding any pickled module; this RUNS CODE from "
                        "the file, so only for files you trust")
    p.add_argument("--data", choices=[n for n in NAMES if n != "digits"], required=True,
                   help="training dataset")
    p.add_argument("--data-dir", default=None,
                   help="dataset directory (default: the loader's standard location)")
    p.add_argument("--split", choices=["train", "test"], default="train",
                   help="split to train on (default train; test needs --range, and the "
                        "accuracy printed is then on the rest of the test split)")
    p.add_argument("--range", default=None, help="START:STOP of the split (default: all)")
    p.add_argument("--levels", type=int, required=True, metavar="L",
                   help="QCFS quantisation levels (the SNN is near lossless at T = L)")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine decay)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default OUT.ckpt)")
    p.add_argument("--out", required=True, help="fine-tuned model to write (.pt)")
    p.add_argument("--json", default=None, help="also write the training log here")


def _file_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _training_frames(args: argparse.Namespace):
    """(images, labels, description, held-out images, held-out labels)."""
    import numpy as np

    from snn.datasets import load, parse_range
    from snn.errors import ConfigError, DatasetError

    if args.split == "test" and not args.range:
        raise ConfigError("--split test without --range would train on every test frame and "
                          "leave none to measure on; give --range START:STOP (e.g. 0:5000)")
    try:
        images, labels = load(args.data, args.data_dir, args.split)
    except DatasetError as exc:
        if args.split == "train":
            raise ConfigError(
                f"{args.data}: no training split here ({exc}); train on part of the test "
                "split with --split test --range START:STOP (the rest is then held out)"
            ) from None
        raise
    sl = parse_range(args.range, len(images)) if args.range else slice(0, len(images))
    desc = f"{args.data} {args.split} {sl.start}:{sl.stop}"
    if args.split == "train":
        held_x, held_y = load(args.data, args.data_dir, "test")
    else:
        keep = np.ones(len(images), bool)
        keep[sl] = False
        held_x, held_y = images[keep], labels[keep]
    return images[sl], labels[sl], desc, held_x, held_y


def run(args: argparse.Namespace) -> int:
    import torch

    from snn.converters.qcfs import lambdas, to_stock
    from snn.converters.torch_import import load_torch
    from snn.errors import ConfigError
    from snn.fileio import atomic_open, atomic_write_json, check_outputs
    from snn.finetune import evaluate, train_qcfs

    ckpt = args.checkpoint or f"{args.out}.ckpt"
    check_outputs({"MODEL": args.model}, {"--out": args.out, "--json": args.json,
                                          "--checkpoint": ckpt})
    if args.levels < 1 or args.epochs < 1:
        raise ConfigError(f"--levels {args.levels} and --epochs {args.epochs} must be >= 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {args.device}: torch sees no CUDA device here; use "
                          "--device cpu")
    model = load_torch(args.model, args.trust_pickle)
    x, y, desc, held_x, held_y = _training_frames(args)
    print(f"snn finetune: training on {desc} ({len(x)} frames), L = {args.levels}, "
          f"{args.epochs} epochs, device {args.device}; checkpoint {ckpt}", flush=True)
    model, history = train_qcfs(
        model, x, y, levels=args.levels, epochs=args.epochs, lr=args.lr, seed=args.seed,
        device=args.device, batch_size=args.batch_size, checkpoint=ckpt,
        config={"model": _file_hash(args.model), "frames": desc},
        log=lambda s: print(f"snn finetune: {s}", flush=True))
    rest = "test split" if args.split == "train" else "the rest of the test split"
    held = f"{len(held_x)} held-out frames ({rest})"
    acc = evaluate(model, torch.from_numpy(held_x.copy()), torch.from_numpy(held_y.copy()),
                   args.device) if len(held_x) else float("nan")
    lam = lambdas(model)
    with atomic_open(args.out, "wb") as fh:
        torch.save(to_stock(model).cpu(), fh)
    if args.json:
        atomic_write_json(args.json, {
            "model": args.model, "out": args.out, "levels": args.levels,
            "trained_on": desc, "device": args.device, "seed": args.seed, "lr": args.lr,
            "epochs": history, "lambdas": lam, "held_out": held, "qcfs_accuracy": acc})
    Path(ckpt).unlink(missing_ok=True)
    print(f"{args.model} -> {args.out}: QCFS ANN (L = {args.levels}) {acc:.2%} on {held}; "
          f"trained on {desc}; clips {', '.join(f'{k} {v:.3g}' for k, v in lam.items())}")
    return 0
