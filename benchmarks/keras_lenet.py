"""Keras LeNet-5-style model from an .h5 file -> ANN and ideal SNN accuracy on MNIST.

No Keras here: a torch LeNet with Keras's layout choices (channels_first tensors, a
``Flatten(data_format="channels_first")`` that flattens H, W, C) is trained on MNIST test
frames 0..7999 (the shared data lacks the training images), its weights are written as a
Keras 2 .h5 file (``snn.converters.keras_files``), `snn convert`ed from that file, and
evaluated on test frames 8000..9999 (held out from training): the torch model (the "Keras
forward pass"), the imported graph's numpy pass, and the ideal SNN at 16..128 ticks.

    python benchmarks/keras_lenet.py [--epochs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT / ".." / "shared" / "data" / "mnist"


def build():
    import torch
    from torch import nn

    class LeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(1, 6, 5, padding=2)
            self.c2 = nn.Conv2d(6, 16, 5)
            self.c3 = nn.Conv2d(16, 32, 3)
            self.f1 = nn.Linear(32 * 9, 84)
            self.f2 = nn.Linear(84, 10)

        def forward(self, x):
            x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.c2(x)), 2)
            x = torch.relu(self.c3(x))
            x = x.permute(0, 2, 3, 1).flatten(1)  # Keras Flatten(data_format=channels_first)
            return self.f2(torch.relu(self.f1(x)))

    return LeNet()


def write_keras(model, path: Path) -> None:
    from snn.converters.keras_files import layer, write_h5

    cf = "channels_first"

    def conv(name, f, k, pad):
        return layer("Conv2D", name, filters=f, kernel_size=[k, k], strides=[1, 1],
                     padding=pad, data_format=cf, dilation_rate=[1, 1], groups=1,
                     activation="relu", use_bias=True)

    def pool(name):
        return layer("MaxPooling2D", name, pool_size=[2, 2], strides=[2, 2], padding="valid",
                     data_format=cf)

    layers = [layer("InputLayer", "input_1", batch_input_shape=[None, 1, 28, 28]),
              conv("conv1", 6, 5, "same"), pool("pool1"), conv("conv2", 16, 5, "valid"),
              pool("pool2"), conv("conv3", 32, 3, "valid"),
              layer("Flatten", "flatten", data_format=cf),
              layer("Dense", "fc1", units=84, activation="relu", use_bias=True),
              layer("Dense", "fc2", units=10, activation="softmax", use_bias=True)]
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}

    def kconv(n):  # torch [O, I, kh, kw] -> Keras [kh, kw, I, O]
        return [sd[f"{n}.weight"].transpose(2, 3, 1, 0), sd[f"{n}.bias"]]

    weights = {"conv1": kconv("c1"), "conv2": kconv("c2"), "conv3": kconv("c3"),
               "fc1": [sd["f1.weight"].T, sd["f1.bias"]], "fc2": [sd["f2.weight"].T,
                                                                  sd["f2.bias"]]}
    write_h5(path, layers, weights)


def main(argv: list[str] | None = None) -> int:
    import torch
    import torch.nn.functional as F

    from snn.converters import convert, import_model
    from snn.converters.graph import forward
    from snn.datasets import load
    from snn.simulate import simulate

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "build" / "keras_lenet.h5"))
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" /
                                             "keras_lenet.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = load("mnist", MNIST, "test")
    xtr, ytr, xte, yte = x[:8000], y[:8000], x[8000:], y[8000:]
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt = torch.as_tensor(np.array(xtr), dtype=torch.float32) / 255
    yt = torch.as_tensor(ytr)
    t0 = time.time()
    for ep in range(args.epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {ep + 1} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)
    model.eval()
    with torch.no_grad():
        ref = model(torch.as_tensor(np.array(xte), dtype=torch.float32) / 255).numpy()
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_keras(model, path)
    graph = import_model(path, (1, 28, 28))
    last = graph.nodes[-1].name
    ann = forward(graph, xte.astype(np.float32) / 255, keep={last})[last]
    net = convert(path, xtr[:500], pixel_scale=1 / 255)
    ticks = [16, 32, 64, 128]
    res = simulate(net, xte, ticks)
    acc_ref = float((ref.argmax(1) == yte).mean())
    acc_ann = float((ann.argmax(1) == yte).mean())
    snn = res.accuracy(yte, "potential")
    out = {"data": "MNIST test: train on frames 0..7999, evaluate on 8000..9999 (held out)",
           "model": "LeNet-5 style, channels_first, Flatten(data_format=channels_first) "
                    "(HWC order), written as a Keras 2 .h5 with h5py",
           "epochs": args.epochs, "train_s": round(time.time() - t0, 1),
           "accuracy_torch_reference": acc_ref, "accuracy_imported_ann": acc_ann,
           "max_abs_logit_diff": float(np.abs(ann - ref).max()),
           "accuracy_snn_potential": {str(k): v for k, v in snn.items()},
           "accuracy_snn_count": {str(k): v for k, v in res.accuracy(yte, "count").items()}}
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    tmp = args.results + ".tmp"
    Path(tmp).write_text(json.dumps(out, indent=1))
    os.replace(tmp, args.results)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
