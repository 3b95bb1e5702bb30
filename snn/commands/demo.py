"""``snn demo``: the end-to-end demo on bundled data (no network, no download)."""

from __future__ import annotations

import argparse

HELP = "end-to-end demo: digits MLP -> spiking -> TrueNorth cores -> report and raster"

EPILOG = """\
Trains a small MLP on scikit-learn's 8x8 digits (seeded, a few seconds), converts it to a
spiking network, compiles it onto TrueNorth cores, runs the 539 held-out test images on the
engine and prints the report. Writes report.json, report.md, raster.png, run.npz,
program.npz, image0.npz (the program with test image 0 as stored input, for `snn sim`),
network.npz, digits_mlp.pt, accuracy_vs_ticks.png and decomposition.png to --out.
"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--out", default="demo-output", metavar="DIR",
                        help="output folder (default demo-output)")
    parser.add_argument("--ticks", type=int, default=32, help="ticks per frame (default 32)")
    parser.add_argument("--frames", type=int, metavar="N",
                        help="use only the first N held-out images (default all 539)")
    parser.add_argument("--seed", type=int, default=0, help="training and encoding seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from snn.demo import run_demo
    from snn.errors import ConfigError
    from snn.fileio import check_output_dir

    check_output_dir("--out", args.out)
    if args.ticks < 1:
        raise ConfigError("--ticks must be >= 1")
    if args.frames is not None and args.frames < 1:
        raise ConfigError("--frames must be >= 1")
    run_demo(args.out, ticks=args.ticks, seed=args.seed, frames=args.frames,
             progress=not args.no_progress)
    return 0
