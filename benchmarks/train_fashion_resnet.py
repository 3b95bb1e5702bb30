"""Train a small ResNet (ResNet-8 style) on Fashion-MNIST and export it to ONNX.

Architecture (input: raw pixels / 255, shape 1x28x28)::

    stem   conv3x3(1->16, stride 2) BN ReLU                     -> 16x14x14
    stage1 basic block 16->16, stride 1, identity shortcut      -> 16x14x14
    stage2 basic block 16->32, stride 2, 1x1-conv projection    -> 32x7x7
    stage3 basic block 32->64, stride 2, 1x1-conv projection    -> 64x4x4
    flatten -> Linear(1024 -> 10)

A basic block is conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut (identity or
conv1x1-BN), then ReLU after the Add. Eight weight layers on the main path (ResNet-8).
The strided stem keeps it small enough to train on a shared 2-core CPU (about 2.5 M
multiply-adds per frame).
Training uses the train split only (60k images, random horizontal flips), Adam with a
one-cycle schedule, seeded, CPU, 2 threads. The model is exported (eval mode, BN folded
into the convs by the exporter) to ``benchmarks/models/fashion_resnet8.onnx`` so that
``snn convert`` loads it without running code; its test accuracy (the whole 10k test
split, through onnxruntime) goes to ``fashion_resnet8.json``, the per-epoch log to
``fashion_resnet8_train.log``.

Usage: ``python benchmarks/train_fashion_resnet.py [--epochs 8] [--time-batches 20]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snn.datasets import DEFAULT_DIRS, load

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
NAME = "fashion_resnet8"


class Block(nn.Module):
    """Basic residual block: conv-BN-ReLU-conv-BN + shortcut, ReLU after the Add."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.short is None else self.short(x)))


class ResNet8(nn.Module):
    def __init__(self, widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        a, b, c = widths
        self.stem = nn.Sequential(nn.Conv2d(1, a, 3, 2, 1, bias=False), nn.BatchNorm2d(a),
                                  nn.ReLU())
        self.stages = nn.Sequential(Block(a, a, 1), Block(a, b, 2), Block(b, c, 2))
        self.fc = nn.Linear(c * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.stages(self.stem(x)), 1))


def export_onnx(model: nn.Module, path: Path) -> None:
    """Eval-mode ONNX export (BN folded into the convs), written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    torch.onnx.export(model.eval(), torch.zeros(1, 1, 28, 28), str(tmp), dynamo=False,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    tmp.replace(path)


def onnx_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    correct = 0
    for i in range(0, len(x), 1000):
        out = sess.run(None, {"x": x[i:i + 1000]})[0]
        correct += int((out.argmax(1) == y[i:i + 1000]).sum())
    return correct / len(x)


def train(epochs: int, data_dir: str, seed: int = 0, batch: int = 128, lr: float = 3e-3,
          time_batches: int = 0) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xtr, ytr = load("fashion-mnist", data_dir, "train")
    xte, yte = load("fashion-mnist", data_dir, "test")
    xtr = torch.from_numpy(xtr.astype(np.float32).reshape(-1, 1, 28, 28) / 255.0)
    xte_np = xte.astype(np.float32).reshape(-1, 1, 28, 28) / 255.0
    ytr = torch.from_numpy(ytr.astype(np.int64))
    model = ResNet8()
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
        for k, i in enumerate(range(0, len(xtr), batch)):
            idx = order[i:i + batch]
            xb, yb = xtr[idx], ytr[idx]
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            if time_batches and k + 1 == time_batches:
                s = (time.time() - t0) / time_batches
                print(f"{s:.3f} s/batch -> about {s * per_epoch:.0f} s/epoch", flush=True)
                return {"s_per_batch": s}
        line = f"epoch {epoch + 1}/{epochs} loss {total / len(xtr):.4f} ({time.time() - t0:.0f} s)"
        print(line, flush=True)
        log.append({"epoch": epoch + 1, "loss": total / len(xtr),
                    "elapsed_s": round(time.time() - t0, 1)})
    MODELS.mkdir(parents=True, exist_ok=True)
    path = MODELS / f"{NAME}.onnx"
    export_onnx(model, path)
    acc = onnx_accuracy(path, xte_np, yte)
    print(f"test accuracy (onnxruntime, 10k test frames) {acc:.4f}", flush=True)
    info = {"model": path.name, "architecture": "ResNet-8: stem conv stride 2 (16), blocks "
            "16/32/64 (identity, 1x1 projection, 1x1 projection), Linear(1024, 10)",
            "epochs": epochs, "seed": seed, "batch": batch, "max_lr": lr,
            "train_frames": "Fashion-MNIST train split, 60000 (random horizontal flips)",
            "test_frames": "Fashion-MNIST test split, 10000", "test_accuracy": acc,
            "device": "CPU (2 torch threads)", "train_s": round(time.time() - t0, 1),
            "params": sum(p.numel() for p in model.parameters()), "epochs_log": log,
            "input": "raw pixels / 255 (pixel_scale 1/255), shape [N, 1, 28, 28]"}
    jtmp = MODELS / f"{NAME}.json.tmp"
    jtmp.write_text(json.dumps(info, indent=2) + "\n")
    jtmp.replace(MODELS / f"{NAME}.json")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--data-dir", default=DEFAULT_DIRS["fashion-mnist"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--time-batches", type=int, default=0,
                    help="only time this many batches and print the epoch estimate")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    train(args.epochs, args.data_dir, args.seed, time_batches=args.time_batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
