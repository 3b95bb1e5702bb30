"""Train a max-pooling CNN on MNIST and export it to ONNX with raw 0..255 input.

The shared data has no MNIST training images, so (as ``benchmarks/keras_lenet.py``) the
network trains on MNIST test frames 0..7999 (random shifts of up to 2 pixels) and is
measured on test frames 8000..9999, held out from training. Architecture::

    conv3x3(1->16, pad 1)  BN ReLU maxpool2   -> 16x14x14
    conv3x3(16->32, pad 1) BN ReLU maxpool2   -> 32x7x7
    conv3x3(32->64, pad 1) BN ReLU maxpool2   -> 64x3x3  (floor)
    flatten -> Linear(576 -> 10)

Trained on pixels / 255; for the export the first conv's weights are divided by 255, so
the ONNX model (``benchmarks/models/mnist_maxpool_cnn.onnx``, BN folded by the exporter)
takes raw pixels 0..255 (``snn convert ... --pixel-scale 1``). Seeded, CPU, 2 threads;
accuracy of the exported model (onnxruntime) on frames 8000..9999 and the training log go
to ``mnist_maxpool_cnn.json``.

Usage: ``python benchmarks/train_mnist_maxpool_cnn.py [--epochs 8]``
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snn.datasets import load

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
MNIST = HERE.parent / ".." / "shared" / "data" / "mnist"
NAME = "mnist_maxpool_cnn"
TRAIN, HELD_OUT = slice(0, 8000), slice(8000, 10000)


def make_model() -> nn.Sequential:
    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), nn.Flatten(),
                         nn.Dropout(0.2), nn.Linear(64 * 3 * 3, 10))


def shift(xb: torch.Tensor, rng: np.random.Generator, r: int = 2) -> torch.Tensor:
    """Each image shifted by a random (dy, dx) in -r..r (zero fill)."""
    pad = nn.functional.pad(xb, (r, r, r, r))
    out = torch.empty_like(xb)
    d = rng.integers(0, 2 * r + 1, (len(xb), 2))
    for k in range(len(xb)):
        out[k] = pad[k, :, d[k, 0]:d[k, 0] + 28, d[k, 1]:d[k, 1] + 28]
    return out


def export_raw_input(model: nn.Sequential, path: Path) -> None:
    """ONNX export taking raw 0..255 pixels: the first conv's weights divided by 255."""
    m = copy.deepcopy(model).eval()
    with torch.no_grad():
        m[0].weight.div_(255.0)
    tmp = path.with_name(path.name + ".tmp")
    torch.onnx.export(m, torch.zeros(1, 1, 28, 28), str(tmp), dynamo=False,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    tmp.replace(path)


def train(epochs: int, seed: int = 0, batch: int = 64, lr: float = 3e-3) -> dict:
    import onnxruntime as ort
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = load("mnist", MNIST, "test")
    x = x.astype(np.float32).reshape(-1, 1, 28, 28)
    xtr = torch.from_numpy(x[TRAIN] / 255.0)
    ytr = torch.from_numpy(y[TRAIN].astype(np.int64))
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    per_epoch = (len(xtr) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    log = []
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(xtr)))
        total = 0.0
        for i in range(0, len(xtr), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(shift(xtr[idx], rng)), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        print(f"epoch {epoch + 1}/{epochs} loss {total / len(xtr):.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
        log.append({"epoch": epoch + 1, "loss": total / len(xtr),
                    "elapsed_s": round(time.time() - t0, 1)})
    MODELS.mkdir(parents=True, exist_ok=True)
    path = MODELS / f"{NAME}.onnx"
    export_raw_input(model, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"x": x[HELD_OUT]})[0]  # raw 0..255 pixels
    acc = float((out.argmax(1) == y[HELD_OUT]).mean())
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x[HELD_OUT] / 255.0)).numpy()
    print(f"held-out accuracy (onnxruntime, raw pixels, frames 8000..9999) {acc:.4f}",
          flush=True)
    info = {"model": path.name, "architecture": "3 x (conv3x3-BN-ReLU-maxpool2) 16/32/64, "
            "Linear(576, 10)", "epochs": epochs, "seed": seed, "batch": batch, "max_lr": lr,
            "train_frames": "MNIST test frames 0..7999 (no MNIST training images here), "
                            "random shifts of up to 2 pixels",
            "held_out_frames": "MNIST test frames 8000..9999",
            "held_out_accuracy": acc, "max_abs_logit_diff_vs_torch":
                float(np.abs(out - ref).max()),
            "device": "CPU (2 torch threads)", "train_s": round(time.time() - t0, 1),
            "params": sum(p.numel() for p in model.parameters()), "epochs_log": log,
            "input": "raw pixels 0..255 (pixel_scale 1), shape [N, 1, 28, 28]"}
    jtmp = MODELS / f"{NAME}.json.tmp"
    jtmp.write_text(json.dumps(info, indent=2) + "\n")
    jtmp.replace(MODELS / f"{NAME}.json")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    train(args.epochs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
