"""``snn convert``: a trained ANN (.onnx, torch, Keras .h5/.keras) or an NIR graph (.nir) ->
spiking network (.npz)."""

from __future__ import annotations

import argparse
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
    p.add_argument("--channel-wise", action="store_true", help="one scale per channel")
    p.add_argument("--maxpool", choices=["gate", "avg"], default="gate",
                   help="max pooling: rate-gated spiking max (default) or replace by average")
    p.add_argument("--avgpool", choices=["spiking", "linear"], default="spiking")
    p.add_argument("--v-init", type=float, default=0.0,
                   help="initial membrane as a fraction of the threshold (0.5 halves the "
                        "rate code's rounding error; compile carries it onto the cores)")
    p.add_argument("--input-layout", choices=["NCHW", "NHWC"], default=None)
    p.add_argument("--encoding", choices=["current", "rate", "poisson"], default="current",
                   help="default input encoding stored in the network")
    p.add_argument("--decode", choices=["count", "potential"], default="potential",
                   help="default decoding stored in the network")


def run(args: argparse.Namespace) -> int:
    from snn.converters import convert

    if Path(args.model).suffix.lower() == ".nir":
        calib = None
    elif args.calib_file:
        try:
            calib = np.load(args.calib_file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{args.calib_file}: cannot read .npy ({exc})") from exc
        if calib.ndim == 3:
            calib = calib[:, None]
    else:
        images, _ = load(args.data, args.data_dir, args.split)
        calib = images[parse_range(args.calib, len(images))]
    net = convert(args.model, calib, pixel_scale=args.pixel_scale,
                  normalisation=args.normalisation, percentile=args.percentile,
                  channel_wise=args.channel_wise, maxpool=args.maxpool, avgpool=args.avgpool,
                  v_init=args.v_init, input_layout=args.input_layout, encoding=args.encoding,
                  decode=args.decode)
    net.meta["source"] = Path(args.model).name
    net.save(args.out)
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
