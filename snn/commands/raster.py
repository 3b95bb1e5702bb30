"""``snn raster RUN``: spike raster of a saved run (PNG or SVG)."""

from __future__ import annotations

import argparse

from snn.errors import ConfigError

HELP = "draw the spike raster of a saved run (layers labelled, population rate, traces)"

EPILOG = """\
RUN is a run with recorded spikes: the .npz (format snn-run/1) that `snn demo` writes
(demo-output/run.npz) or `snn eval PROG.npz --record RUN.npz`, or the JSON of
`snn sim PROG.npz --ticks T --record full --json RUN.json` (give --program PROG.npz to label
its layers). From Python: snn.runfile.raster(run, program, ...).

examples:
  snn raster demo-output/run.npz --out raster.png
  snn raster demo-output/run.npz --layer fc2 --ticks 0:20 --trace 1:3 --out fc2.svg
  snn raster run.json --program prog.npz --cores 0:4 --out cores.png
"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run", metavar="RUN", help="saved run: .npz (snn-run/1) or sim JSON")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--layer", metavar="NAME[,NAME...]",
                       help="draw only these layers ('input' for the input events)")
    which.add_argument("--cores", metavar="A:B", help="draw only cores A..B-1")
    parser.add_argument("--ticks", metavar="A:B", help="tick range to draw (default: all)")
    parser.add_argument("--frame", type=int, default=0, help="frame of the run (default 0)")
    parser.add_argument("--program", metavar="PROG.npz",
                        help="the core program that ran (layer names, membrane traces)")
    parser.add_argument("--trace", metavar="CORE:NEURON", action="append", default=[],
                        help="add the membrane trace of this neuron: the frame rerun on "
                             "the engine with a membrane probe (repeatable)")
    parser.add_argument("--max-neurons", type=int, default=1500,
                        help="draw at most this many neurons; more are subsampled and the "
                             "title says so (default 1500)")
    parser.add_argument("--title", help="figure title")
    parser.add_argument("--out", default="raster.png",
                        help="output picture, .png or .svg (default raster.png)")


def _range(text: str, what: str) -> tuple[int, int]:
    try:
        a, b = text.split(":")
        return int(a or 0), int(b)
    except ValueError as exc:
        raise ConfigError(f"{what} {text!r} must look like A:B, e.g. 0:64") from exc


def run(args: argparse.Namespace) -> int:
    from snn.fileio import check_outputs
    check_outputs({"RUN": args.run, "--program": args.program}, {"--out": args.out})
    from snn.runfile import SpikeRun, raster

    program = None
    if args.program:
        from snn.cores.program import CoreProgram
        program = CoreProgram.load(args.program)
    srun = SpikeRun.load(args.run, program)
    ticks = _range(args.ticks, "--ticks") if args.ticks else None
    cores = _range(args.cores, "--cores") if args.cores else None
    layers = [x.strip() for x in args.layer.split(",")] if args.layer else None
    traces = []
    for spec in args.trace:
        try:
            c, n = (int(x) for x in spec.split(":"))
        except ValueError as exc:
            raise ConfigError(f"--trace {spec!r} must look like CORE:NEURON, e.g. 3:17") from exc
        traces.append((c, n))
    if args.max_neurons < 1:
        raise ConfigError("--max-neurons must be >= 1")
    fig = raster(srun, program, layers=layers, cores=cores, ticks=ticks, frame=args.frame,
                 traces=traces, max_neurons=args.max_neurons, title=args.title, out=args.out)
    t0, t1 = ticks or (0, srun.ticks)
    groups = srun.groups(args.frame, layers=layers, cores=cores)
    n_sp = sum(int(((g.tick >= t0) & (g.tick < t1)).sum()) for g in groups if not g.is_input)
    sub = " (subsampled: see the title)" if "SUBSAMPLED" in fig.axes[0].get_title() else ""
    print(f"wrote {args.out}: {', '.join(g.name for g in groups)}; {n_sp} spikes in ticks "
          f"{t0}:{t1} of frame {args.frame}{sub}")
    return 0
