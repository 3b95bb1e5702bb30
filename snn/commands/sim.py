"""``snn sim PROG.npz --ticks T``: run a core program with its stored inputs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from snn.fileio import atomic_write_json

HELP = "run a core program (snn-cores/1) with its stored inputs; print or save counters/spikes"

EPILOG = """\
The program runs for T ticks with the inputs stored in the file (input_tick/core/axon) as
one frame. The JSON holds counters {spikes, sops, hops, chip_crossings, input_events,
axon_collisions}, outputs (spike counts per output_index), ticks, wall_s (the run alone,
without compilation), backend, and with --record full the spikes as [tick, core, neuron].

examples:
  snn sim prog.npz --ticks 100
  snn sim prog.npz --ticks 100 --record full --json run.json
  snn sim prog.npz --ticks 100 --backend brian2
"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("program", metavar="PROG.npz", help="core program (snn-cores/1)")
    parser.add_argument("--ticks", type=int, required=True, help="ticks to run")
    parser.add_argument("--json", metavar="OUT", help="write the results as JSON (atomic)")
    parser.add_argument("--record", choices=["none", "counts", "full"], default="none",
                        help="spike recording (default none)")
    parser.add_argument("--backend", choices=["numba", "brian2", "reference"],
                        default="numba", help="simulator (default numba)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the stochastic modes' random numbers (default 0)")
    # place for more options (e.g. --energy/--tick-us): add them in add_extra_options
    add_extra_options(parser)


def add_extra_options(parser: argparse.ArgumentParser) -> None:
    """Options beyond the run itself: --energy PRESET, --tick-us (snn.report)."""
    from snn.report import add_energy_options
    add_energy_options(parser)


def simulate(args: argparse.Namespace) -> tuple[object, object]:
    """Load the program and run it; returns (program, RunResult)."""
    from snn.cores import engine
    from snn.cores.program import CoreProgram
    from snn.errors import ConfigError
    from snn.validate import MAX_SIM_TICKS
    if args.ticks < 0:
        raise ConfigError(f"--ticks must be >= 0, got {args.ticks}")
    if args.ticks > MAX_SIM_TICKS:
        raise ConfigError(f"--ticks {args.ticks} is more than {MAX_SIM_TICKS} (about a minute "
                          "a core, and the run cannot be stopped midway): run fewer ticks")
    program = CoreProgram.load(args.program)
    from snn.cores.engine.options import EngineOptions, threads_for_load
    threads, why = threads_for_load()
    if why and args.backend == "numba" and program.n_cores >= EngineOptions().min_cores(False):
        print(f"snn sim: {why}", file=sys.stderr)
    result = engine.run(program, args.ticks, record=args.record, seed=args.seed,
                        backend=args.backend, options=EngineOptions(threads=threads))
    return program, result


def result_dict(result: object) -> dict:
    """The JSON document of a run (frame 0)."""
    doc = {
        "ticks": result.ticks,
        "backend": result.backend,
        "wall_s": result.wall_s,
        "counters": {k: int(v[0]) for k, v in result.counters.items()},
        "outputs": result.outputs[0].tolist(),
    }
    if result.spikes is not None:
        doc["spikes"] = result.spikes[0].tolist()
    if result.spike_counts is not None:
        doc["spike_counts"] = result.spike_counts[0].tolist()
    return doc


def extra_results(args: argparse.Namespace, program: object, result: object, doc: dict) -> None:
    """Hook for options added in add_extra_options: "energy" and "report" (snn.report)."""
    from snn.report import energy_results
    energy_results(args, program, result, doc)


def write_json(path: str | os.PathLike, doc: dict) -> Path:
    """Write JSON atomically (temp file + rename)."""
    return atomic_write_json(path, doc, indent=None)


def run(args: argparse.Namespace) -> int:
    from snn.fileio import check_outputs
    energy = getattr(args, "energy", None)
    check_outputs({"PROG.npz": args.program,
                   "--energy": energy if energy and os.path.isfile(energy) else None},
                  {"--json": args.json})
    program, result = simulate(args)
    doc = result_dict(result)
    extra_results(args, program, result, doc)
    c = doc["counters"]
    print(f"{args.program}: {program.n_cores} cores, {doc['ticks']} ticks on {doc['backend']} "
          f"in {doc['wall_s']:.3f} s: {c['spikes']} spikes, {c['sops']} SOPs, {c['hops']} hops, "
          f"{c['chip_crossings']} chip crossings, {c['input_events']} input events"
          + (f", {c['axon_collisions']} axon collisions" if c["axon_collisions"] else ""),
          file=sys.stdout)
    if doc["outputs"]:
        print(f"outputs: {doc['outputs']}")
    if args.json:
        write_json(args.json, doc)
        print(f"wrote {args.json}")
    return 0
