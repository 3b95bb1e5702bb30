"""The engine of two revisions on one benchmark network, alternating, on the same machine.

The machine these benchmarks run on is shared: the same code measured 1.3 to 1.5 s and, on a
quiet day, 0.68 s for a simulated second of a full chip. A speed claim between two versions
of the engine therefore needs both measured in one session, interleaved: this script
extracts the packages of each revision (``git archive``: ``snn``, ``cores``,
``converters``) into a temporary directory, and runs TrueNorth's benchmark network
(``random_program``) on each in turn, A B A B ..., each run in a fresh subprocess that
imports that revision's package (its own numba cache), warms up, then times the fastest of
``--repeats`` runs per thread count. Reported: each pair's times and the ratio B / A per
pair (the median is the figure to quote).

    python benchmarks/engine_ab.py --a 2967aa5 --b HEAD [--cores 4096] [--ticks 1000]
        [--pairs 3] [--threads 1 2] [--record none|full] [--name engine_ab]
      -> benchmarks/results/{name}.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PACKAGES = ("snn", "cores", "converters")  # setup.cfg: snn, snn.cores, snn.converters

CHILD = r"""
import importlib.util, json, sys, time
from pathlib import Path
src, cfg = Path(sys.argv[1]), json.loads(sys.argv[2])
def load_pkg(name, path):  # the revision's package, not the installed one
    spec = importlib.util.spec_from_file_location(name, path / "__init__.py",
                                                  submodule_search_locations=[str(path)])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, mod)
    spec.loader.exec_module(mod)
load_pkg("snn", src / "snn")
load_pkg("snn.cores", src / "cores")
load_pkg("snn.converters", src / "converters")
import numba
from snn.cores import engine
from snn.cores.random_network import random_program
assert engine.__file__.startswith(str(src)), engine.__file__
p = random_program(cfg["cores"], rate_hz=cfg["rate"], synapses=cfg["synapses"], seed=cfg["seed"])
prep = engine.prepare(p)
out = {}
for th in cfg["threads"]:
    numba.set_num_threads(min(th, numba.config.NUMBA_NUM_THREADS))
    engine.run_prepared(prep, 5, record=cfg["record"])
    runs = [engine.run_prepared(prep, cfg["ticks"], record=cfg["record"])
            for _ in range(cfg["repeats"])]
    best = min(runs, key=lambda r: r.wall_s)
    out[str(th)] = dict(wall_s=best.wall_s, spikes=best.total("spikes"), sops=best.total("sops"))
print("RESULT " + json.dumps(out))
"""


def extract(rev: str, into: Path) -> str:
    """The packages of revision ``rev`` under ``into``; returns the full commit hash."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                         capture_output=True, text=True)
    if sha.returncode:
        raise SystemExit(f"engine_ab: {rev!r} is not a commit of this repository "
                         f"({sha.stderr.strip()})")
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, *PACKAGES], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return sha.stdout.strip()


def run_once(src: Path, cache: Path, cfg: dict, timeout: float) -> dict:
    """One subprocess run of the benchmark network on the package under ``src``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(src), json.dumps(cfg)],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=src)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"engine_ab: the run on {src} failed:\n{proc.stderr[-2000:]}")


def to_markdown(res: dict) -> str:
    """The results table of ``main``."""
    cfg = res["config"]
    lines = [f"# Engine A/B: {res['a']['rev']} vs {res['b']['rev']}", "",
             f"TrueNorth's benchmark network, {cfg['cores']} cores, {cfg['ticks']} ticks, "
             f"{cfg['rate']} Hz, {cfg['synapses']} synapses, record "
             f"{cfg.get('record', 'none')}; A = {res['a']['rev']} "
             f"({res['a']['sha'][:10]}), B = {res['b']['rev']} ({res['b']['sha'][:10]}). "
             f"{res['machine']}, load average at start {res['load_avg'][0]:.1f} "
             f"({res['date']}). Each run: a fresh process on that revision's package, "
             f"the fastest of {cfg['repeats']} runs; pairs alternate A B, B A.", "",
             "| pair | threads | A wall (s) | B wall (s) | B / A | same spikes and SOPs |",
             "|---:|---:|---:|---:|---:|---|"]
    for row in res["pairs"]:
        lines.append(f"| {row['pair']} | {row['threads']} | {row['a_s']:.3f} | "
                     f"{row['b_s']:.3f} | {row['ratio']:.3f} | {row['same']} |")
    lines += ["", "| threads | median B / A | min | max | A median (s) | B median (s) |",
              "|---:|---:|---:|---:|---:|---:|"]
    for th, s in res["summary"].items():
        lines.append(f"| {th} | {s['median']:.3f} | {s['min']:.3f} | {s['max']:.3f} | "
                     f"{s['a_median_s']:.3f} | {s['b_median_s']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True, help="the base revision (a commit, tag or branch)")
    ap.add_argument("--b", default="HEAD", help="the revision compared with it")
    ap.add_argument("--cores", type=int, default=4096)
    ap.add_argument("--ticks", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--synapses", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--record", choices=("none", "full"), default="none",
                    help="the spike record each run keeps")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds for one run")
    ap.add_argument("--name", default="engine_ab")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    from snn.fileio import atomic_write_text, check_writable
    out = Path(args.out)
    check_writable("--out", out / f"{args.name}.json")
    cfg = dict(cores=args.cores, ticks=args.ticks, rate=args.rate, synapses=args.synapses,
               seed=args.seed, threads=args.threads, repeats=args.repeats, record=args.record)
    res = dict(config=cfg, machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
               load_avg=list(os.getloadavg()), date=time.strftime("%Y-%m-%d"), pairs=[])
    with tempfile.TemporaryDirectory(prefix="engine_ab_") as tmp:
        side = {}
        for key, rev in (("a", args.a), ("b", args.b)):
            src = Path(tmp) / key
            res[key] = dict(rev=rev, sha=extract(rev, src))
            side[key] = (src, Path(tmp) / f"cache_{key}")
            run_once(*side[key], dict(cfg, ticks=5, repeats=1), args.timeout)  # compile
        for k in range(args.pairs):
            order = ("a", "b") if k % 2 == 0 else ("b", "a")
            got = {key: run_once(*side[key], cfg, args.timeout) for key in order}
            for th in map(str, args.threads):
                a, b = got["a"][th], got["b"][th]
                res["pairs"].append(dict(
                    pair=k, threads=int(th), a_s=a["wall_s"], b_s=b["wall_s"],
                    ratio=b["wall_s"] / a["wall_s"],
                    same=a["spikes"] == b["spikes"] and a["sops"] == b["sops"]))
                print(f"pair {k}, {th} thread(s): A {a['wall_s']:.3f} s, B {b['wall_s']:.3f} s",
                      flush=True)
    res["summary"] = {}
    for th in args.threads:
        rows = [r for r in res["pairs"] if r["threads"] == th]
        ratio = np.array([r["ratio"] for r in rows])
        res["summary"][str(th)] = dict(
            median=float(np.median(ratio)), min=float(ratio.min()), max=float(ratio.max()),
            a_median_s=float(np.median([r["a_s"] for r in rows])),
            b_median_s=float(np.median([r["b_s"] for r in rows])))
    atomic_write_text(out / f"{args.name}.json", json.dumps(res, indent=1))
    atomic_write_text(out / f"{args.name}.md", to_markdown(res))
    print(to_markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
