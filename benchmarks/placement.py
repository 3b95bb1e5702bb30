"""Placement benchmark: hops and chip crossings of row-major vs the traffic-aware placer.

Networks:
- layered networks built by hand with the structure of compiled feed-forward networks
  (cores numbered layer by layer; each core's 256 neurons target a few neighbouring cores
  of the next layer), traffic ESTIMATED (one unit per connected neuron, no run); one of them
  spans two chips;
- a compiled network, when the compiler and a model are present: benchmarks/results lists
  it only then;
- the random benchmark networks (uniform targets, 20 Hz, 128 synapses) at 256, 1024 and 4096
  cores: traffic MEASURED (engine, record="counts"), then the engine re-run with the new
  core_xy: hops and chip crossings below are the engine's counters.

Writes benchmarks/results/placement.{json,md}.
Usage: python benchmarks/placement.py [--ticks 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from snn.cores.hardware.mesh import route_cost, traffic
from snn.cores.hardware.placement import place
from snn.cores.program import CoreProgram
from snn.cores.random_network import layered_program
from snn.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATA = ROOT / ".." / "shared" / "data"


def compare_estimated(name: str, prog: CoreProgram, seed: int) -> dict:
    t = traffic(prog)
    h0, x0 = route_cost(place(prog), t)
    t0 = time.time()
    xy = place(prog, "traffic", traffic=t, seed=seed)
    dt = time.time() - t0
    h1, x1 = route_cost(xy, t)
    return {"network": name, "cores": prog.n_cores, "traffic": "estimated",
            "hops_row_major": h0, "hops_placed": h1, "chips_row_major": x0, "chips_placed": x1,
            "placer_s": dt, "counts_from": "route_cost on the estimated traffic"}


def compare_engine(name: str, prog: CoreProgram, ticks: int, seed: int, inputs=None) -> dict:
    from snn.cores.engine import run

    r0 = run(prog, ticks, inputs, record="counts", seed=seed)
    t0 = time.time()
    xy = place(prog, "traffic", traffic=r0.spike_counts, seed=seed)
    dt = time.time() - t0
    prog.core_xy = xy
    r1 = run(prog, ticks, inputs, seed=seed)
    prog.core_xy = None
    assert r1.total("spikes") == r0.total("spikes"), "placement changed the dynamics"
    return {"network": name, "cores": prog.n_cores, "traffic": "measured",
            "hops_row_major": r0.total("hops"), "hops_placed": r1.total("hops"),
            "chips_row_major": r0.total("chip_crossings"),
            "chips_placed": r1.total("chip_crossings"), "spikes": r0.total("spikes"),
            "placer_s": dt, "counts_from": f"engine counters, {ticks} ticks"}


def compiled_rows(ticks: int, seed: int) -> list[dict]:
    """A compiled network (the MNIST MLP of shared/data converted and compiled), if the
    converter, compiler and data are all there; 8 MNIST test images drive the run."""
    model = DATA / "models" / "keras_mlp_mnist.onnx"
    try:
        from snn.converters import convert
        from snn.cores.compiler import compile as compile_net
        from snn.cores.compiler import encode_frames
        from snn.datasets import load

        images, _ = load("mnist", DATA / "mnist", "test")
        net = convert(model, images[:200])
        prog = compile_net(net)
        inputs = encode_frames(prog, images[200:208], ticks, seed=seed)
    except Exception as exc:  # noqa: BLE001 - optional section, say why it is absent
        print(f"  compiled network skipped: {type(exc).__name__}: {exc}")
        return []
    return [compare_engine(f"compiled {model.name} (8 MNIST test images)", prog, ticks, seed,
                           inputs)]


def pct(a: float, b: float) -> str:
    return "—" if a == 0 else f"{100 * (b / a - 1):+.1f} %"


def table(rows: list[dict]) -> str:
    md = ["| network | cores | traffic | hops row-major | hops placed | change | chip "
          "crossings row-major | placed | change | placer time |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['network']} | {r['cores']} | {r['traffic']} | "
                  f"{r['hops_row_major']:,.0f} | {r['hops_placed']:,.0f} | "
                  f"{pct(r['hops_row_major'], r['hops_placed'])} | {r['chips_row_major']:,.0f} "
                  f"| {r['chips_placed']:,.0f} | {pct(r['chips_row_major'], r['chips_placed'])} "
                  f"| {r['placer_s']:.1f} s |")
    return "\n".join(md)


def render(doc: dict, out: Path) -> None:
    """placement.md from the results, and the table into docs/energy.md."""
    note = ("Random networks with uniform targets have no locality to exploit: on a full "
            "chip (4096 cores) every placement has about the same mean distance, and the "
            "placer gains only a few percent from the random fluctuations of the measured "
            "traffic; on fewer cores it gains by packing the cores into a compact block "
            "instead of full-width rows.")
    md = ["# Placement benchmark", "",
          f"`python benchmarks/placement.py --ticks {doc['ticks']} --seed {doc['seed']}`. "
          "Row-major = the default layout of docs/design.md §3.3; placed = `place(program, "
          "\"traffic\")` (simulated annealing of swaps, cost = hops + (e_chip/e_hop) x chip "
          "crossings). Measured rows: engine counters before and after placement (same "
          "spikes; the compiled network driven by 8 MNIST test images); estimated rows: hops "
          "of one unit of traffic per connected neuron.", "", table(doc["rows"]), "", note, ""]
    atomic_write_text(out / "placement.md", "\n".join(md))
    docfile = ROOT / "docs" / "energy.md"
    if docfile.exists():
        text = docfile.read_text()
        a, b = "<!-- BEGIN placement-table -->", "<!-- END placement-table -->"
        if a in text and b in text:
            head, rest = text.split(a, 1)
            _, tail = rest.split(b, 1)
            new = (head + a + "\n" + "From `python benchmarks/placement.py` "
                   "(`benchmarks/results/placement.md`):\n\n" + table(doc["rows"]) + "\n\n"
                   + note + "\n" + b + tail)
            atomic_write_text(docfile, new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--render", action="store_true",
                    help="only re-render placement.md and the docs table from placement.json")
    args = ap.parse_args(argv)
    if args.render:
        render(json.loads((args.out / "placement.json").read_text()), args.out)
        return 0
    rows = []
    place(layered_program([4, 4]), "traffic")  # numba compilation outside the timings
    hand = [("layered 4 layers [200,150,60,10]", [200, 150, 60, 10]),
            ("layered 5 layers [1024,1024,512,256,64]", [1024, 1024, 512, 256, 64]),
            ("layered 2 chips [2048,2048,1536,1024,256]", [2048, 2048, 1536, 1024, 256])]
    for name, layers in hand:
        rows.append(compare_estimated(name, layered_program(layers, args.seed), args.seed))
        print(rows[-1])
    rows += compiled_rows(args.ticks, args.seed)
    from snn.cores.random_network import random_program

    for n in (256, 1024, 4096):
        prog = random_program(n, rate_hz=20.0, synapses=128, seed=args.seed)
        rows.append(compare_engine(f"random {n} cores, 20 Hz, 128 synapses", prog, args.ticks,
                                   args.seed))
        print(rows[-1])
        sys.stdout.flush()
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "placement", "ticks": args.ticks, "seed": args.seed, "rows": rows}
    atomic_write_text(args.out / "placement.json", json.dumps(doc, indent=1, default=float) + "\n")
    render(doc, args.out)
    print(f"wrote {args.out}/placement.{{json,md}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
