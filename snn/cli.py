"""The ``snn`` console script: dispatches to the modules of ``snn.commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import snn.commands
from snn.errors import SnnError

# Order shown in --help; modules present in snn.commands but not listed come after.
ORDER = ["finetune", "convert", "compile", "export", "eval", "sim", "report", "raster", "bench",
         "demo"]
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _command_modules() -> dict[str, object]:
    found = {m.name for m in pkgutil.iter_modules(snn.commands.__path__)}
    names = [n for n in ORDER if n in found] + sorted(found - set(ORDER))
    return {n.replace("_", "-"): importlib.import_module(f"snn.commands.{n}") for n in names}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snn",
        description="Convert trained ANNs to spiking networks, map them onto TrueNorth-like "
                    "cores, and report accuracy, synaptic operations and energy.")
    parser.add_argument("--version", action="version", version=f"snn {snn.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules().items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_parser(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args._run(args) or 0)
    except SnnError as exc:
        print(f"snn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"snn {args.command}: interrupted; finished results were kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`)
        # nothing more can be written: point stdout at devnull so the flush at exit is quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
