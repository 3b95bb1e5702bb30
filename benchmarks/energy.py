"""Energy benchmark: the TrueNorth preset against the published points, and modelled power /
GSOP/s/W of the random benchmark networks across firing rates and active synapses.

What it runs (all counts from the numba engine):
1. The fit: fit_truenorth() on the published points (printed; the preset must match it).
2. Calibration: random_program(4096, 20 Hz, 128 synapses) on the engine, steady state: the
   counters of ticks W..W+T as the difference of two runs (W and W+T ticks; the network starts
   synchronised, see warm_window); every published point next to the model on nominal counts
   and on these engine counts.
   The 1.05 V point (200 Hz, 256 synapses) uses random_program(--cores, 200, 256) scaled to
   4096 cores (spikes and SOPs are uniform per core; hops per spike are taken as the
   64x64-mesh value of uniform targets, since the smaller network sits on a smaller mesh).
3. Sweep: random_program(--cores, rate, synapses) for rates 1..200 Hz and 16..256 synapses,
   --ticks ticks each; power scaled to a full 4096-core chip as in 2.

Writes benchmarks/results/energy.{json,md,png} and the published-vs-modelled table into
docs/energy.md (between the BEGIN/END markers).

Usage: python benchmarks/energy.py [--cores 256] [--ticks 200] [--cal-ticks 400]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from snn.cores.engine import run
from snn.cores.hardware.energy import (
    PUBLISHED,
    TN_CORES,
    TN_MEAN_HOPS,
    EnergyModel,
    fit_truenorth,
    nominal_counts,
    published_table,
)
from snn.cores.random_network import random_program
from snn.fileio import atomic_write_text
from snn.plots import _figure, save_figure

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "energy.md"
RATES = [1, 2, 5, 10, 20, 50, 100, 200]
SYNAPSES = [16, 32, 64, 128, 256]
KEYS = ("sops", "spikes", "hops", "chip_crossings")


def warm_window(rate: float, ticks: int) -> tuple[int, int]:
    """Warm-up and counted ticks: the network's first spikes come after ~1/(rate·tick) ticks
    and it oscillates with about that period, so skip 2 periods and count >= 4."""
    period = int(round(1.0 / (rate * 1e-3)))
    return max(100, 2 * period), max(ticks, 4 * period)


def engine_counts(n_cores: int, rate: float, syn: int, ticks: int, seed: int) -> dict:
    """Steady-state counters of the random benchmark network on the engine: two runs of the
    same deterministic program, warm-up W and W + T ticks; their difference is exactly the
    counters of ticks W..W+T (spikes, hops and chip crossings of the spikes sent in them;
    SOPs of the deliveries in them)."""
    prog = random_program(n_cores, rate_hz=rate, synapses=syn, seed=seed)
    warm, window = warm_window(rate, ticks)
    r0 = run(prog, warm, seed=seed)
    r1 = run(prog, warm + window, seed=seed)
    out = {k: int(r1.total(k) - r0.total(k)) for k in KEYS}
    out.update(ticks=window, warmup=warm, wall_s=float(r1.wall_s))
    out["rate_hz"] = out["spikes"] / (n_cores * 256) / (window * 1e-3)
    return out


def to_chip(c: dict, n_cores: int) -> dict:
    """Scale counts of an n_cores network to 4096 cores: spikes and SOPs x 4096/n_cores
    (uniform per core), hops = spikes x mean hops of uniform targets on 64x64."""
    f = TN_CORES / n_cores
    spikes = c["spikes"] * f
    return {"spikes": spikes, "sops": c["sops"] * f, "hops": spikes * TN_MEAN_HOPS,
            "chip_crossings": 0}


def fmt(v: float, q: str) -> str:
    if q == "watts":
        return f"{v * 1e3:.1f} mW"
    if q == "j_per_sop":
        return f"{v * 1e12:.1f} pJ"
    return f"{v:.1f} GSOP/s/W"


def table_md(rows: list[dict]) -> str:
    lines = ["| published point | source | published | modelled (nominal counts) | residual "
             "| modelled (engine counts) | residual |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        q = r["quantity"]
        eng = (f"{fmt(r['engine'], q)} | {100 * r['engine_residual']:+.1f} %"
               if "engine" in r else "— | —")
        lines.append(f"| {r['point']} | {r['source']} | {fmt(r['published'], q)} | "
                     f"{fmt(r['modelled'], q)} | {100 * r['residual']:+.1f} % | {eng} |")
    return "\n".join(lines)


def presets_md() -> str:
    """Every published point against each preset's value (nominal counts)."""
    names = ["truenorth", "truenorth-sop"]
    models = [EnergyModel.preset(n) for n in names]
    head = "| published point | published | " + " | ".join(
        f"`{n}` | residual" for n in names) + " |"
    lines = [head, "|---|---|" + "---|---|" * len(names)]
    tables = [published_table(m) for m in models]
    for i, r in enumerate(tables[0]):
        q = r["quantity"]
        cells = " | ".join(f"{fmt(t[i]['modelled'], q)} | {100 * t[i]['residual']:+.1f} %"
                           for t in tables)
        lines.append(f"| {r['point']} | {fmt(r['published'], q)} | {cells} |")
    return "\n".join(lines)


