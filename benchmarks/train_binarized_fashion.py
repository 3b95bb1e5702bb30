"""Fashion-MNIST: one conv architecture trained three ways (float DNN, BNN, BSNN), and the
BSNN run on TrueNorth-like cores, exactly.

    # the float DNN (also the distillation teacher), then BSNN and BNN with the binary recipe
    python benchmarks/train_binarized_fashion.py train --arch A --kinds dnn --epochs 30
    python benchmarks/train_binarized_fashion.py train --arch Ap4 --kinds bsnn,bnn --epochs 15 \
        --threads 1 --teacher benchmarks/models/fashion_A_dnn.pt --kd-alpha 0.9 --kd-temp 4 \
        --init-scale 0.05 --append-log
    # the final BSNN: the same recipe on all 60k training images, 45 epochs (docs/binarized.md)
    python benchmarks/train_binarized_fashion.py train --arch Ap4 --kinds bsnn --epochs 45 \
        --threads 1 --val 0 --teacher benchmarks/models/fashion_A_dnn.pt --kd-alpha 0.9 \
        --kd-temp 4 --init-scale 0.05 --log-name fashion_Ap4_bsnn_45ep_full_train_log.json
    # BSNN on cores (numba engine) -> benchmarks/results/binarized_fashion.{json,md}
    python benchmarks/train_binarized_fashion.py cores --arch Ap4 --dnn-arch A
    # refresh the training rows of the results (no engine run)
    python benchmarks/train_binarized_fashion.py table --dnn-arch A

Flavours (same layers, same groups, same readout blocks):
  dnn  float weights, ReLU, grey input (pixel / 255)
  bnn  binary weights, sign activations (+-1), thermometer input (7 levels)
  bsnn binary weights, {0,1} spikes (Heaviside, arctan surrogate), thermometer input;
       BatchNorm folded into integer thresholds -> exported -> compiled -> engine.

Data: the first 55k training images train, the last 5k (``--val``) validate (every choice of
the recipe was made on them; ``--val 0`` then trains the chosen recipe on all 60k); the 10k
test set is evaluated once, after the last epoch.
Binary recipe: latent weights U(-s, s) (``--init-scale``), clipped to [-1, 1] after every step
(else the clipped STE freezes every weight that leaves it), Adam + one-cycle lr, random
horizontal flips, distillation from the float DNN (``--teacher``, ``--kd-alpha``).
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
LEVELS = [32, 64, 96, 128, 160, 192, 224]
# the architectures live in the package so that `snn compile` can rebuild the models
from snn.converters.binarized_load import NAMED_ARCHS as ARCHS  # noqa: E402


def load_fashion(data_dir: str | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    from snn.datasets import load_idx_dataset

    d = data_dir or os.environ.get("FASHION_DIR") or "/usr/share/datasets/fashion-mnist"
    return load_idx_dataset(d, split)


def build(kind: str, arch: str):
    from snn.converters.binarized import FrameNet

    return FrameNet(ARCHS[arch], (1, 28, 28), LEVELS, kind)


def teacher_logits(path: Path, x, device: str):
    """Logits of the trained float DNN (the distillation teacher) on x and x flipped."""
    import torch

    from snn.distill import mirror_logits

    ck = torch.load(path, map_location="cpu", weights_only=False)
    if ck["kind"] != "dnn":
        raise SystemExit(f"{path}: the teacher must be a float dnn, got {ck['kind']}")
    t = build("dnn", ck["arch"])
    t.load_state_dict(ck["state_dict"])
    return mirror_logits(t.to(device), x)


def train_one(kind: str, arch: str, xtr, ytr, xval, yval, epochs: int, seed: int,
              device: str, lr: float, batch: int, time_budget: float, *, clip: bool = True,
              teacher: Path | None = None, kd_alpha: float = 0.0, kd_temp: float = 4.0,
              init_scale: float = 1.0, wd: float = 0.0) -> tuple[object, dict]:
    """Adam + one-cycle LR, horizontal flips; binary flavours: latent weights clipped to
    [-1, 1] after every step (``clip``), optional distillation from the float DNN
    (loss = (1 - a) CE + a T^2 KL(teacher_T || student_T)). Validation accuracy per epoch."""
    import torch
    import torch.nn.functional as F

    from snn.converters.binarized import _QuantisedWeights, clip_latent_weights
    from snn.distill import distillation_loss

    torch.manual_seed(seed)
    np.random.seed(seed)
    model = build(kind, arch).to(device)
    if init_scale != 1.0:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, _QuantisedWeights) and m.weights != "float":
                    m.weight.mul_(init_scale)
    use_kd = kd_alpha > 0 and kind != "dnn" and teacher is not None
    if use_kd:
        t_plain, t_flip = teacher_logits(teacher, xtr, device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    steps = epochs * (len(xtr) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    t0 = time.time()
    done = 0
    hist = []
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen).to(device)
        tot = 0.0
        for i in range(len(xtr) // batch):
            idx = perm[i * batch:(i + 1) * batch]
            xb, yb = xtr[idx], ytr[idx]
            flip = torch.rand(len(xb), generator=gen).to(device) < 0.5
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(-1), xb)
            out = model(xb)
            if use_kd:
                tl = torch.where(flip.view(-1, 1), t_flip[idx], t_plain[idx])
                loss = distillation_loss(out, yb, tl, kd_alpha, kd_temp)
            else:
                loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if clip and kind != "dnn":
                clip_latent_weights(model)
            tot += float(loss.detach())
        done = ep + 1
        acc = evaluate(model, xval, yval) if len(xval) else float("nan")
        hist.append(round(acc, 4))
        print(f"[{kind}/{arch}] epoch {done}/{epochs} loss {tot / (i + 1):.4f} "
              f"val {acc:.4f} ({time.time() - t0:.0f}s)", flush=True)
        if time.time() - t0 > time_budget:
            print(f"[{kind}/{arch}] time budget reached after {done} epochs", flush=True)
            break
    info = {"kind": kind, "arch": arch, "epochs": done, "epochs_planned": epochs,
            "train_s": round(time.time() - t0, 1), "seed": seed, "lr": lr, "batch": batch,
            "n_train": len(xtr), "n_val": len(xval), "val_acc": hist,
            "clip_latent": bool(clip and kind != "dnn"), "init_scale": init_scale, "wd": wd,
            "distill": ({"teacher": Path(teacher).name, "alpha": kd_alpha, "temp": kd_temp}
                        if use_kd else None)}
    return model, info


def test_accuracy(model, kind: str, xte, yte) -> dict:
    """Test accuracy, measured once on the final model (BSNN: the frozen integer model)."""
    import torch

    from snn.converters.binarized import predict

    res = {"test_acc_float_bn": evaluate(model, xte, yte)}
    if kind == "bsnn":
        model.freeze()
        with torch.no_grad():
            preds = torch.cat([predict(model.integer_forward(xte[i:i + 1000])[0])
                               for i in range(0, len(xte), 1000)])
        res["test_acc_integer"] = float((preds == yte).float().mean())
    res["test_acc"] = res.get("test_acc_integer", res["test_acc_float_bn"])
    return res


def evaluate(model, x, y) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
                      for i in range(0, len(x), 1000))
    model.train()
    return correct / len(x)


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from snn.converters.binarized_export import export_frame

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)  # 1 is far faster on a shared, loaded CPU
    xtr, ytr = load_fashion(args.data_dir, "train")
    xte, yte = load_fashion(args.data_dir, "test")
    # validation = the last args.val training images (every choice is made on it)
    n_fit = len(xtr) - args.val
    xval, yval = xtr[n_fit:], ytr[n_fit:]
    xtr, ytr = xtr[:n_fit], ytr[:n_fit]
    if args.train_limit:
        xtr, ytr = xtr[:args.train_limit], ytr[:args.train_limit]
    to = lambda a, dt: torch.as_tensor(np.array(a)).to(device=device, dtype=dt)  # noqa: E731
    xtr_t, ytr_t = to(xtr, torch.float32), to(ytr, torch.int64)
    xval_t, yval_t = to(xval, torch.float32), to(yval, torch.int64)
    xte_t, yte_t = to(xte, torch.float32), to(yte, torch.int64)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / (args.log_name or f"fashion_{args.arch}_train_log.json")
    log = json.loads(log_path.read_text()) if log_path.exists() and args.append_log else {}
    log.update({"device": device, "torch": torch.__version__})
    log.setdefault("models", [])
    if device == "cuda":
        log["gpu"] = torch.cuda.get_device_name(0)
    teacher = Path(args.teacher) if args.teacher else None
    for arch in args.arch.split(","):
        for kind in args.kinds.split(","):
            model, info = train_one(kind, arch, xtr_t, ytr_t, xval_t, yval_t, args.epochs,
                                    args.seed, device, args.lr, args.batch, args.time_budget,
                                    clip=not args.no_clip, teacher=teacher,
                                    kd_alpha=args.kd_alpha, kd_temp=args.kd_temp,
                                    init_scale=args.init_scale, wd=args.wd)
            info["threads"] = torch.get_num_threads()
            if not args.no_test:
                info.update(test_accuracy(model, kind, xte_t, yte_t))
                print(f"[{kind}/{arch}] test {info['test_acc']:.4f}", flush=True)
            log["models"] = [m for m in log["models"]
                             if (m["kind"], m["arch"]) != (kind, arch)] + [info]
            _atomic_text(log_path, json.dumps(log, indent=1))
            if args.no_save:
                continue
            stem = out / f"fashion_{arch}_{kind}"
            torch.save({"arch": arch, "kind": kind, "levels": LEVELS, "info": info,
                        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}},
                       str(stem) + ".pt")
            if kind == "bsnn":
                export_frame(model.cpu()).save(str(stem) + ".npz")
    return 0


def cmd_cores(args: argparse.Namespace) -> int:
    import torch

    from snn.converters.binarized import predict
    from snn.converters.binarized_export import export_frame
    from snn.cores.compiler.binarized_map import (
        compile_binarized,
        decode_scores,
        frame_inputs,
        thermometer_encode,
    )
    from snn.cores.engine import run

    models = Path(args.models)
    arch = args.arch.split(",")[0]
    xte, yte = load_fashion(args.data_dir, "test")
    if args.limit:
        xte, yte = xte[:args.limit], yte[:args.limit]
    rows = training_rows(models, arch, args.dnn_arch, args.bnn_arch)
    bsnn_path = models / f"fashion_{arch}_bsnn.pt"
    if not bsnn_path.exists():
        print(f"no {bsnn_path}: run `train` first", file=sys.stderr)
        return 2
    model = build("bsnn", arch)
    model.freeze()  # create frozen buffers, then load the trained ones
    model.load_state_dict(torch.load(bsnn_path, map_location="cpu",
                                     weights_only=False)["state_dict"])
    model.eval()
    xt = torch.as_tensor(np.ascontiguousarray(xte), dtype=torch.float32)
    with torch.no_grad():
        tscores = torch.cat([model.integer_forward(xt[i:i + 1000])[0]
                             for i in range(0, len(xt), 1000)]).numpy().astype(np.int64)
    tpred = predict(torch.as_tensor(tscores)).numpy()
    net = export_frame(model)
    t0 = time.time()
    prog = compile_binarized(net, readout_ticks=args.readout_ticks)
    compile_s = time.time() - t0
    ticks = int(prog.extras["latency_ticks"])
    f_total = int(net.layers[-1].weight.shape[1]) * int(net.meta.get("readout_pop", 1))
    bits = thermometer_encode(xte, LEVELS)
    counters: dict[str, int] = {}
    cpred = np.zeros(len(xte), np.int64)
    exact_scores = True
    wall = 0.0
    for s in range(0, len(xte), args.batch):
        inp = frame_inputs(prog, bits[s:s + args.batch])
        r = run(prog, ticks, inp)
        wall += r.wall_s
        cpred[s:s + args.batch] = decode_scores(r.outputs)
        exact_scores &= bool(np.array_equal(r.outputs, tscores[s:s + args.batch] + f_total))
        for k, v in r.counters.items():
            counters[k] = counters.get(k, 0) + int(v.sum())
        print(f"cores: {s + len(inp.offsets) - 1}/{len(xte)} frames, acc so far "
              f"{(cpred[:s + args.batch] == yte[:s + args.batch]).mean():.4f}", flush=True)
    n = len(xte)
    per_frame = {k: v / n for k, v in counters.items()}
    # bit-for-bit check of every neuron's spikes on a slice of the test set
    exact_spikes = check_spikes(model, prog, xte[:args.spike_check], bits[:args.spike_check])
    energy = None
    try:
        from snn.cores.hardware.energy import EnergyModel

        em = EnergyModel.preset("truenorth")
        e = em.evaluate(counters, ticks=ticks, n_cores=prog.n_cores, n_frames=n)
        energy = e.to_dict()
    except Exception as exc:  # noqa: BLE001 - energy model is another helper's piece
        energy = {"error": f"{type(exc).__name__}: {exc}"}
    result = {
        "dataset": "fashion-mnist test (10k)" if n == 10000 else f"fashion-mnist test[:{n}]",
        "arch": arch, "architecture": [list(a) for a in ARCHS[arch]],
        "thermometer_levels": LEVELS,
        "accuracy": {k: rows[k]["test_acc"] for k in rows},
        "training": rows,
        "cores": {
            "accuracy_torch_integer": float((tpred == yte).mean()),
            "accuracy_cores": float((cpred == yte).mean()),
            "predictions_equal": bool(np.array_equal(cpred, tpred)),
            "readout_counts_equal_torch_scores": exact_scores,
            "spikes_bit_exact_frames_checked": exact_spikes,
            "n_cores": prog.n_cores,
            "cores_per_layer": np.bincount(prog.extras["core_layer"]).tolist(),
            "ticks_per_frame": ticks, "readout_ticks": args.readout_ticks,
            "per_frame": per_frame, "engine_wall_s": round(wall, 1),
            "compile_s": round(compile_s, 1),
            "energy": energy,
        },
    }
    res_dir = Path(args.results)
    write_results(res_dir / "binarized_fashion", result)
    if args.save_program:
        prog.save(Path(args.models) / f"fashion_{arch}_bsnn_cores.npz")
    print(json.dumps(result["cores"], indent=1, default=str))
    return 0


def training_rows(models: Path, arch: str, dnn_arch: str | None = None,
                  bnn_arch: str | None = None) -> dict:
    """Training records of the dnn / bnn / bsnn of ``arch`` found under ``models`` (the dnn
    from ``dnn_arch``, the bnn from ``bnn_arch`` when given; the table names each file)."""
    import torch

    rows = {}
    for kind in ("dnn", "bnn", "bsnn"):
        a = {"dnn": dnn_arch, "bnn": bnn_arch}.get(kind) or arch
        p = models / f"fashion_{a}_{kind}.pt"
        if p.exists():
            rows[kind] = torch.load(p, map_location="cpu", weights_only=False)["info"]
            rows[kind]["file"] = p.name
    return rows


def cmd_table(args: argparse.Namespace) -> int:
    """Refresh the training rows of the results (e.g. after training one more flavour) without
    re-running the engine."""
    stem = Path(args.results) / "binarized_fashion"
    result = json.loads(stem.with_suffix(".json").read_text())
    rows = training_rows(Path(args.models), result["arch"], args.dnn_arch, args.bnn_arch)
    result["training"] = rows
    result["accuracy"] = {k: rows[k]["test_acc"] for k in rows}
    write_results(stem, result)
    print(to_markdown(result))
    return 0


def check_spikes(model, prog, images: np.ndarray, bits: np.ndarray) -> int:
    """Compare every neuron's spike (count and tick) on cores with torch; returns frames
    checked (raises AssertionError on the first difference)."""
    import torch

    from snn.cores.compiler.binarized_map import frame_inputs
    from snn.cores.engine import run

    if len(images) == 0:
        return 0
    with torch.no_grad():
        _, spikes = model.integer_forward(torch.as_tensor(np.ascontiguousarray(images),
                                                          dtype=torch.float32))
    r = run(prog, int(prog.extras["latency_ticks"]), frame_inputs(prog, bits), record="full")
    nl, ne = prog.extras["neuron_layer"], prog.extras["neuron_element"]
    for b in range(len(images)):
        sp = r.spikes[b]
        want_t, want_c, want_n = [], [], []
        for li, s in enumerate(spikes):
            flat = s[b].reshape(-1).numpy() > 0
            c, n = np.nonzero(nl == li)
            fire = flat[ne[c, n]]
            want_c.append(c[fire])
            want_n.append(n[fire])
            want_t.append(np.full(fire.sum(), li))
        got = sp[(nl[sp[:, 1], sp[:, 2]] >= 0) & (nl[sp[:, 1], sp[:, 2]] < len(spikes))]
        want = np.stack([np.concatenate(want_t), np.concatenate(want_c),
                         np.concatenate(want_n)], 1)
        want = want[np.lexsort((want[:, 2], want[:, 1], want[:, 0]))]
        assert np.array_equal(got, want), f"frame {b}: spikes on cores differ from torch"
    return len(images)


def write_results(stem: Path, result: dict) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    _atomic_text(stem.with_suffix(".json"), json.dumps(result, indent=1, default=float))
    _atomic_text(stem.with_suffix(".md"), to_markdown(result))


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def to_markdown(r: dict) -> str:
    c = r["cores"]
    pf = c["per_frame"]
    lines = [f"# Binarized networks on Fashion-MNIST ({r['dataset']})", "",
             f"Architecture `{r['arch']}`: {r['architecture']}; thermometer input levels "
             f"{r['thermometer_levels']}.", "",
             "| model | weights | activations | test accuracy | val accuracy | epochs | "
             "train images | recipe | weights file |",
             "|---|---|---|---|---|---|---|---|---|"]
    desc = {"dnn": ("float", "ReLU"), "bnn": ("binary +-1", "sign +-1"),
            "bsnn": ("binary +-1", "spikes {0,1}")}
    for k in ("dnn", "bnn", "bsnn"):
        if k in r["training"]:
            t = r["training"][k]
            val = (f"{100 * t['val_acc'][-1]:.2f}%" if t.get("val_acc") and t.get("n_val", 1)
                   else "- (no held-back split)")
            lines.append(f"| {k.upper()} | {desc[k][0]} | {desc[k][1]} | "
                         f"{100 * t['test_acc']:.2f}% | {val} | {t['epochs']} | "
                         f"{t.get('n_train', 60000)} | {_recipe(t)} | {t.get('file', '')} |")
    for k in ("dnn", "bnn", "bsnn"):
        t = r["training"].get(k)
        if t and t.get("arch", r["arch"]) != r["arch"]:
            lines.append(f"\n{k.upper()} row: architecture `{t['arch']}` "
                         f"({ARCHS.get(t['arch'], '?')}), not `{r['arch']}`.")
    e = c.get("energy") or {}
    lines += ["", "## BSNN on cores (engine, exact integers)", "",
              "| quantity | value |", "|---|---|",
              f"| accuracy, torch integer model | {100 * c['accuracy_torch_integer']:.2f}% |",
              f"| accuracy, cores | {100 * c['accuracy_cores']:.2f}% |",
              f"| predictions identical | {c['predictions_equal']} |",
              f"| readout counts = torch scores + P*F, every frame | "
              f"{c['readout_counts_equal_torch_scores']} |",
              f"| frames with every spike checked bit for bit | "
              f"{c['spikes_bit_exact_frames_checked']} |",
              f"| cores (per layer) | {c['n_cores']} ({c['cores_per_layer']}) |",
              f"| ticks per frame | {c['ticks_per_frame']} |",
              f"| SOPs per frame | {pf.get('sops', 0):.0f} |",
              f"| spikes per frame | {pf.get('spikes', 0):.0f} |",
              f"| hops per frame | {pf.get('hops', 0):.0f} |",
              f"| input events per frame | {pf.get('input_events', 0):.0f} |"]
    for key in ("energy_per_frame_j", "j_per_frame", "frames_per_s_per_w", "power_w",
                "gsops_per_s_per_w", "total_j"):
        if key in e:
            lines.append(f"| {key} | {e[key]:.4g} |")
    if "error" in e:
        lines.append(f"| energy | not available: {e['error']} |")
    other = " ".join(f"--{k}-arch {t['arch']}" for k, t in r["training"].items()
                     if k != "bsnn" and t.get("arch", r["arch"]) != r["arch"])
    cmd = f"python benchmarks/train_binarized_fashion.py cores --arch {r['arch']} {other}"
    lines += ["", f"Produced by `{cmd.strip()}`.", ""]
    return "\n".join(lines)


def _recipe(t: dict) -> str:
    parts = [f"Adam one-cycle lr {t['lr']}, batch {t['batch']}, flips"]
    if t.get("clip_latent"):
        parts.append("latent clip [-1,1]")
    if t.get("init_scale", 1.0) != 1.0:
        parts.append(f"latent init U(+-{t['init_scale']})")
    if t.get("distill"):
        d = t["distill"]
        parts.append(f"distilled from {d['teacher']} (alpha {d['alpha']}, T {d['temp']})")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--arch", default="A")
    t.add_argument("--kinds", default="dnn,bnn,bsnn")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--lr", type=float, default=5e-3)
    t.add_argument("--batch", type=int, default=256)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    t.add_argument("--data-dir", default=None)
    t.add_argument("--train-limit", type=int, default=0)
    t.add_argument("--time-budget", type=float, default=1e9, help="seconds per model")
    t.add_argument("--val", type=int, default=5000, help="last N training images: validation")
    t.add_argument("--no-clip", action="store_true", help="leave latent weights unclipped")
    t.add_argument("--teacher", default=None, help="float DNN .pt to distil from (bnn, bsnn)")
    t.add_argument("--kd-alpha", type=float, default=0.0)
    t.add_argument("--kd-temp", type=float, default=4.0)
    t.add_argument("--init-scale", type=float, default=1.0, help="latent weights U(-s, s)")
    t.add_argument("--wd", type=float, default=0.0, help="Adam weight decay")
    t.add_argument("--no-test", action="store_true", help="validation only (model selection)")
    t.add_argument("--no-save", action="store_true")
    t.add_argument("--log-name", default=None)
    t.add_argument("--append-log", action="store_true")
    t.add_argument("--out", default=str(ROOT / "benchmarks" / "models"))
    c = sub.add_parser("cores")
    c.add_argument("--arch", default="A")
    c.add_argument("--models", default=str(ROOT / "benchmarks" / "models"))
    c.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    c.add_argument("--data-dir", default=None)
    c.add_argument("--limit", type=int, default=0)
    c.add_argument("--batch", type=int, default=500)
    c.add_argument("--readout-ticks", type=int, default=16)
    c.add_argument("--spike-check", type=int, default=100)
    c.add_argument("--save-program", action="store_true")
    c.add_argument("--dnn-arch", default=None,
                   help="take the float DNN row from this arch (default: --arch)")
    c.add_argument("--bnn-arch", default=None,
                   help="take the BNN row from this arch (default: --arch)")
    tb = sub.add_parser("table", help="refresh the training rows of the results")
    tb.add_argument("--models", default=str(ROOT / "benchmarks" / "models"))
    tb.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    tb.add_argument("--dnn-arch", default=None)
    tb.add_argument("--bnn-arch", default=None)
    args = ap.parse_args(argv)
    return {"train": cmd_train, "cores": cmd_cores, "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
