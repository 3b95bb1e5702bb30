"""N-MNIST: a binarized spiking network trained through time (BPTT, surrogate gradient) on the
600 training samples in ../shared/data/nmnist, tested on the 50 test samples, on cores.

    # 1. events via tonic (Denoise; Downsample 34x34 -> 17x17 and time x0.1) -> spikes at
    #    1 ms ticks (one tick = 10 ms of recording), saved to build/nmnist_spikes.npz
    python benchmarks/train_binarized_nmnist.py prepare
    # 2. train (GPU if available; on a shared CPU use --threads 1)
    python benchmarks/train_binarized_nmnist.py train --epochs 40 --threads 1
    # 3. run the exported network on cores: events at their 1 ms ticks, no framing
    python benchmarks/train_binarized_nmnist.py cores

The torch model runs the same 1 ms ticks as the cores (the tonic ToFrame(time_window=1000)
binning, clipped to one spike per element and tick), with one tick of delay per layer, so its
test accuracy and the cores' are the same number (checked spike for spike).
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
DATA = ROOT / ".." / "shared" / "data" / "nmnist"
ARCH = [("conv", 32, 4, 2, 1, 1), ("shuffle", 4), ("conv", 64, 3, 2, 1, 4), ("flatten",),
        ("readout", 10, 120)]
GRID = (2, 17, 17)
MAX_TICKS = 320  # N-MNIST samples last 291-314 ms


def cmd_prepare(args: argparse.Namespace) -> int:
    from snn.event_data import EventGrid, default_transform, events_to_spikes, load_nmnist

    grid = EventGrid.for_nmnist(0.5)
    payload = {}
    max_ticks = int(np.ceil(MAX_TICKS * args.time_factor))
    for split in ("train", "test"):
        ev, y = load_nmnist(args.data_dir, split, default_transform(0.5, args.time_factor))
        sp = [events_to_spikes(e, grid, max_ticks=max_ticks) for e in ev]
        payload[f"{split}_tick"] = np.concatenate([s[0] for s in sp]).astype(np.int16)
        payload[f"{split}_element"] = np.concatenate([s[1] for s in sp]).astype(np.int16)
        payload[f"{split}_offsets"] = np.cumsum([0] + [len(s[0]) for s in sp]).astype(np.int64)
        payload[f"{split}_labels"] = y
        print(f"{split}: {len(y)} samples, {np.mean([len(s[0]) for s in sp]):.0f} spikes each")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = str(args.out) + ".tmp.npz"
    np.savez_compressed(tmp, grid=np.array(grid), max_ticks=max_ticks,
                        time_factor=args.time_factor, **payload)
    os.replace(tmp, args.out)
    return 0


def load_spikes(path: str, split: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    if not Path(path).exists():
        raise SystemExit(f"{path}: no prepared spikes; run `prepare` first")
    d = np.load(path)
    off = d[f"{split}_offsets"]
    t, e = d[f"{split}_tick"].astype(np.int32), d[f"{split}_element"].astype(np.int32)
    return [(t[off[i]:off[i + 1]], e[off[i]:off[i + 1]]) for i in range(len(off) - 1)], \
        d[f"{split}_labels"].astype(np.int64)


def dense(spikes, ticks: int) -> np.ndarray:
    out = np.zeros((len(spikes), ticks, int(np.prod(GRID))), np.uint8)
    for b, (t, el) in enumerate(spikes):
        m = t < ticks
        out[b, t[m], el[m]] = 1
    return out.reshape(len(spikes), ticks, *GRID)


def build():
    from snn.converters.binarized import TemporalBSNN

    return TemporalBSNN(ARCH, GRID, theta0=3.0, reset="subtract", floor=8)


def cmd_train(args: argparse.Namespace) -> int:
    import torch
    import torch.nn.functional as F

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)  # 1 is far faster on a shared, loaded CPU
    torch.manual_seed(args.seed)
    tr, ytr = load_spikes(args.spikes, "train")
    te, yte = load_spikes(args.spikes, "test")
    T = args.ticks or int(np.load(args.spikes)["max_ticks"])
    xtr = torch.as_tensor(dense(tr, T)).to(device)
    xte = torch.as_tensor(dense(te, T)).to(device)
    ytr_t = torch.as_tensor(ytr).to(device)
    model = build().to(device)
    scale = torch.nn.Parameter(torch.tensor(0.1, device=device))
    opt = torch.optim.Adam(list(model.parameters()) + [scale], lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    hist = []
    done = 0
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot = 0.0
        nb = 0
        for i in range(0, len(xtr), args.batch):
            idx = perm[i:i + args.batch].to(device)
            scores, _ = model(xtr[idx].float())
            loss = F.cross_entropy(scores * scale, ytr_t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss.detach())
            nb += 1
        sched.step()
        done = ep + 1
        acc = test_acc(model, xte, yte)
        hist.append({"epoch": done, "loss": tot / nb, "test_acc": acc})
        print(f"[nmnist] epoch {done} loss {tot / nb:.4f} test {acc:.3f} "
              f"({time.time() - t0:.0f}s)", flush=True)
        if time.time() - t0 > args.time_budget:
            print("[nmnist] time budget reached", flush=True)
            break
    info = {"spikes_file": Path(args.spikes).name,
            "time_factor": float(np.load(args.spikes)["time_factor"])
            if "time_factor" in np.load(args.spikes).files else 1.0,
            "epochs": done, "epochs_planned": args.epochs, "train_s": round(time.time() - t0, 1),
            "device": device, "seed": args.seed, "lr": args.lr, "ticks": T,
            "train_acc": test_acc(model, xtr, ytr), "test_acc": test_acc(model, xte, yte),
            "history": hist}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": ARCH, "info": info,
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}},
               out / "nmnist_bsnn.pt")
    (out / "nmnist_train_log.json").write_text(json.dumps(info, indent=1))
    return 0


def test_acc(model, x, y) -> float:
    import torch

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), 100):
            s, _ = model(x[i:i + 100].float())
            preds.append(s.argmax(1).cpu().numpy())
    model.train()
    return float((np.concatenate(preds) == np.asarray(y)).mean())


def cmd_cores(args: argparse.Namespace) -> int:
    import torch

    from snn.converters.binarized_export import export_temporal
    from snn.cores.compiler.binarized_map import compile_binarized, decode_scores, event_inputs
    from snn.cores.engine import run

    ck = torch.load(Path(args.models) / "nmnist_bsnn.pt", map_location="cpu", weights_only=False)
    model = build()
    model.load_state_dict(ck["state_dict"])
    model.eval()
    te, yte = load_spikes(args.spikes, "test")
    T = int(ck["info"]["ticks"])
    with torch.no_grad():
        scores, trains = model(torch.as_tensor(dense(te, T)).float(), record=True)
    tpred = scores.argmax(1).numpy()
    net = export_temporal(model)
    prog = compile_binarized(net)
    ticks = T + int(prog.extras["latency_ticks"])
    inp = event_inputs(prog, [(t[t < T], e[t < T]) for t, e in te])
    r = run(prog, ticks, inp, record="counts")
    cpred = decode_scores(r.outputs)
    nl, ne = prog.extras["neuron_layer"], prog.extras["neuron_element"]
    exact = True
    for li, tr in enumerate(trains):
        cnt = tr.reshape(tr.shape[0], tr.shape[1], -1).sum(1).numpy().astype(np.int64)
        c, n = np.nonzero(nl == li)
        exact &= bool(np.array_equal(r.spike_counts[:, c, n], cnt[:, ne[c, n]]))
    n = len(yte)
    tf = float(ck["info"].get("time_factor", 1.0))
    per_frame = {k: float(v.mean()) for k, v in r.counters.items()}
    energy = None
    try:
        from snn.cores.hardware.energy import EnergyModel

        e = EnergyModel.preset("truenorth").evaluate(
            {k: int(v.sum()) for k, v in r.counters.items()}, ticks=ticks, n_cores=prog.n_cores,
            n_frames=n)
        energy = e.to_dict()
    except Exception as exc:  # noqa: BLE001
        energy = {"error": f"{type(exc).__name__}: {exc}"}
    result = {
        "dataset": f"N-MNIST, 600 train / {n} test samples (../shared/data/nmnist)",
        "architecture": [list(a) for a in ARCH],
        "input": f"2x17x17 (tonic Denoise 10 ms, Downsample spatial 0.5, time {tf:g}: one "
                 f"1 ms tick = {1 / tf:g} ms of recording), one spike per element and tick, "
                 "fed to the cores at their ticks (no framing)",
        "training": {k: v for k, v in ck["info"].items() if k != "history"},
        "history": ck["info"].get("history", []),
        "cores": {
            "accuracy_torch": float((tpred == yte).mean()),
            "accuracy_cores": float((cpred == yte).mean()),
            "predictions_equal": bool(np.array_equal(cpred, tpred)),
            "readout_counts_equal": bool(np.array_equal(r.outputs, scores.numpy())),
            "spike_counts_equal_every_neuron": exact,
            "n_cores": prog.n_cores, "ticks": ticks, "per_sample": per_frame,
            "engine_wall_s": round(r.wall_s, 2), "energy": energy,
        },
    }
    stem = Path(args.results) / "binarized_nmnist"
    stem.parent.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(result, indent=1, default=float)),
                         (".md", to_markdown(result))):
        tmp = stem.with_suffix(suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, stem.with_suffix(suffix))
    print(json.dumps(result["cores"], indent=1, default=str))
    return 0


def to_markdown(r: dict) -> str:
    c, t = r["cores"], r["training"]
    pf = c["per_sample"]
    e = c.get("energy") or {}
    lines = [f"# Binarized spiking network on N-MNIST ({r['dataset']})", "",
             f"Architecture: {r['architecture']}; input {r['input']}.", "",
             f"Trained {t['epochs']} epochs on {t['device']} (BPTT over {t['ticks']} ticks, "
             "arctan surrogate), seed "
             f"{t['seed']}: train accuracy {100 * t['train_acc']:.1f}%.", "",
             "| quantity | value |", "|---|---|",
             f"| test accuracy, torch | {100 * c['accuracy_torch']:.1f}% |",
             f"| test accuracy, cores | {100 * c['accuracy_cores']:.1f}% |",
             f"| predictions identical | {c['predictions_equal']} |",
             f"| every neuron's spike count identical | {c['spike_counts_equal_every_neuron']} |",
             f"| cores | {c['n_cores']} |", f"| ticks per sample | {c['ticks']} |",
             f"| SOPs per sample | {pf.get('sops', 0):.0f} |",
             f"| spikes per sample | {pf.get('spikes', 0):.0f} |",
             f"| input events per sample | {pf.get('input_events', 0):.0f} |"]
    for key in ("j_per_frame", "frames_per_s_per_w", "watts"):
        if key in e:
            lines.append(f"| {key} | {e[key]:.4g} |")
    lines += ["", "Only 50 test samples (no digit 8 among them): one sample is 2 points of "
              "accuracy.", "", "Produced by `python benchmarks/train_binarized_nmnist.py cores`.",
              ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--data-dir", default=str(DATA))
    p.add_argument("--time-factor", type=float, default=0.1,
                   help="tonic Downsample time_factor (0.1: 10 ms of recording per 1 ms tick)")
    p.add_argument("--out", default=str(ROOT / "build" / "nmnist_spikes.npz"))
    t = sub.add_parser("train")
    t.add_argument("--spikes", default=str(ROOT / "build" / "nmnist_spikes.npz"))
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--ticks", type=int, default=0, help="0: the prepared file's max_ticks")
    t.add_argument("--batch", type=int, default=50)
    t.add_argument("--lr", type=float, default=5e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    t.add_argument("--time-budget", type=float, default=1e9)
    t.add_argument("--out", default=str(ROOT / "benchmarks" / "models"))
    c = sub.add_parser("cores")
    c.add_argument("--spikes", default=str(ROOT / "build" / "nmnist_spikes.npz"))
    c.add_argument("--models", default=str(ROOT / "benchmarks" / "models"))
    c.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    return {"prepare": cmd_prepare, "train": cmd_train, "cores": cmd_cores}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
