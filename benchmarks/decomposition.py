"""Accuracy decomposition: ANN -> ideal SNN (float) -> quantised SNN -> on cores.

One table per model, every row on the same held-out images:

1. ANN: the source model (onnxruntime / torch).
2. ideal SNN, float: ``snn.simulate`` on the converted network (its own encoding).
3. ideal SNN, float, rate code: the same with the deterministic rate code the cores get.
   Networks with max pooling add "max-pool tree": the same with each max pool replaced by
   the IF-neuron tree the cores run (``simulate(..., maxpool="tree")``, ``snn.maxpool``).
4. quantised SNN: ``snn.simulate`` on the integer network ``compile`` produced (weights
   s*q, thresholds and leaks in units), rate code.
5. on cores: ``snn.cores.evaluate.evaluate_program`` (engine, with splits, relays, copies
   and delays). Relays of split layers are calibrated on the first ``RELAY_CALIB`` frames
   of the converter's calibration set (``calibration_frames``), never on held-out ones.

SNN rows decode by the readout's integrated input (``potential``), as the cores do; the
float row also reports the converter's spike-count decode. Also usable as a function:
``decompose(...)``. Writes benchmarks/results/decomposition.{json,md} (one entry per model,
merged) and, from the same core run, benchmarks/results/cores.{json,md} via
``benchmarks.cores``.

Usage: python benchmarks/decomposition.py --model mlp|fashion|fashion_max|fashion_resnet|mnist_max
    [--frames N]
    [--ticks 100 200] [--core-ticks T] [--v-init 0.5] [--first 1000] [--relay-phases 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT / ".." / "shared" / "data"
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

MODELS = {
    # calibration and held-out frames as in benchmarks/conversion.py
    "mlp": {"path": DATA / "models" / "keras_mlp_mnist.onnx", "data": "mnist",
            "data_dir": DATA / "mnist", "pixel_scale": 1.0, "calib": (0, 500)},
    "fashion": {"path": HERE / "models" / "fashion_cnn_avg.pt", "data": "fashion-mnist",
                "data_dir": None, "pixel_scale": 1 / 255, "calib": (0, 500),
                "calib_split": "train"},
    # max pooling: on cores as the IF-neuron tree of pairwise maxima (snn.maxpool)
    "fashion_max": {"path": HERE / "models" / "fashion_cnn_max.pt", "data": "fashion-mnist",
                    "data_dir": None, "pixel_scale": 1 / 255, "calib": (0, 500),
                    "calib_split": "train"},
    # residual network (identity and 1x1 projection shortcuts), ONNX
    "fashion_resnet": {"path": HERE / "models" / "fashion_resnet8.onnx",
                       "data": "fashion-mnist", "data_dir": None, "pixel_scale": 1 / 255,
                       "calib": (0, 500), "calib_split": "train"},
    # max-pool CNN with raw 0..255 input, trained on MNIST test frames 0..7999: calibrate on
    # (training) frames 0..499, evaluate on the held-out frames 8000..9999
    "mnist_max": {"path": HERE / "models" / "mnist_maxpool_cnn.onnx", "data": "mnist",
                  "data_dir": DATA / "mnist", "pixel_scale": 1.0, "calib": (0, 500),
                  "held_out": (8000, 10000),
                  "note": "MNIST test frames from 8000 (the ANN trained on test frames "
                          "0..7999: no MNIST training images here; calibration 0..499)"},
}


def _readout_values(comp, sim) -> np.ndarray:
    """[K, B, classes] potentials of the quantised network in model units."""
    lq = comp.quants[comp.quantised.layers[-1].name]
    return sim.potential * (lq.delta / lq.s)[None, None, :]


def decompose(net, images: np.ndarray, labels: np.ndarray, ticks: list[int], *,
              ann_scores: np.ndarray | None = None, spec=None, weight_bits: int | None = None,
              core_ticks: list[int] | None = None, progress: bool = True,
              calibration: np.ndarray | None = None, relays: str = "signed",
              relay_phases: int = 1) -> dict:
    """The decomposition rows for a converted network on held-out images.

    ann_scores: the ANN's class scores on ``images`` (None: no ANN row). core_ticks: tick
    counts run on the engine (default: the largest of ``ticks``). calibration, relays:
    passed to ``compile_network`` (frames that fit the split layers' relays).
    """
    from snn.cores.compiler import compile_network
    from snn.cores.compiler.io import layer_table
    from snn.cores.evaluate import evaluate_program
    from snn.simulate import simulate

    rows = []
    labels = np.asarray(labels)
    if ann_scores is not None:
        rows.append({"stage": "ANN", "accuracy": float((ann_scores.argmax(1) == labels).mean())})
    enc = net.meta.get("encoding", "current")
    t0 = time.perf_counter()
    sf = simulate(net, images, ticks, encoding=enc, progress=progress)
    rows.append({"stage": f"ideal SNN, float ({enc})", "ticks": ticks,
                 "accuracy": sf.accuracy(labels, "potential"),
                 "accuracy_count_decode": sf.accuracy(labels, "count"),
                 "sops_per_frame": sf.sops_per_frame(), "wall_s": time.perf_counter() - t0})
    if enc != "rate":
        t0 = time.perf_counter()
        sr = simulate(net, images, ticks, encoding="rate", progress=progress)
        rows.append({"stage": "ideal SNN, float (rate)", "ticks": ticks,
                     "accuracy": sr.accuracy(labels, "potential"),
                     "sops_per_frame": sr.sops_per_frame(), "wall_s": time.perf_counter() - t0})
    if any(getattr(layer, "mode", None) == "max" for layer in net.layers):
        t0 = time.perf_counter()
        st = simulate(net, images, ticks, encoding="rate", progress=progress, maxpool="tree")
        rows.append({"stage": "ideal SNN, float, max-pool tree (rate)", "ticks": ticks,
                     "accuracy": st.accuracy(labels, "potential"),
                     "sops_per_frame": st.sops_per_frame(), "wall_s": time.perf_counter() - t0})
    t0 = time.perf_counter()
    comp = compile_network(net, spec, weight_bits=weight_bits, calibration=calibration,
                           relays=relays, relay_phases=relay_phases)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sq = simulate(comp.quantised, images, ticks, encoding="rate", progress=progress)
    vals = _readout_values(comp, sq)
    rows.append({"stage": f"quantised SNN ({comp.weight_bits}-bit, rate)", "ticks": ticks,
                 "accuracy": {t: float((vals[k].argmax(1) == labels).mean())
                              for k, t in enumerate(sq.ticks)},
                 "sops_per_frame": sq.sops_per_frame(), "wall_s": time.perf_counter() - t0})
    cts = core_ticks or [max(ticks)]
    ev = evaluate_program(comp.program, images, labels, cts, progress=progress)
    row = {"stage": "on cores (engine)", "ticks": cts, "accuracy": ev["accuracy"],
           "core_ticks": ev["core_ticks"], "sops_per_frame": ev["sops_per_frame"],
           "wall_s": ev["wall_s"]}
    if "energy" in ev:
        row["energy_j_per_frame"] = {t: e.get("j_per_frame", e.get("joules"))
                                     for t, e in ev["energy"].items()}
    rows.append(row)
    split = any(s.role_cores.get("sum", 0) for s in comp.stats)  # relays: block codebooks
    return {"frames": int(len(labels)), "weight_bits": comp.weight_bits, "relays": relays,
            "block_codebooks": split,
            "relay_calibration_frames": 0 if calibration is None else int(len(calibration)),
            "cores": comp.program.n_cores, "compile_s": compile_s,
            "latency_ticks": int(comp.program.extras["latency_ticks"]), "rows": rows,
            "layers": layer_table(comp.program), "eval": ev, "program": comp.program}


def to_markdown(name: str, res: dict) -> str:
    ts = sorted({int(t) for r in res["rows"] if isinstance(r["accuracy"], dict)
                 for t in r["accuracy"]})
    head = "| stage | " + " | ".join(f"acc T={t}" for t in ts) + " | SOPs/frame (T max) | " \
           "energy/frame |"
    rel = (f", {res['relays']} relays calibrated on {res['relay_calibration_frames']} "
           "calibration frames" if res.get("relay_calibration_frames") else "")
    if res.get("v_init"):
        rel += f", initial membrane {res['v_init']:g} x threshold"
    if res.get("block_codebooks"):
        rel += ", per-block codebooks (the quantised SNN row keeps the per-channel code)"
    first = res.get("first_frame", 0)
    span = f" (from held-out frame {first})" if first else ""
    if res.get("note"):
        span += f" ({res['note']})"
    lines = [f"### {name}: {res['frames']} held-out frames{span}, {res['cores']} cores, "
             f"{res['weight_bits']}-bit weights, latency {res['latency_ticks']} ticks{rel}", "",
             head, "|" + "---|" * (len(ts) + 3)]
    for r in res["rows"]:
        acc = r["accuracy"]
        if isinstance(acc, float):
            cells = [f"{100 * acc:.2f}%"] * 1 + ["(ANN)"] * (len(ts) - 1)
            sops = en = ""
        else:
            a = {int(k): v for k, v in acc.items()}
            cells = [f"{100 * a[t]:.2f}%" if t in a else "" for t in ts]
            sp = {int(k): v for k, v in r.get("sops_per_frame", {}).items()}
            sops = f"{sp[max(sp)]:.3g}" if sp else ""
            e = {int(k): v for k, v in r.get("energy_j_per_frame", {}).items()}
            en = f"{e[max(e)]:.3g} J" if e else ""
        lines.append(f"| {r['stage']} | " + " | ".join(cells) + f" | {sops} | {en} |")
    return "\n".join(lines) + "\n"


RELAY_CALIB = 16  # calibration frames for the relays of split layers


def calibration_frames(name: str, n: int = RELAY_CALIB) -> np.ndarray:
    """The first ``n`` frames of the converter's calibration set of a model of MODELS
    (disjoint from the held-out frames): what ``compile_network(calibration=...)`` gets."""
    from snn.datasets import load
    m = MODELS[name]
    a, b = m["calib"]
    x = load(m["data"], m["data_dir"], m.get("calib_split", "test"))[0]
    return x[a:min(b, a + n)]


def load_model_data(name: str, frames: int | None, v_init: float = 0.0, first: int = 0):
    """(network, held-out images, labels, ANN scores) for a model of MODELS; ``v_init``: the
    converter's initial membrane (a fraction of the threshold; on cores ``v_initial``);
    ``first``: the first held-out frame used."""
    from snn.converters import ann_predict, convert
    from snn.datasets import load
    m = MODELS[name]
    if not Path(m["path"]).exists():
        raise SystemExit(f"{m['path']} is missing (train/convert it first)")
    x, y = load(m["data"], m["data_dir"], "test")
    a, b = m["calib"]
    if m.get("calib_split") == "train":  # calibrate on train[a:b], evaluate on all of test
        xc = load(m["data"], m["data_dir"], "train")[0][a:b]
        xs, ys = x, y
    elif "held_out" in m:  # calibrate on test[a:b], evaluate on test[held_out]
        h0, h1 = m["held_out"]
        xc, xs, ys = x[a:b], x[h0:h1], y[h0:h1]
    else:  # calibrate on test[a:b], evaluate on the rest of test
        xc, xs, ys = x[a:b], x[b:], y[b:]
    net = convert(str(m["path"]), xc, pixel_scale=m["pixel_scale"], v_init=v_init)
    xs, ys = xs[first:], ys[first:]
    if frames:
        xs, ys = xs[:frames], ys[:frames]
    ann = ann_predict(str(m["path"]), xs, pixel_scale=m["pixel_scale"])
    return net, xs, ys, ann


def _merge_write(path_json: Path, key: str, value: dict, md_path: Path, md_fn) -> None:
    """Merge ``value`` under ``key`` into a JSON results file and rewrite its Markdown,
    atomically (temp file + rename)."""
    data = json.loads(path_json.read_text()) if path_json.exists() else {}
    data[key] = json.loads(json.dumps(value, default=_default))
    tmpj = path_json.with_suffix(".json.tmp")
    tmpj.write_text(json.dumps(data, indent=1))
    tmpj.replace(path_json)
    text = "\n".join(md_fn(k, v) for k, v in sorted(data.items()))
    tmp = md_path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(md_path)


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(type(obj).__name__)


def _jsonable(res: dict) -> dict:
    return {k: v for k, v in res.items() if k not in ("program",)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), required=True)
    ap.add_argument("--frames", type=int, default=None, help="held-out frames (default all)")
    ap.add_argument("--ticks", type=int, nargs="+", default=[50, 100, 200])
    ap.add_argument("--core-ticks", type=int, nargs="+", default=None)
    ap.add_argument("--weight-bits", type=int, default=None)
    ap.add_argument("--relays", choices=["signed", "biased"], default="signed")
    ap.add_argument("--first", type=int, default=0,
                    help="first held-out frame (results under MODEL_from<first>)")
    ap.add_argument("--v-init", type=float, default=0.0,
                    help="initial membrane, a fraction of the threshold (results under "
                         "MODEL_v<value>)")
    ap.add_argument("--relay-phases", type=int, default=1,
                    help="relays per input block of a split layer (compile's relay_phases)")
    ap.add_argument("--relay-calib", type=int, default=RELAY_CALIB,
                    help="calibration frames for the relays (0: data-free relays)")
    args = ap.parse_args(argv)
    from cores_accuracy import cores_markdown, cores_row
    net, xs, ys, ann = load_model_data(args.model, args.frames, args.v_init, args.first)
    key = (args.model + (f"_v{args.v_init:g}" if args.v_init else "")
           + (f"_from{args.first}" if args.first else "")
           + (f"_p{args.relay_phases}" if args.relay_phases != 1 else ""))
    xc = calibration_frames(args.model, args.relay_calib) if args.relay_calib else None
    res = decompose(net, xs, ys, args.ticks, ann_scores=ann, weight_bits=args.weight_bits,
                    core_ticks=args.core_ticks, calibration=xc, relays=args.relays,
                    relay_phases=args.relay_phases)
    RESULTS.mkdir(parents=True, exist_ok=True)
    res["v_init"] = args.v_init
    res["first_frame"] = args.first
    res["relay_phases"] = args.relay_phases
    if MODELS[args.model].get("note"):
        res["note"] = MODELS[args.model]["note"]
    _merge_write(RESULTS / "decomposition.json", key, _jsonable(res),
                 RESULTS / "decomposition.md", to_markdown)
    crow = cores_row(res["program"], res["eval"], res["frames"])
    _merge_write(RESULTS / "cores.json", key, crow, RESULTS / "cores.md",
                 cores_markdown)
    print(to_markdown(key, res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
