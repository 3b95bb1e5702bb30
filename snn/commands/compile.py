"""``snn compile NET.npz --preset truenorth --out PROG.npz``: map a spiking network onto cores."""

from __future__ import annotations

import argparse
import json

import numpy as np

from snn.fileio import atomic_write_json

HELP = "map a spiking network (snn-net/1) onto TrueNorth-like cores (snn-cores/1)"

EPILOG = """\
The program carries its input map, encoding, pixel scale, layer names and readout, so
`snn eval PROG.npz --data mnist` needs nothing else. Weights are realised with k axons (and
axon types) per input; the default k is the most accurate that fits --max-chips.

examples:
  snn compile mlp.npz --preset truenorth --out mlp_cores.npz
  snn compile cnn.npz --weight-bits 2 --max-chips 1 --out cnn_cores.npz --json table.json
  snn compile benchmarks/models/nmnist_bsnn.pt --out nmnist_cores.npz
"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("network", metavar="NET.npz",
                        help="spiking network from `snn convert`, or a binarized training "
                             "checkpoint (.pt from benchmarks/train_binarized_*.py, read with "
                             "weights_only=True)")
    parser.add_argument("--preset", default="truenorth",
                        help="core spec preset: truenorth, truenorth-0.75v, small "
                             "(default truenorth)")
    parser.add_argument("--weight-bits", type=int, default=None, metavar="K",
                        help="axons per input = bits of the weight levels, 1..axon types "
                             "(default: the most accurate that fits)")
    parser.add_argument("--max-chips", type=int, default=None, metavar="N",
                        help="refuse programs needing more chips than N")
    parser.add_argument("--ticks", type=int, default=None,
                        help="default run length stored in the program, and the length of "
                             "the calibration runs that set split layers' relays (default "
                             "100): calibrating for the ticks you will run helps shallow "
                             "networks at few ticks and can hurt deep ones (docs/compiler.md, "
                             "relay parameters)")
    parser.add_argument("--encoding", choices=("current", "rate", "poisson"), default=None,
                        help="input encoding (default: the network's; current runs as the "
                             "deterministic rate code on cores)")
    parser.add_argument("--readout", choices=("partial", "relays"), default="partial",
                        help="a readout wider than one core: partial readout neurons whose "
                             "integrated inputs the decode adds (exact, default) or relays "
                             "to one summing neuron per class on cores (the old mapping)")
    parser.add_argument("--readout-bits", type=int, default=None, metavar="K",
                        help="axons per input of the readout layer (default: --weight-bits; "
                             "its levels have 2K bits, so 2 often suffices and halves the "
                             "readout's axons)")
    parser.add_argument("--relay-phases", type=int, default=1, metavar="P",
                        help="relays per input block of a split layer, starting T_r / P "
                             "apart (default 1: the fewest cores; 2: about half the residual "
                             "error, the same accuracy in fewer ticks, about twice the "
                             "summing cores)")
    parser.add_argument("--neuron-codebooks", action="store_true",
                        help="each relay of a split layer takes its neuron's 4 type weights "
                             "(the old mapping) instead of its own, fitted to its block's "
                             "synapses (the default: docs/compiler.md, per-block codebooks)")
    parser.add_argument("--out", required=True, metavar="PROG.npz", help="core program to write")
    parser.add_argument("--json", metavar="FILE", help="also write the layer table as JSON")


def run(args: argparse.Namespace) -> int:
    from snn.converters.binarized_load import is_binarized_checkpoint, load_binarized
    from snn.cores.compiler import compile as compile_net
    from snn.cores.compiler.io import format_table, layer_table
    from snn.cores.hardware.spec import CoreSpec
    from snn.fileio import check_outputs
    from snn.network import SpikingNetwork
    from snn.validate import validate_program

    check_outputs({"NET.npz": args.network}, {"--out": args.out, "--json": args.json})
    if is_binarized_checkpoint(args.network):
        net = load_binarized(args.network)
    else:
        net = SpikingNetwork.load(args.network)
    spec = CoreSpec.preset(args.preset)
    program = compile_net(net, spec, weight_bits=args.weight_bits, ticks=args.ticks,
                          encoding=args.encoding, max_chips=args.max_chips,
                          readout=args.readout, readout_bits=args.readout_bits,
                          relay_phases=args.relay_phases,
                          block_codebooks=not args.neuron_codebooks)
    if "event_transform" in net.meta:  # `snn eval --data nmnist` repeats these transforms
        program.extras["event_transform"] = np.array(json.dumps(net.meta["event_transform"]))
    program.validate()
    validate_program(program)  # the checks `snn eval` and `snn sim` run on loading it
    program.save(args.out)
    chips = -(-program.n_cores // spec.cores_per_chip)
    print(f"{args.network} -> {args.out}: {program.n_cores} cores, {chips} chip(s), "
          f"latency {int(program.extras.get('latency_ticks', 0))} ticks, "
          + ("binarized weights (+1/-1)" if net.meta.get("binarized") else
             f"{int(program.extras.get('weight_bits', 0))}-bit weights"))
    rows = layer_table(program)
    print(format_table(rows))
    if args.json:
        atomic_write_json(args.json, {"cores": program.n_cores, "chips": chips, "layers": rows},
                          indent=1)
    return 0
