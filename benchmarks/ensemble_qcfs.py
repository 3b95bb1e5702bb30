"""Average shallow QCFS CNNs at the readout, as Eedn averages duplicate networks.

The members are saved clip models of ``benchmarks/train_qcfs_fashion.py --net shallow*``
(conv, BatchNorm, ``nn.Hardtanh(0, lambda)``, flatten, dropout, dense; trained with
different seeds). The ensemble is one network of the same form: the members' convolutions
side by side as one convolution with one batch norm, member k's batch norm output scaled by
lambda_1 / lambda_k so that one clip lambda_1 serves all (QCFS levels scale with lambda, so member
k's activations are exactly scaled copies), and one dense readout over the concatenated
features with member k's weights divided by that scale and by the number of members: the
readout is the mean of the members' logits. It converts and compiles like any other
model. Prints the members' and the ensemble's test accuracy (float clip and QCFS with L
levels) and writes the ensemble model and a JSON log.

Usage: ``python benchmarks/ensemble_qcfs.py --levels 8 --out qcfs_fashion_shallow64x2_L8.pt
MEMBER.pt MEMBER.pt``
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch
from torch import nn

from snn.converters.qcfs import from_stock
from snn.datasets import load
from snn.fileio import atomic_open, atomic_write_json
from snn.finetune import evaluate

MODELS = Path(__file__).resolve().parent / "models"


def _parts(model: nn.Sequential) -> tuple[nn.Conv2d, nn.BatchNorm2d, float, nn.Linear]:
    mods = list(model)
    conv, bn, clip = mods[0], mods[1], mods[2]
    dense = mods[-1]
    if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
            and isinstance(clip, nn.Hardtanh) and isinstance(dense, nn.Linear)
            and sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in mods) == 2):
        raise ValueError("a member must be conv, BatchNorm, Hardtanh(0, lambda), flatten, "
                         "(dropout,) dense: a --net shallow* model")
    return conv, bn, float(clip.max_val), dense


def ensemble(members: list[nn.Sequential]) -> nn.Sequential:
    """One clip model whose readout is the mean of the members' readouts (module doc). The
    batch norms stay (one over the concatenated channels): the converter folds them as it
    folds any other."""
    convs, norms, denses = [], [], []
    lam0 = _parts(members[0])[2]
    eps = _parts(members[0])[1].eps
    for m in members:
        conv, bn, lam, dense = _parts(m.eval())
        scale = lam0 / lam  # member k's activations in units of the first clip
        mean = bn.running_mean.detach()
        if conv.bias is not None:  # a conv bias is a shift of the batch norm's mean
            mean = mean - conv.bias.detach()
        norms.append((bn.weight.detach() * scale, bn.bias.detach() * scale, mean,
                      bn.running_var.detach() + bn.eps - eps))
        convs.append(conv.weight.detach())
        denses.append((dense.weight.detach() / scale / len(members),
                       dense.bias.detach() / len(members)))
    c0 = _parts(members[0])[0]
    conv = nn.Conv2d(c0.in_channels, sum(w.shape[0] for w in convs), c0.kernel_size,
                     c0.stride, c0.padding, bias=False)
    conv.weight.data = torch.cat(convs)
    bn = nn.BatchNorm2d(conv.out_channels, eps=eps)
    for name, i in (("weight", 0), ("bias", 1), ("running_mean", 2), ("running_var", 3)):
        getattr(bn, name).data = torch.cat([n[i] for n in norms])
    dense = nn.Linear(sum(w.shape[1] for w, _ in denses), denses[0][0].shape[0])
    dense.weight.data = torch.cat([w for w, _ in denses], dim=1)
    dense.bias.data = sum(b for _, b in denses)
    return nn.Sequential(conv, bn, nn.Hardtanh(0.0, lam0), nn.Flatten(), dense).eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="clip models (benchmarks/models/...)")
    ap.add_argument("--levels", type=int, default=8)
    ap.add_argument("--out", required=True, help="file name in benchmarks/models")
    args = ap.parse_args()
    torch.set_num_threads(2)
    xte, yte = load("fashion-mnist", None, "test")
    x, y = torch.from_numpy(xte.copy()), torch.from_numpy(yte.copy())
    members = [torch.load(MODELS / Path(p).name, weights_only=False) for p in args.members]
    ens = ensemble(members)
    log: dict = {"members": [Path(p).name for p in args.members], "levels": args.levels,
                 "test_frames": "fashion-mnist test 0:10000"}

    def scores(model: nn.Module) -> dict:
        clip = evaluate(model, x, y)
        q = from_stock(copy.deepcopy(model), args.levels)
        return {"clip": clip, "qcfs": evaluate(q, x, y),
                "qcfs_input_L": evaluate(q, x, y, levels=args.levels)}

    log["member_accuracy"] = [scores(m) for m in members]
    log["ensemble_accuracy"] = scores(ens)
    print(json.dumps(log, indent=1))
    out = MODELS / args.out
    with atomic_open(out, "wb") as fh:
        torch.save(ens, fh)
    atomic_write_json(out.with_suffix(".json"), log)


if __name__ == "__main__":
    main()
