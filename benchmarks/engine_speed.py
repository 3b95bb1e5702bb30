"""Engine speed on TrueNorth's benchmark network, against Brian2 on the same networks.

Random recurrent networks (snn.cores.random_network.random_program): 20 Hz mean rate at
1 ms ticks, 128 active synapses per neuron, targets uniform over all cores, for 16, 256,
1024 and 4096 cores, 1000 ticks. Each size runs in its own subprocess (clean peak memory):
build the program, run it once to compile/warm up, then time the run alone with each of
--threads numba threads (default 1 and 2; a single frame of >= 256 cores runs its route
chunks on the threads in one parallel region). Brian2 (its fastest target
that runs here, cpp_standalone by default) runs the same networks up to --brian2-max-cores
and its spikes are checked against the engine's, spike for spike.

Reported: SOP/s of wall time, SOP/s of process CPU time (robust on a shared machine),
ticks/s, real-time factor (simulated ms per wall ms at 1 ms ticks), peak RSS, measured rate,
speed-up over Brian2 (ratio of SOP/s measured in the same subprocess).

    python benchmarks/engine_speed.py [--cores 16 256 1024 4096] [--ticks 1000]
        [--brian2-max-cores 256] [--brian2-target cpp_standalone] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
import numba
from snn.cores import engine
from snn.cores.random_network import random_program, measured_rate_hz
cfg = json.loads(sys.argv[1])
C, T = cfg["cores"], cfg["ticks"]
t0 = time.perf_counter()
p = random_program(C, rate_hz=cfg["rate"], synapses=cfg["synapses"], seed=cfg["seed"])
build_s = time.perf_counter() - t0
t0 = time.perf_counter()
prep = engine.prepare(p)
prepare_s = time.perf_counter() - t0
out = dict(cores=C, neurons=C * p.n_neurons, ticks=T, build_s=build_s, prepare_s=prepare_s,
           synapses=int(prep.nsyn.sum()))
for threads in cfg["threads"]:                      # compile / load every kernel used
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    engine.run_prepared(prep, 5)  # the thread counts asked for, busy CPUs or not


def best_of(prep, repeats, min_s=cfg["min_time"]):
    # the fastest run (wall), with its CPU time, of at least `repeats` runs and `min_s` s
    best = None
    start = time.perf_counter()
    n = 0
    while n < repeats or (time.perf_counter() - start < min_s and n < 500):
        n += 1
        c0 = time.process_time()
        r = engine.run_prepared(prep, T)
        cpu = time.process_time() - c0
        if best is None or r.wall_s < best[1]["wall_s"]:
            best = (r, dict(wall_s=r.wall_s, cpu_s=cpu, threads=numba.get_num_threads()))
    best[1]["runs"] = n
    return best


runs = {}
for threads in cfg["threads"]:
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    r, runs[threads] = best_of(prep, cfg["repeats"])
out["engine"] = runs
out["fast_path"] = prep.rt is not None
out["spikes"], out["sops"], out["hops"] = r.total("spikes"), r.total("sops"), r.total("hops")
out["chip_crossings"] = r.total("chip_crossings")
out["rate_hz"] = measured_rate_hz(out["spikes"], out["neurons"], T)
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before
# profile: the same network with thresholds out of reach (no spike): the per-tick neuron
# pass (leak, clamp, threshold test, floor) alone, 1 thread
numba.set_num_threads(1)
thrs = [prep.npar[:, 1]]                           # (npar16: planes, shared rows too)
if prep.npar16 is not None and prep.npar16.size:
    thrs.append(prep.npar16[1])
saved = [thr.copy() for thr in thrs]               # the kernels' thresholds (int32, int16)
for thr in thrs:
    thr[:] = np.iinfo(thr.dtype).max               # (the run reports any spike it still has)
c0 = time.process_time()
silent = engine.run_prepared(prep, T)
out["neuron_pass"] = dict(wall_s=silent.wall_s, cpu_s=time.process_time() - c0,
                          spikes=silent.total("spikes"))
for thr, old in zip(thrs, saved):
    thr[:] = old
# the general kernels (stochastic-capable, per-destination ring lists) on the same network
if cfg["general"]:
    numba.set_num_threads(1)
    gprep = engine.prepare(p, options=engine.EngineOptions(path="general"))
    engine.run_prepared(gprep, 5)
    g, out["general"] = best_of(gprep, cfg["repeats"])
    out["general"]["equal"] = all(np.array_equal(g.counters[k], r.counters[k])
                                  for k in r.counters)
    del gprep
if cfg["brian2"]:
    numba.set_num_threads(1)
    r = engine.run_prepared(prep, T, record="full")
    from snn.cores.engine.brian2_backend import run_brian2
    c0 = time.process_time()
    t0 = time.perf_counter()
    b = run_brian2(p, T, engine.InputSpikes.from_program(p), record="full",
                   target=cfg["brian2_target"], repeats=cfg["brian2_repeats"])
    out["brian2"] = dict(target=cfg["brian2_target"], wall_s=b.wall_s,
                         runs=cfg["brian2_repeats"],
                         total_s=time.perf_counter() - t0,
                         spike_match=bool(np.array_equal(b.spikes[0], r.spikes[0])),
                         sops_match=b.total("sops") == r.total("sops"))
print("RESULT " + json.dumps(out))
"""