def params_md(m: EnergyModel) -> str:
    vals = {"e_sop": f"{m.e_sop * 1e12:.3g} pJ", "e_spike": f"{m.e_spike * 1e12:.3g} pJ",
            "e_hop": f"{m.e_hop * 1e12:.3g} pJ", "e_chip": f"{m.e_chip * 1e12:.3g} pJ",
            "e_tick": f"{m.e_tick * 1e9:.3g} nJ per core per tick",
            "p_static": f"{m.p_static * 1e6:.3g} µW per core",
            "tick_s": f"{m.tick_s * 1e3:g} ms", "voltage": f"{m.voltage} V",
            "dynamic_exponent": f"{m.dynamic_exponent:g}",
            "static_exponent": f"{m.static_exponent:g}",
            "link_capacity": f"{m.link_capacity:.4g} spikes/s per link direction"}
    lines = ["| parameter | value | source |", "|---|---|---|"]
    lines += [f"| `{k}` | {v} | {m.sources.get(k, '')} |" for k, v in vals.items()]
    return "\n".join(lines)


def plot(sweep: list[dict], out: Path, tn: EnergyModel) -> None:
    fig = _figure(11.0, 4.6)
    fig.set_layout_engine("constrained")
    ax1, ax2 = fig.subplots(1, 2)
    colors = ["#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e"]
    for syn, col in zip(SYNAPSES, colors, strict=True):
        rs = [r for r in sweep if r["synapses"] == syn]
        x = [r["rate_hz"] for r in rs]
        ax1.plot(x, [r["chip_watts"] * 1e3 for r in rs], "o-", color=col, ms=3,
                 label=f"{syn} synapses")
        ax2.plot(x, [r["chip_gsops_per_w"] for r in rs], "o-", color=col, ms=3,
                 label=f"{syn} synapses")
    ax1.plot([20], [72], "k*", ms=12, label="published 72 mW (0.775 V)")
    ax1.plot([20], [65], "kx", ms=9, label="published 65 mW (0.75 V)")
    ax1.plot([200], [323], "ks", ms=7, mfc="none", label="published 323 mW (1.05 V, 256 syn)")
    c = nominal_counts(200, 256, 1e-3)
    p105 = tn.at_voltage(1.05).evaluate(c, 1000, TN_CORES).watts
    ax1.plot([200], [p105 * 1e3], "rs", ms=5, label="model at 1.05 V")
    ax2.plot([20], [70], "k^", ms=9, label="published 70 GSOP/s/W (200 µs tick)")
    ax2.plot([20], [1 / 26e-12 / 1e9], "k*", ms=12, label="published 26 pJ/SOP (=38.5)")
    ax2.axhline(46, color="grey", ls=":", lw=1)
    ax2.text(1.1, 47, "often quoted 46 GSOP/s/W (does not follow from 72 mW)", fontsize=7,
             color="grey")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("mean firing rate (Hz, measured, 1 ms ticks)")
        ax.grid(alpha=0.3, which="both")
    ax1.set_yscale("log")
    ax1.set_ylabel("power of a 4096-core chip (mW)")
    ax1.set_title("Modelled power, preset truenorth (0.775 V, 1 ms tick)\n"
                  "(e_sop = 0: the curves of all synapse counts coincide)", fontsize=9)
    ax2.set_ylabel("GSOP/s/W")
    ax2.set_title("Modelled energy efficiency (GSOP/s per W)", fontsize=9)
    ax1.legend(fontsize=6, loc="upper left")
    ax2.legend(fontsize=6, loc="upper left")
    fig.suptitle("Random benchmark networks on the engine: power and GSOP/s/W vs rate")
    save_figure(fig, out)


