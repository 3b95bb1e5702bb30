"""Conversion benchmark: ANN vs converted SNN (ideal simulator), accuracy vs ticks.

Models:
- ``keras_mlp``: ../shared/data/models/keras_mlp_mnist.onnx (raw pixels, pixel_scale 1),
  calibrated on MNIST test[0:500], evaluated on test[500:10000].
- ``fashion_cnn_avg`` / ``fashion_cnn_max``: benchmarks/models/fashion_cnn_{avg,max}.pt
  (written by benchmarks/train_fashion_cnn.py; pixel_scale 1/255), calibrated on
  Fashion-MNIST train[0:500], evaluated on the test split (``--frames`` of it).

For each model and variant: accuracy at each tick count (spike-count and potential
decoding), the ANN's accuracy on the same frames, SOPs and spikes per frame, wall time per
1000 frames (ideal simulator, this machine). sinabs and SpikingJelly are not installed here
(their torchvision pins conflict with torch 2.13), so their rows say so; the Keras MLP's
table also carries the best of the two per T as issue 17 measured them elsewhere on the
same frames (labelled as such). The ``default`` variant is ``convert()`` as shipped; the
others pin what they change (the old default: layer-wise normalisation, v_init 0).

Writes benchmarks/results/conversion.json and conversion.md (atomically).
Usage: ``python benchmarks/conversion.py [--models keras_mlp,fashion_cnn_avg,...]
[--frames N] [--ticks 8,16,...]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from snn.converters import ann_predict, convert
from snn.datasets import DEFAULT_DIRS, load
from snn.fileio import atomic_write_text
from snn.simulate import simulate

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO / ".." / "shared" / "data"
RESULTS = HERE / "results"
TICKS = [8, 16, 32, 64, 128, 256]
OTHERS = {"sinabs": "not installed (torchvision pin conflicts with torch 2.13)",
          "spikingjelly": "not installed (torchvision pin conflicts with torch 2.13)"}

# "default": convert() as it is today (channel-wise "dense" normalisation, v_init 0.5, current
# input, potential decoding); every other variant pins what it changes from it.
OLD_DEFAULT = {"channel_wise": False, "v_init": 0.0}
VARIANTS = {
    "keras_mlp": [
        {"name": "default", "convert": {}, "encoding": "current"},
        {"name": "old default (layer-wise, v_init 0)", "convert": OLD_DEFAULT,
         "encoding": "current"},
        {"name": "layer-wise, v_init 0.5", "convert": {"channel_wise": False, "v_init": 0.5},
         "encoding": "current"},
        {"name": "default, rate input", "convert": {}, "encoding": "rate"},
    ],
    "fashion_cnn_avg": [
        {"name": "default", "convert": {}, "encoding": "current"},
        {"name": "old default (layer-wise, v_init 0)", "convert": OLD_DEFAULT,
         "encoding": "current"},
        {"name": "layer-wise, v_init 0.5", "convert": {"channel_wise": False, "v_init": 0.5},
         "encoding": "current"},
        {"name": "channel-wise (every conv channel), v_init 0.5",
         "convert": {"channel_wise": True, "v_init": 0.5}, "encoding": "current"},
    ],
    "fashion_cnn_max": [
        {"name": "default (gated max)", "convert": {}, "encoding": "current"},
        {"name": "old default (layer-wise, v_init 0)", "convert": OLD_DEFAULT,
         "encoding": "current"},
        {"name": "max-pool tree (as on cores)", "convert": {}, "encoding": "current",
         "simulate": {"maxpool": "tree"}},
        {"name": "max->avg (changes model)", "convert": {"maxpool": "avg"},
         "encoding": "current"},
    ],
}
# peers measured outside this benchmark (they do not install beside torch 2.13 here): the
# best of sinabs and SpikingJelly per T on the same frames, as issue 17 reports them
REPORTED = {
    "keras_mlp": {"best of sinabs / SpikingJelly (issue 17's measurement, same frames)": {
        "frames": 9500, "accuracy": {"8": 0.9672, "16": 0.9781, "32": 0.9796, "64": 0.9807}}},
}


def model_setup(name: str, frames: int | None) -> dict:
    if name == "keras_mlp":
        x, y = load("mnist", DATA / "mnist")
        stop = 10000 if frames is None else min(10000, 500 + frames)
        return {"path": DATA / "models" / "keras_mlp_mnist.onnx", "pixel_scale": 1.0,
                "calib": x[:500], "x": x[500:stop], "y": y[500:stop],
                "calibration": "mnist test[0:500]", "evaluation": f"mnist test[500:{stop}]"}
    pool = name.rsplit("_", 1)[1]
    xtr, _ = load("fashion-mnist", DEFAULT_DIRS["fashion-mnist"], "train")
    x, y = load("fashion-mnist", DEFAULT_DIRS["fashion-mnist"], "test")
    stop = len(x) if frames is None else min(len(x), frames)
    return {"path": HERE / "models" / f"fashion_cnn_{pool}.pt", "pixel_scale": 1 / 255,
            "calib": xtr[:500], "x": x[:stop], "y": y[:stop],
            "calibration": "fashion-mnist train[0:500]",
            "evaluation": f"fashion-mnist test[0:{stop}]"}


def run_model(name: str, ticks: list[int], frames: int | None, batch: int,
              variants: list[str] | None = None, save=None, command: str = "") -> dict:
    s = model_setup(name, frames)
    ann = ann_predict(s["path"], s["x"], pixel_scale=s["pixel_scale"]).argmax(1)
    out = {"model": ("../shared/data/models/" + Path(s["path"]).name) if "shared" in str(
               s["path"]) else str(Path(s["path"]).relative_to(REPO)),
           "calibration": s["calibration"], "evaluation": s["evaluation"],
           "frames": int(len(s["y"])), "ann_accuracy": float((ann == s["y"]).mean()),
           "variants": [], "others": OTHERS}
    for v in VARIANTS[name]:
        if variants and v["name"] not in variants:
            continue
        net = convert(s["path"], s["calib"], pixel_scale=s["pixel_scale"], **v["convert"])
        correct = {"count": np.zeros(len(ticks)), "potential": np.zeros(len(ticks))}
        sops = np.zeros(len(ticks))
        spikes = np.zeros(len(ticks))
        t0 = time.perf_counter()
        for a in range(0, len(s["x"]), batch):
            res = simulate(net, s["x"][a:a + batch], ticks, encoding=v["encoding"],
                           first_frame=a, **v.get("simulate", {}))
            for d in correct:
                correct[d] += (res.predictions(d) == s["y"][a:a + batch][None]).sum(1)
            sops += res.total_sops().sum(1)
            spikes += res.total_spikes().sum(1)
        wall = time.perf_counter() - t0
        n = len(s["y"])
        row = {"variant": v["name"], "convert": v["convert"], "encoding": v["encoding"],
               "simulate": v.get("simulate", {}), "command": command,
               "accuracy_count": {str(t): correct["count"][k] / n for k, t in enumerate(ticks)},
               "accuracy_potential": {str(t): correct["potential"][k] / n
                                      for k, t in enumerate(ticks)},
               "sops_per_frame": {str(t): sops[k] / n for k, t in enumerate(ticks)},
               "spikes_per_frame": {str(t): spikes[k] / n for k, t in enumerate(ticks)},
               "wall_s_per_1000_frames": round(wall / n * 1000, 2),
               "max_ticks_simulated": max(ticks), "frames": int(n),
               "evaluation": s["evaluation"],
               "ann_accuracy_same_frames": float((ann == s["y"]).mean()),
               "layers": [f"{lay.name}:{lay.kind}{'' if lay.spiking else '(pass)'}"
                          for lay in net.layers]}
        out["variants"].append(row)
        if save is not None:
            save(out)
        print(f"{name} [{v['name']}] ANN {out['ann_accuracy']:.4f} "
              f"potential {row['accuracy_potential']} count {row['accuracy_count']} "
              f"({row['wall_s_per_1000_frames']} s/1000 frames)", flush=True)
    return out


DEC = {"potential": "pot", "count": "cnt"}


def merge_rows(previous: list[dict], new: list[dict], names: list[str]) -> list[dict]:
    """A model's rows after a run: the new ones, the previous ones of variants not rerun, in
    the order of ``names`` (the variants defined today; rows of dropped variants go)."""
    rows = {v["variant"]: v for v in previous} | {v["variant"]: v for v in new}
    return [rows[k] for k in names if k in rows]


def to_markdown(results: dict) -> str:
    lines = ["# Conversion benchmark: ANN -> SNN (ideal simulator)", "",
             f"Written by `python benchmarks/conversion.py` (each model's command below); "
             f"machine: {results['machine']}. `default` is `snn convert` / `convert()` as "
             "shipped (channel-wise normalisation of dense layers, one scale per convolution, "
             "v_init 0.5, current input, potential decoding); other rows change what they "
             "name.",
             "Accuracy in % on held-out frames; `pot` = decode by the readout's integrated "
             "potential (default), `cnt` = decode by readout spike count (ties -> lowest "
             "class). SOPs/frame at the largest tick count (with `current` input the first "
             "layer's nonzero analog inputs count as events). Wall time: ideal simulator, all "
             "tick counts in one run, per 1000 frames, on CPU cores shared with other jobs, so "
             "only a rough guide.", ""]
    for name, r in results["models"].items():
        ticks = sorted({t for v in r["variants"] for t in v["accuracy_potential"]}, key=int)
        lines += [f"## {name}", "",
                  f"Model `{r['model']}`; calibration {r['calibration']}; evaluation "
                  f"{r['evaluation']} ({r['frames']} frames); "
                  f"**ANN {100 * r['ann_accuracy']:.2f}%**. Command: "
                  + ", ".join(sorted({f"`{v['command']}`" for v in r["variants"]
                                      if v.get("command")})) + ".",
                  "", "| variant | decode | frames | ANN | " + " | ".join(f"T={t}" for t in ticks)
                  + " | SOPs/frame | s/1000 frames |",
                  "|---|---|---|---|" + "---|" * len(ticks) + "---|---|"]
        for v in r["variants"]:
            for d in ("potential", "count"):
                acc = v[f"accuracy_{d}"]
                ann = v.get("ann_accuracy_same_frames", r["ann_accuracy"])
                lines.append(f"| {v['variant']} ({v['encoding']}) | {DEC[d]} | "
                             f"{v.get('frames', r['frames'])} | {100 * ann:.2f} | "
                             + " | ".join(f"{100 * acc[t]:.2f}" if t in acc else "-"
                                          for t in ticks)
                             + f" | {v['sops_per_frame'][list(acc)[-1]]:.3g} | "
                             f"{v['wall_s_per_1000_frames']} |")
        for tool, rep in REPORTED.get(name, {}).items():
            acc = rep["accuracy"]
            lines.append(f"| {tool} | pot | {rep['frames']} | - | "
                         + " | ".join(f"{100 * acc[t]:.2f}" if t in acc else "-"
                                      for t in ticks) + " | - | - |")
        for tool, why in r["others"].items():
            lines.append(f"| {tool} | - | - | - | " + " | ".join("n/a" for _ in ticks)
                         + f" | {why} | |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="keras_mlp,fashion_cnn_avg,fashion_cnn_max")
    ap.add_argument("--ticks", default=",".join(map(str, TICKS)))
    ap.add_argument("--frames", type=int, default=None,
                    help="evaluate on this many frames (default: the whole split)")
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--variants", default=None,
                    help="comma-separated variant names to run (default: all)")
    ap.add_argument("--out", default=str(RESULTS / "conversion"))
    args = ap.parse_args()
    ticks = sorted(int(t) for t in args.ticks.split(","))
    out = Path(args.out)
    old = {}
    if out.with_suffix(".json").exists():
        old = json.loads(out.with_suffix(".json").read_text()).get("models", {})
    command = "python benchmarks/conversion.py " + " ".join(
        f"--{k} {v!r}" if k == "variants" else f"--{k} {v}"
        for k, v in vars(args).items() if v is not None and k not in ("out", "batch"))
    results = {"machine": f"{platform.machine()} {os.cpu_count()} CPUs (shared)",
               "ticks": ticks, "models": dict(old)}
    wanted = args.variants.split(",") if args.variants else None
    for name in args.models.split(","):
        previous = old.get(name, {}).get("variants", [])

        def save(res: dict, name: str = name, previous: list = previous) -> None:
            merged = dict(res)
            merged["variants"] = merge_rows(previous, res["variants"],
                                            [v["name"] for v in VARIANTS[name]])
            results["models"][name] = merged
            atomic_write_text(out.with_suffix(".json"), json.dumps(results, indent=2) + "\n")
            atomic_write_text(out.with_suffix(".md"), to_markdown(results))

        run_model(name, ticks, args.frames, args.batch, wanted, save, command)


if __name__ == "__main__":
    main()
