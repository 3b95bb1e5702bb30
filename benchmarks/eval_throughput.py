"""`snn eval` on cores as a user runs it: whole-command wall time against the engine and
encoding time the command itself reports, peak memory, frames/s, accuracy.

Each case converts and compiles its model with the CLI, then times ``snn eval PROGRAM ...
--json`` as a child process (wall clock of the whole command, numba cache warm: one small
eval runs first) and reads the child's peak RSS from ``getrusage``. The ratio ``total wall /
(engine + encoding)`` is measured in one run, so the shared machine's load cancels out.

Usage: python benchmarks/eval_throughput.py [--case keras-mlp fashion-cnn] [--frames N]
Writes benchmarks/results/eval_throughput.{json,md}.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = HERE / "results"
SNN = [str(Path(sys.executable).with_name("snn"))]

CASES = {
    "keras-mlp": {
        "convert": [str(DATA / "models" / "keras_mlp_mnist.onnx"), "--data", "mnist",
                    "--data-dir", str(DATA / "mnist"), "--calib", "0:500",
                    "--pixel-scale", "1"],
        "eval": ["--data", "mnist", "--data-dir", str(DATA / "mnist")],
        "start": 500, "frames": 2000, "ticks": "32,64",
        "targets": "wall <= 1.3x (engine + encoding), peak RSS <= 1 GB",
    },
    "fashion-cnn": {
        "convert": [str(HERE / "models" / "fashion_cnn_avg.pt"), "--data", "fashion-mnist",
                    "--split", "train", "--calib", "0:500", "--v-init", "0.5"],
        "eval": ["--data", "fashion-mnist"],
        "start": 1000, "frames": 1000, "ticks": "100",
        "targets": "peak RSS <= 2 GB whatever the frame count",
    },
}


def _child(args: list[str]) -> tuple[float, float]:
    """Run ``snn ARGS`` under /usr/bin/time (stdout/stderr discarded); (wall s, its peak
    RSS in MB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *SNN, *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        wall = time.perf_counter() - t0
        return wall, int(rss.read().strip().splitlines()[-1]) / 1024


def run_case(name: str, frames: int | None, work: Path) -> dict:
    c = CASES[name]
    net, prog, out = work / f"{name}-net.npz", work / f"{name}-prog.npz", work / f"{name}.json"
    _child(["convert", *c["convert"], "--out", str(net)])
    _child(["compile", str(net), "--out", str(prog)])
    n = frames or c["frames"]
    rng = f"{c['start']}:{c['start'] + n}"
    warm = f"{c['start']}:{c['start'] + 8}"
    _child(["eval", str(prog), *c["eval"], "--range", warm, "--ticks", c["ticks"]])
    wall, rss = _child(["eval", str(prog), *c["eval"], "--range", rng, "--ticks", c["ticks"],
                        "--json", str(out)])
    ev = json.loads(out.read_text())
    inner = ev["wall_s"] + ev["encode_s"]
    return {"case": name, "frames": ev["frames"], "range": rng, "ticks": c["ticks"],
            "cores": ev["cores"], "accuracy": ev["accuracy"],
            "command_wall_s": wall, "engine_s": ev["wall_s"], "encode_s": ev["encode_s"],
            "evaluate_s": ev["total_s"], "wall_over_engine_and_encoding": wall / inner,
            "evaluate_over_engine_and_encoding": ev["total_s"] / inner,
            "peak_rss_mb": rss, "frames_per_s": ev["frames"] / wall,
            "sops_per_s": ev["sops_per_s"], "engine": ev["engine"], "targets": c["targets"]}


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# `snn eval` on cores: throughput and memory",
        "",
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, numba threads "
        f"{meta['threads']}; 1-minute load average {meta['load_average_at_end']:.1f} at the "
        "end: the machine is shared, so absolute times vary; the ratios are measured in one "
        "run), by `python benchmarks/eval_throughput.py`. Wall: the whole "
        "`snn eval` command (start-up, data loading, compiling nothing: numba's cache is "
        "warm); engine and encoding: as the command's JSON reports them.",
        "",
        "| case | frames | ticks | cores | accuracy | command wall | engine + encoding | "
        "wall / (engine + enc.) | peak RSS | frames/s | engine SOP/s |",
        "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        acc = ", ".join(f"{t}: {100 * a:.2f}%" for t, a in r["accuracy"].items())
        lines.append(
            f"| {r['case']} | {r['frames']} | {r['ticks']} | {r['cores']} | {acc} | "
            f"{r['command_wall_s']:.1f} s | {r['engine_s'] + r['encode_s']:.1f} s | "
            f"{r['wall_over_engine_and_encoding']:.2f}x | {r['peak_rss_mb']:.0f} MB | "
            f"{r['frames_per_s']:.1f} | {r['sops_per_s'] / 1e6:.0f} M |")
    lines += ["", "Targets (issue 16): " + "; ".join(f"{r['case']}: {r['targets']}"
                                                     for r in rows), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--frames", type=int, default=None)
    args = ap.parse_args(argv)
    import numba

    from snn.fileio import atomic_write_json, atomic_write_text
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.case:
            rows.append(run_case(name, args.frames, Path(tmp)))
            print(json.dumps(rows[-1]))
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or
            platform.machine(), "cpus": os.cpu_count(), "threads": numba.get_num_threads(),
            "load_average_at_end": os.getloadavg()[0]}
    atomic_write_json(RESULTS / "eval_throughput.json", {"meta": meta, "rows": rows})
    atomic_write_text(RESULTS / "eval_throughput.md", markdown(rows, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