def write_doc_block(name: str, text: str) -> None:
    """Replace the text between <!-- BEGIN name --> and <!-- END name --> in docs/energy.md."""
    if not DOC.exists():
        return
    doc = DOC.read_text()
    a, b = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if a in doc and b in doc:
        head, rest = doc.split(a, 1)
        _, tail = rest.split(b, 1)
        atomic_write_text(DOC, head + a + "\n" + text + "\n" + b + tail)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cores", type=int, default=256, help="cores of the sweep networks")
    ap.add_argument("--ticks", type=int, default=200, help="counted ticks per sweep run (min)")
    ap.add_argument("--cal-ticks", type=int, default=400,
                    help="counted ticks of the 4096-core run (min)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--render", action="store_true",
                    help="only re-render energy.md/.png and the docs tables from energy.json")
    args = ap.parse_args(argv)
    if args.render:
        render(json.loads((args.out / "energy.json").read_text()), args.out)
        return 0
    t0 = time.time()
    tn = EnergyModel.preset("truenorth")
    fit = fit_truenorth()
    print("fit:", {k: float(v) for k, v in fit.items()})

    print(f"calibration: random_program(4096, 20 Hz, 128), window >= {args.cal_ticks} ticks")
    cal = engine_counts(4096, 20.0, 128, args.cal_ticks, args.seed)
    print(f"  measured rate {cal['rate_hz']:.2f} Hz, SOPs/spike "
          f"{cal['sops'] / cal['spikes']:.1f}, hops/spike {cal['hops'] / cal['spikes']:.2f}, "
          f"wall {cal['wall_s']:.1f} s")
    hi = engine_counts(args.cores, 200.0, 256, args.ticks, args.seed)
    hi_chip = to_chip(hi, args.cores)
    eng = {}
    for p in PUBLISHED:
        if p.rate_hz == 20.0 and p.synapses == 128:
            eng[p.name] = ({k: cal[k] for k in KEYS}, cal["ticks"])
        elif p.rate_hz == 200.0 and p.synapses == 256:
            eng[p.name] = (hi_chip, hi["ticks"])
    rows = published_table(tn, eng)
    for r in rows:
        print(f"  {r['point']:<52} published {r['published']:.4g}  model {r['modelled']:.4g} "
              f"({100 * r['residual']:+.1f} %)  engine {r.get('engine', float('nan')):.4g} "
              f"({100 * r.get('engine_residual', float('nan')):+.1f} %)")

    sweep = []
    for syn in SYNAPSES:
        for rate in RATES:
            c = engine_counts(args.cores, float(rate), syn, args.ticks, args.seed)
            e_net = tn.evaluate(c, c["ticks"], args.cores)
            chip = to_chip(c, args.cores)
            e_chip = tn.evaluate(chip, c["ticks"], TN_CORES)
            sweep.append({"cores": args.cores, "target_rate_hz": rate, "synapses": syn,
                          "ticks": c["ticks"], "warmup": c["warmup"], "rate_hz": c["rate_hz"],
                          **{k: c[k] for k in KEYS},
                          "net_watts": e_net.watts, "net_gsops_per_w": e_net.gsops_per_watt,
                          "chip_watts": e_chip.watts, "chip_gsops_per_w": e_chip.gsops_per_watt,
                          "chip_pj_per_sop": e_chip.joules / max(e_chip.sops, 1) * 1e12,
                          "wall_s": c["wall_s"]})
            print(f"  {syn:3d} syn {rate:5.0f} Hz: measured {c['rate_hz']:7.2f} Hz, chip "
                  f"{e_chip.watts * 1e3:7.1f} mW, {e_chip.gsops_per_watt:6.1f} GSOP/s/W")
            sys.stdout.flush()

    args.out.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "energy", "preset": tn.to_dict(), "fit": {k: float(v) for k, v in
           fit.items()}, "calibration": {"cores": 4096, **cal},
           "high_rate": {"cores": args.cores, **hi}, "args": {"cores": args.cores,
           "ticks": args.ticks, "cal_ticks": args.cal_ticks, "seed": args.seed},
           "published": rows, "sweep": sweep, "seconds": time.time() - t0}
    atomic_write_text(args.out / "energy.json", json.dumps(doc, indent=1) + "\n")
    render(doc, args.out)
    print(f"wrote {args.out}/energy.{{json,md,png}} in {time.time() - t0:.0f} s")
    return 0


