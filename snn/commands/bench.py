"""``snn bench [SUITE]``: run the benchmark suite (resumable; local pool or Dask)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "run a benchmark suite: accuracy, SOPs, energy, latency per row; Pareto fronts"
DEFAULT_SUITE = "benchmarks/suite.toml"

EPILOG = """\
SUITE is a TOML file of models and [[grid]] tables (dataset x model x core preset x weight
precision x ticks); see benchmarks/suite.toml. Results go to OUT/suite.json, OUT/suite.md,
OUT/pareto_energy.png and OUT/pareto_latency.png, rewritten after every row. A rerun skips the
rows already finished with the same recipe (model spec, suite settings, the converter's and
the compiler's defaults and code, package version); Ctrl-C stops and keeps them.

examples:
  snn bench                                   # benchmarks/suite.toml, local process pool
  snn bench benchmarks/suite.toml --only digits-mlp --workers 2
  snn bench --scheduler tcp://10.0.0.5:8786   # rows as tasks on a Dask cluster
"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("suite", nargs="?", default=DEFAULT_SUITE, metavar="SUITE",
                        help=f"suite file (default {DEFAULT_SUITE})")
    parser.add_argument("--out", metavar="DIR",
                        help="results folder (default: results/ next to the suite file)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address (tcp://host:8786); default: local pool")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local worker processes (default: half the CPUs; 0: in this "
                             "process)")
    parser.add_argument("--only", metavar="MODEL[,MODEL...]",
                        help="run only the rows of these models")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from snn.bench_suite import load_results, load_suite, run_suite
    from snn.errors import ConfigError
    from snn.fileio import check_output_dir

    suite = load_suite(args.suite)
    out = Path(args.out) if args.out else suite.path.parent / "results"
    rows = suite.rows
    if args.only:
        want = {m.strip() for m in args.only.split(",")}
        unknown = sorted(want - set(suite.models))
        if unknown:
            raise ConfigError(f"--only {unknown[0]!r}: no such model in {args.suite}; models: "
                              f"{', '.join(suite.models)}")
        rows = [r for r in rows if r.model in want]
    if args.workers is not None and args.workers < 0:
        raise ConfigError("--workers must be >= 0")
    if args.list:
        done = load_results(out)
        for r in rows:
            mark = "done" if done.get(r.key, {}).get("status") == "ok" else "todo"
            print(f"{mark}  {r.key}  ({suite.models[r.model].dataset})")
        return 0
    check_output_dir("--out", out, {"SUITE": args.suite})  # before any row runs
    t0 = time.perf_counter()
    results = run_suite(suite, out, scheduler=args.scheduler, workers=args.workers,
                        progress=not args.no_progress, rows=rows)
    keys = {r.key for r in rows}
    mine = [r for r in results if r["key"] in keys]
    ok = sum(r.get("status") == "ok" for r in mine)
    print(f"{ok}/{len(mine)} rows finished in {time.perf_counter() - t0:.1f} s; results: "
          f"{out / 'suite.md'}, {out / 'suite.json'}, {out / 'pareto_energy.png'}, "
          f"{out / 'pareto_latency.png'}")
    for r in mine:
        if r.get("status") != "ok":
            print(f"  not finished: {r['key']}: {r.get('error', r.get('status'))}",
                  file=sys.stderr)
    return 0 if ok == len(mine) else 1
