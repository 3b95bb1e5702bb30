"""Train the small conv-BN-ReLU CNNs on Fashion-MNIST that the conversion benchmark converts.

Two variants, identical but for the pooling: ``avg`` (AvgPool2d) and ``max`` (MaxPool2d).
Architecture (input: raw pixels / 255, shape 1x28x28)::

    conv3x3(1->32, pad 1)  BN ReLU pool2   -> 32x14x14
    conv3x3(32->32, pad 1) BN ReLU pool2   -> 32x7x7
    conv3x3(32->64, pad 1) BN ReLU pool2   -> 64x3x3  (floor)
    flatten -> Linear(576 -> 10)

Fan-in per neuron is at most 9*32 = 288 (convs) and 576 (readout), kind to 256x256 cores.
Training uses the train split only (60k images, random horizontal flips), Adam with a
cosine schedule, seeded, CPU, 2 threads. The model is saved as a full module
(``torch.save(model)`` of an ``nn.Sequential`` of stock torch layers, so loading needs only
torch) to ``benchmarks/models/fashion_cnn_{variant}.pt`` with a JSON of its test accuracy.

Usage: ``python benchmarks/train_fashion_cnn.py [--variant avg|max|both] [--epochs 8]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snn.datasets import DEFAULT_DIRS, load

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"


def make_model(pool: str) -> nn.Sequential:
    """The CNN with ``pool`` in ("avg", "max")."""
    def pool_layer() -> nn.Module:
        return nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2)

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(), pool_layer()]

    return nn.Sequential(*block(1, 32), *block(32, 32), *block(32, 64),
                         nn.Flatten(), nn.Dropout(0.1), nn.Linear(64 * 3 * 3, 10))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def train(pool: str, epochs: int, data_dir: str, seed: int = 0, batch: int = 128,
          lr: float = 2e-3) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xtr, ytr = load("fashion-mnist", data_dir, "train")
    xte, yte = load("fashion-mnist", data_dir, "test")
    xtr = torch.from_numpy(xtr.astype(np.float32) / 255.0)
    xte = torch.from_numpy(xte.astype(np.float32) / 255.0)
    ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)
    model = make_model(pool)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(xtr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(xtr)))
        total = 0.0
        for i in range(0, len(xtr), batch):
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
        print(f"[{pool}] epoch {epoch + 1}/{epochs} loss {total / len(xtr):.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    acc = evaluate(model, xte, yte)
    print(f"[{pool}] test accuracy {acc:.4f}", flush=True)
    MODELS.mkdir(parents=True, exist_ok=True)
    path = MODELS / f"fashion_cnn_{pool}.pt"
    tmp = path.with_suffix(".pt.tmp")
    torch.save(model, tmp)
    tmp.replace(path)
    info = {"model": path.name, "pool": pool, "epochs": epochs, "seed": seed,
            "test_accuracy": acc, "train_s": round(time.time() - t0, 1),
            "params": sum(p.numel() for p in model.parameters()),
            "input": "raw pixels / 255 (pixel_scale 1/255), shape [N, 1, 28, 28]"}
    jtmp = MODELS / f"fashion_cnn_{pool}.json.tmp"
    jtmp.write_text(json.dumps(info, indent=2) + "\n")
    jtmp.replace(MODELS / f"fashion_cnn_{pool}.json")
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=["avg", "max", "both"], default="both")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--data-dir", default=DEFAULT_DIRS["fashion-mnist"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for pool in (["avg", "max"] if args.variant == "both" else [args.variant]):
        train(pool, args.epochs, args.data_dir, args.seed)


if __name__ == "__main__":
    main()
