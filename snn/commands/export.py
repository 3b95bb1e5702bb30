"""``snn export NET.npz --nir out.nir``: write a spiking network as an NIR graph."""

from __future__ import annotations

import argparse

HELP = "write a spiking network (snn-net/1) as an NIR graph (.nir) for other SNN tools"

EPILOG = """\
Affine/Conv2d/AvgPool2d/Flatten nodes with IF neurons (r = 1/dt, v_reset = 0, metadata
reset = "subtract"); `snn convert out.nir` reads it back with identical spikes.

example:
  snn export net.npz --nir net.nir
"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("network", metavar="NET.npz", help="spiking network from `snn convert`")
    parser.add_argument("--nir", required=True, metavar="OUT.nir", help="NIR file to write")
    parser.add_argument("--dt", type=float, default=1e-4,
                        help="time step recorded in the graph (IF r = 1/dt; default 1e-4 s)")


def run(args: argparse.Namespace) -> int:
    from snn.converters.nir_export import export_nir, to_nir
    from snn.network import SpikingNetwork

    net = SpikingNetwork.load(args.network)
    export_nir(net, args.nir, dt=args.dt)
    graph = to_nir(net, args.dt)
    kinds: dict[str, int] = {}
    for node in graph.nodes.values():
        kinds[type(node).__name__] = kinds.get(type(node).__name__, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"{args.network} -> {args.nir}: {len(graph.nodes)} NIR nodes ({summary}), "
          f"{len(graph.edges)} edges, dt {args.dt:g}")
    return 0