def run_size(cfg: dict, timeout: float) -> dict:
    """One network size in a fresh interpreter; returns its measurements."""
    env = dict(os.environ)
    env.setdefault("NUMBA_NUM_THREADS", str(max(cfg["threads"])))
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return dict(cores=cfg["cores"], error=proc.stderr.strip().splitlines()[-1:] or "failed")
    return json.loads(lines[-1][len("RESULT "):])


def derive(row: dict) -> dict:
    """Rates and ratios of one size."""
    if "error" in row:
        return row
    T = row["ticks"]
    for e in row["engine"].values():
        e["sops_per_s"] = row["sops"] / e["wall_s"]
        e["sops_per_cpu_s"] = row["sops"] / max(e["cpu_s"], 1e-9)
        e["ticks_per_s"] = T / e["wall_s"]
        e["realtime_factor"] = T * 1e-3 / e["wall_s"]   # simulated s per wall s, 1 ms ticks
    if row.get("general"):
        row["general"]["sops_per_s"] = row["sops"] / row["general"]["wall_s"]
    b = row.get("brian2")
    if b:
        b["sops_per_s"] = row["sops"] / b["wall_s"]
        best = max(e["sops_per_s"] for e in row["engine"].values())
        b["engine_speedup"] = best / b["sops_per_s"]
    return row


