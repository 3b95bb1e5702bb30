"""``snn convert``: a trained ANN (.onnx, torch, Keras .h5/.keras) or an NIR graph (.nir) ->
spiking network (.npz)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from snn.datasets import NAMES, load, parse_range
from snn.errors import ConfigError

HELP = ("convert a trained ANN (.onnx, torch, Keras .h5/.keras) or an NIR graph (.nir) into a "
        "spiking network (.npz)")


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=".onnx file, a torch file written by torch.save(model), a "
                                 "Keras .h5/.keras file, or an NIR graph .nir (already spiking: "
                                 "no calibration data is read)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load a torch file holding any pickled module; this RUNS CODE from "
                        "the file, so only for files you trust (default: weights-only "
                        "loading, which reads tensors and stock torch layers only)")
    p.add_argument("--out", required=True, help="spiking network to write (.npz)")
    p.add_argument("--data", choices=NAMES, default="mnist", help="calibration dataset")
    p.add_argument("--data-dir", default=None,
                   help="dataset directory (default: the loader's standard location)")
    p.add_argument("--split", choices=["train", "test"], default="test")
    p.add_argument("--calib", default="0:500", help="range START:STOP of the split")
    p.add_argument("--calib-file", default=None,
                   help=".npy of raw 0..255 calibration frames [N, C, H, W] (instead of --data)")
    p.add_argument("--pixel-scale", type=float, default=1 / 255,
                   help="the model's input is pixel * S (default 1/255; raw-pixel models: 1)")
    p.add_argument("--normalisation", choices=["percentile", "max"], default="percentile")
    p.add_argument("--percentile", type=float, default=99.99)
    p.add_argument("--channel-wise", choices=["dense", "all", "none"], default="dense",
                   help="scales per neuron of dense layers (default), per channel everywhere "
                        "(all) or per layer (none); the readout keeps one scale")
    p.add_argument("--maxpool", choices=["gate", "avg"], default="gate",
                   help="max pooling: rate-gated spiking max (default) or replace by average")
    p.add_argument("--avgpool", choices=["spiking", "linear"], default="spiking")
    p.add_argument("--v-init", type=float, default=0.5,
                   help="initial membrane as a fraction of the threshold (default 0.5: halves "
                        "the rate code's rounding error; 0: the plain IF start; compile "
                        "carries it onto the cores)")
    p.add_argument("--input-layout", choices=["NCHW", "NHWC"], default=None)
    p.add_argument("--encoding", choices=["current", "rate", "poisson"], default="current",
                   help="default input encoding stored in the network")
    p.add_argument("--decode", choices=["count", "potential"], default="potential",
                   help="default decoding stored in the network")


def run(args: argparse.Namespace) -> int:
    from snn.converters import convert
    from snn.fileio import check_outputs

    check_outputs({"MODEL": args.model, "--calib-file": args.calib_file}, {"--out": args.out})

    calib_labels = None
    if Path(args.model).suffix.lower() == ".nir":
        calib = None
    elif args.calib_file:
        calib = _read_calib(args.calib_file)
    else:
        images, labels = load(args.data, args.data_dir, args.split)
        sl = parse_range(args.calib, len(images))
        calib, calib_labels = images[sl], labels[sl]
    net = convert(args.model, calib, pixel_scale=args.pixel_scale,
                  normalisation=args.normalisation, percentile=args.percentile,
                  channel_wise=args.channel_wise, maxpool=args.maxpool, avgpool=args.avgpool,
                  v_init=args.v_init, input_layout=args.input_layout, encoding=args.encoding,
                  decode=args.decode, trust_pickle=args.trust_pickle)
    net.meta["source"] = Path(args.model).name
    net.save(args.out)
    if calib_labels is not None:
        hint = pixel_scale_hint(args.model, calib, calib_labels, args.pixel_scale,
                                args.trust_pickle)
        if hint:
            print(f"snn convert: hint: {hint}", file=sys.stderr)
    shapes = net.shapes()
    how = "NIR graph (no calibration)" if calib is None else \
        f"calibrated on {len(calib)} frames"
    print(f"{args.model} -> {args.out}: {len(net.layers)} layers, input {net.input_shape}, "
          f"{net.n_classes} outputs, {how}")
    for note in net.meta.get("nir_approximations", []):
        print(f"  approximation: {note}")
    for layer in net.layers:
        kind = "IF" if layer.spiking else "pass"
        print(f"  {layer.name:<24} {layer.kind:<8} {kind:<4} {str(shapes[layer.name]):<16}")
    return 0


def pixel_scale_hint(model: str, images: np.ndarray, labels: np.ndarray, scale: float,
                     trust_pickle: bool = False, n: int = 200) -> str | None:
    """A hint when the ANN is near chance at ``scale`` but good at the other usual scale
    (raw pixels vs pixel / 255; Keras exports often take raw pixels), else None."""
    from snn.converters import ann_predict
    from snn.errors import SnnError

    x, y = images[:n], np.asarray(labels[:n])
    if not len(x):
        return None
    try:
        scores = ann_predict(model, x, pixel_scale=scale, trust_pickle=trust_pickle)
        acc = float((scores.argmax(1) == y).mean())
        chance = 1.0 / max(scores.shape[1], 2)
        if acc > 2 * chance:
            return None
        other = 1.0 if scale != 1.0 else 1 / 255
        acc2 = float((ann_predict(model, x, pixel_scale=other, trust_pickle=trust_pickle)
                      .argmax(1) == y).mean())
    except (SnnError, ValueError, RuntimeError):
        return None
    if acc2 < max(0.5, acc + 0.3):
        return None
    flag = "1" if other == 1.0 else "0.00392156862745098 (1/255)"
    return (f"the ANN itself gets {acc:.0%} of the first {len(x)} calibration frames with "
            f"--pixel-scale {scale:g} but {acc2:.0%} with --pixel-scale {other:g}: the model "
            f"probably takes {'raw 0..255 pixels' if other == 1.0 else 'pixels / 255'} (Keras "
            f"exports often do); convert again with --pixel-scale {flag}")


def _read_calib(path: str) -> np.ndarray:
    """The --calib-file frames: a plain numeric .npy [N, C, H, W] or [N, H, W]."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            header = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                      else np.lib.format.read_array_header_2_0(fh))
    except (OSError, ValueError, EOFError, SyntaxError, TypeError) as exc:
        raise ConfigError(f"--calib-file {path}: not a readable .npy array ({exc}); save the "
                          "frames with numpy.save(path, frames)") from None
    shape, _, dtype = header
    if np.dtype(dtype).hasobject or np.dtype(dtype).kind not in "iuf":
        raise ConfigError(f"--calib-file {path}: holds {np.dtype(dtype)} values; give raw "
                          "0..255 pixel frames as numbers (uint8 or float)")
    if len(shape) not in (3, 4) or not shape[0]:
        raise ConfigError(f"--calib-file {path}: shape {tuple(shape)}; give frames "
                          "[N, C, H, W] or [N, H, W], N >= 1")
    from snn.validate import check_memory
    check_memory(int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize,
                 f"--calib-file {path}", "give fewer frames")
    try:
        calib = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"--calib-file {path}: damaged .npy ({exc})") from None
    return calib[:, None] if calib.ndim == 3 else calib