def render(doc: dict, out: Path) -> None:
    """energy.md, energy.png and the docs/energy.md tables from the results document."""
    tn = EnergyModel.preset("truenorth")
    a = doc.get("args", {"cores": doc["high_rate"]["cores"], "ticks": 200, "cal_ticks": 400,
                         "seed": 0})
    cal, hi, rows, sweep = doc["calibration"], doc["high_rate"], doc["published"], doc["sweep"]
    table = table_md(rows)
    sweep_md = ["| synapses | target Hz | measured Hz | chip power | GSOP/s/W | pJ/SOP |",
                "|---|---|---|---|---|---|"]
    sweep_md += [f"| {r['synapses']} | {r['target_rate_hz']} | {r['rate_hz']:.2f} | "
                 f"{r['chip_watts'] * 1e3:.1f} mW | {r['chip_gsops_per_w']:.1f} | "
                 f"{r['chip_pj_per_sop']:.1f} |" for r in sweep]
    md = "\n".join([
        "# Energy benchmark", "",
        f"`python benchmarks/energy.py --cores {a['cores']} --ticks {a['ticks']} --cal-ticks "
        f"{a['cal_ticks']}`; preset `truenorth` (0.775 V, 1 ms tick). Counts from the numba "
        "engine; see docs/energy.md for the model and its assumptions.", "",
        "## Published TrueNorth points vs the model", "", table, "",
        f"Engine calibration run: random_program(4096, 20 Hz, 128 synapses, seed {a['seed']}), "
        f"ticks {cal['warmup']}..{cal['warmup'] + cal['ticks']} (after a warm-up, counters of "
        f"two runs subtracted): measured rate {cal['rate_hz']:.2f} Hz, "
        f"{cal['sops'] / cal['spikes']:.1f} SOPs/spike, {cal['hops'] / cal['spikes']:.2f} "
        "hops/spike. The 1.05 V point's engine counts: "
        f"random_program({hi['cores']}, 200 Hz, 256), ticks {hi['warmup']}.."
        f"{hi['warmup'] + hi['ticks']} (measured {hi['rate_hz']:.1f} Hz), scaled to 4096 cores. "
        "The 0.70 V floor has no activity, so no engine run.", "",
        "## Preset parameters", "", params_md(tn), "",
        f"## Sweep: random networks of {a['cores']} cores, scaled to a 4096-core chip", "",
        "Each network runs a warm-up of max(100, 2 periods) ticks and is counted over the next "
        f"max({a['ticks']}, 4 periods) ticks (period = 1 / (rate x 1 ms) ticks: the network "
        "starts synchronised and oscillates at about that period). "
        "Spikes and SOPs scale by 4096/cores (uniform per core); hops per spike are the "
        f"64x64 uniform-target mean ({TN_MEAN_HOPS:.2f}). With e_sop = 0 the power does not "
        "depend on the synapse count; GSOP/s/W does.", "", *sweep_md, "",
        "![power and GSOP/s/W vs rate](energy.png)", ""])
    atomic_write_text(out / "energy.md", md)
    plot(sweep, out / "energy.png", tn)
    write_doc_block("published-table", table)
    write_doc_block("preset-params", params_md(tn))
    write_doc_block("preset-params-sop", params_md(EnergyModel.preset("truenorth-sop")))
    write_doc_block("presets-table", presets_md())

if __name__ == "__main__":
    sys.exit(main())