def to_markdown(res: dict) -> str:
    m = res["meta"]
    lines = [
        "# Engine speed (TrueNorth benchmark network)",
        "",
        f"{m['ticks']} ticks of 1 ms, {m['rate_hz']:g} Hz target rate, {m['synapses']} "
        f"synapses/neuron, targets uniform over all cores. Machine: {m['machine']}, "
        f"{m['cpus']} CPUs ({m.get('usable_cpus', m['cpus'])} usable by this run). "
        f"Load average at start: {m['loadavg']}. Command: `{m['command']}`.",
        "",
        "| cores | neurons | rate (Hz) | SOPs | threads | wall (s) | SOP/s wall | SOP/s CPU "
        "| ticks/s | x real time | wall / simulated | peak RSS (MB) | chip crossings / tick "
        "| Brian2 SOP/s | speed-up | spikes equal | general kernels SOP/s (1 thread) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in res["sizes"]:
        if "error" in row:
            lines.append(f"| {row['cores']} | error: {row['error']} |")
            continue
        b = row.get("brian2")
        g = row.get("general")
        gcol = (f"{g['sops_per_s'] / 1e6:.0f} M (equal: {g['equal']})" if g else "-")
        cross = (f"{row['chip_crossings'] / row['ticks']:,.0f}" if "chip_crossings" in row
                 else "-")
        for threads, e in row["engine"].items():
            bcols = (f"{b['sops_per_s'] / 1e6:.0f} M ({b['target']}) | "
                     f"{b['engine_speedup']:.1f}x | {b['spike_match']}" if b else "- | - | -")
            lines.append(
                f"| {row['cores']} | {row['neurons']} | {row['rate_hz']:.1f} | {row['sops']:.3g} "
                f"| {threads} | {e['wall_s']:.3f} | {e['sops_per_s'] / 1e6:.0f} M "
                f"| {e['sops_per_cpu_s'] / 1e6:.0f} M | {e['ticks_per_s']:.0f} "
                f"| {e['realtime_factor']:.3f} | {1 / e['realtime_factor']:.2f}x "
                f"| {row['peak_rss_mb']:.0f} | {cross} | {bcols} | {gcol} |")
    profiled = [row for row in res["sizes"] if "neuron_pass" in row and "1" in row["engine"]]
    if profiled:
        lines += ["", "Profile (1 thread, CPU seconds): the neuron pass alone (same network, "
                  "thresholds out of reach, no spike) against the full run:", "",
                  "| cores | full run (CPU s) | neuron pass (CPU s) | share "
                  "| spike work per spike (ns) |",
                  "|---:|---:|---:|---:|---:|"]
    else:
        lines += ["", "No profile rows: they compare 1-thread runs (`--threads 1 ...`)."]
    for row in profiled:
        full, npass = row["engine"]["1"]["cpu_s"], row["neuron_pass"]["cpu_s"]
        lines.append(f"| {row['cores']} | {full:.3f} | {npass:.3f} | {npass / full:.0%} | "
                     f"{(full - npass) / max(row['spikes'], 1) * 1e9:.0f} |")
    for row in res["sizes"]:  # a neuron pass measured without a 1-thread run to set it against
        if "neuron_pass" in row and row not in profiled and row["engine"]:
            npass = row["neuron_pass"]["wall_s"]
            threads, e = min(row["engine"].items(), key=lambda kv: kv[1]["wall_s"])
            lines += ["", f"{row['cores']} cores: the neuron pass alone (1 thread, thresholds "
                      f"out of reach) takes {npass:.3f} s wall for {row['ticks']} ticks "
                      f"({npass / row['ticks'] * 1e3:.1f} ms a tick), "
                      f"{npass / e['wall_s']:.0%} of the {threads}-thread run's wall."]
    lines += ["", "x real time: simulated time / wall time (1 = real time); wall / simulated: "
              "its inverse, how many times slower than real time. Chip crossings: chip "
              "boundaries crossed by the spikes on their routes (|dx| + |dy| in chips of 64"
              " x 64 cores, placed in a row), a tick's total. SOP/s CPU: SOPs per second of"
              " this process's CPU time (less sensitive to other jobs on a shared machine)."
              " Speed-up: best engine SOP/s over Brian2's, same subprocess. Brian2 wall = "
              "its run alone (code generation and compilation excluded), the fastest of "
              "--brian2-repeats runs of the built binary. Engine: the fastest of at least "
              "--repeats runs and --min-time seconds of runs; general kernels: the same "
              "network on the kernels that also serve stochastic programs (the fast path "
              "off), counters compared. Peak RSS: after the fast-path runs, before the "
              "comparisons.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from snn.fileio import atomic_write_text
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, nargs="+", default=[16, 256, 1024, 4096])
    ap.add_argument("--ticks", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--synapses", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3, help="runs per setting (fastest kept)")
    ap.add_argument("--min-time", type=float, default=2.0,
                    help="engine: keep repeating a setting for at least this many seconds "
                         "(at most 500 runs), fastest kept")
    ap.add_argument("--brian2-repeats", type=int, default=3,
                    help="Brian2 runs of the built network (fastest kept)")
    ap.add_argument("--no-general", action="store_true",
                    help="skip the general-kernel comparison")
    ap.add_argument("--brian2-max-cores", type=int, default=256)
    ap.add_argument("--brian2-target", default="cpp_standalone")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per size")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--name", default="engine_speed")
    ap.add_argument("--render", metavar="JSON", default=None,
                    help="run nothing: rewrite the markdown twin of this results JSON")
    args = ap.parse_args(argv)
    if args.render:
        src = Path(args.render)
        atomic_write_text(src.with_suffix(".md"), to_markdown(json.loads(src.read_text())))
        return 0
    meta = dict(ticks=args.ticks, rate_hz=args.rate, synapses=args.synapses, seed=args.seed,
                machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
                cpus=os.cpu_count(), usable_cpus=len(os.sched_getaffinity(0)),
                loadavg=[round(x, 2) for x in os.getloadavg()],
                command="python benchmarks/engine_speed.py " + " ".join(argv or sys.argv[1:]),
                date=time.strftime("%Y-%m-%d %H:%M:%S"))
    sizes = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for C in args.cores:
        cfg = dict(cores=C, ticks=args.ticks, rate=args.rate, synapses=args.synapses,
                   seed=args.seed, threads=args.threads, brian2=C <= args.brian2_max_cores,
                   repeats=args.repeats, general=not args.no_general,
                   min_time=args.min_time, brian2_repeats=args.brian2_repeats,
                   brian2_target=args.brian2_target)
        t0 = time.perf_counter()
        row = derive(run_size(cfg, args.timeout))
        sizes.append(row)
        print(f"{C} cores done in {time.perf_counter() - t0:.0f} s: "
              f"{json.dumps(row)[:400]}", flush=True)
        res = dict(meta=meta, sizes=sizes)
        atomic_write_text(out / f"{args.name}.json", json.dumps(res, indent=1))
        atomic_write_text(out / f"{args.name}.md", to_markdown(res))
    print(to_markdown(dict(meta=meta, sizes=sizes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
