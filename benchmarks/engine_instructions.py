"""Instructions the engine's fast path executes per tick, counted exactly by valgrind.

Wall time on a shared machine moves by 10-30 % between runs; the number of instructions
a tick executes does not. For each size, a subprocess builds TrueNorth's benchmark network
(as engine_speed.py) and runs --ticks ticks of one frame on one thread under ``valgrind
--tool=callgrind --dump-instr=yes``; the instructions counted inside the single-frame
kernel's machine code (``fast_frame_serial`` with everything it inlines: the whole tick)
are divided by the ticks, spikes and SOPs. The kernel is compiled natively first, for
this CPU named explicitly (NUMBA_CPU_NAME and NUMBA_CPU_FEATURES), so that the run under
valgrind (which reports another CPU) loads the same machine code from numba's cache
instead of compiling for tens of minutes: the code counted is the code that runs here.
(A CPU with instructions valgrind cannot run, e.g. AVX-512, needs NUMBA_CPU_NAME=haswell.)
Instructions are not time (cache misses and mispredicted branches cost cycles, not
instructions), but at 16 cores, where a tick's data stays in cache, they are what the
tick's time follows; use the numbers to compare versions of the kernels.

    python benchmarks/engine_instructions.py [--cores 16 256] [--ticks 20000 1000]
        [--out benchmarks/results]

Needs valgrind on the PATH; 1-5 minutes per size on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import ctypes, json, sys
import numba
from snn.cores import engine
from snn.cores.engine import _fastpath
from snn.cores.random_network import random_program
numba.set_num_threads(1)
cfg = json.loads(sys.argv[1])
p = random_program(cfg["cores"], rate_hz=20, synapses=128, seed=cfg["seed"])
prep = engine.prepare(p)
engine.run_prepared(prep, 2)  # compiles (or loads) the kernel
(cres,) = _fastpath.fast_frame_serial.overloads.values()
addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
size = 1 << 20
for line in open("/proc/self/maps"):  # the kernel's code: up to the end of its mapping
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    if lo <= addr < hi:
        size = min(size, hi - addr)
r = engine.run_prepared(prep, cfg["ticks"])
print("RESULT " + json.dumps(dict(addr=addr, size=size, spikes=r.total("spikes"),
                                  sops=r.total("sops"), neurons=p.n_cores * p.n_neurons)))
"""


def callgrind_costs(path: Path, lo: int, hi: int) -> int:
    """Instructions (Ir) that a callgrind output file (--dump-instr=yes) charges to code
    addresses in [lo, hi), without the inclusive costs of calls made from there."""
    total = 0
    last = 0
    after_calls = False
    for line in path.read_text().splitlines():
        if not line or line[0].isalpha():
            after_calls = after_calls or line.startswith("calls=")
            continue
        parts = line.split()
        pos = parts[0]
        if pos.startswith("0x"):
            addr = int(pos, 16)
        elif pos[0] in "+-":
            addr = last + int(pos, 0)
        elif pos == "*":
            addr = last
        else:
            continue
        last = addr
        if after_calls:  # the line after calls= holds the callee's inclusive cost
            after_calls = False
            continue
        if lo <= addr < hi and len(parts) >= 3:
            total += int(parts[2])
    return total


def count_size(cores: int, ticks: int, seed: int, timeout: float) -> dict:
    """One size: compiled by a native run, then counted under callgrind."""
    import llvmlite.binding as llvm
    env = dict(os.environ)
    env.setdefault("NUMBA_CPU_NAME", llvm.get_host_cpu_name())
    env.setdefault("NUMBA_CPU_FEATURES", llvm.get_host_cpu_features().flatten())
    subprocess.run([sys.executable, "-c", CHILD, json.dumps(dict(cores=cores, ticks=2,
                                                                 seed=seed))],
                   check=True, capture_output=True, timeout=timeout, env=env)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cfg = json.dumps(dict(cores=cores, ticks=ticks, seed=seed))
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-instr=yes",
             f"--callgrind-out-file={out}", sys.executable, "-c", CHILD, cfg],
            capture_output=True, text=True, timeout=timeout, env=env)
        found = re.search(r"^RESULT (.*)$", proc.stdout, re.M)
        if proc.returncode != 0 or not found:
            raise RuntimeError(f"{cores} cores: the run under valgrind failed "
                               f"(exit {proc.returncode}): {proc.stderr[-2000:]}")
        res = json.loads(found.group(1))
        instr = callgrind_costs(out, res["addr"], res["addr"] + res["size"])
    return dict(cores=cores, neurons=res["neurons"], ticks=ticks, spikes=res["spikes"],
                sops=res["sops"], instructions=instr, per_tick=instr / ticks,
                per_spike=instr / max(res["spikes"], 1), per_sop=instr / max(res["sops"], 1))


def to_markdown(rows: list[dict], meta: dict) -> str:
    lines = ["# Engine instructions per tick (fast path, one frame, one thread)", "",
             f"TrueNorth's benchmark network (20 Hz, 128 synapses/neuron), counted by "
             f"valgrind {meta['valgrind']} (callgrind) inside the single-frame kernel. "
             f"Machine: {meta['machine']}. Command: `{meta['command']}`.", "",
             "| cores | neurons | ticks | spikes | SOPs | instructions / tick "
             "| / spike | / SOP |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['cores']} | {r['neurons']} | {r['ticks']} | {r['spikes']} "
                     f"| {r['sops']:.3g} | {r['per_tick']:.0f} | {r['per_spike']:.0f} "
                     f"| {r['per_sop']:.2f} |")
    lines += ["", "Instructions, not time: a tick's cache misses and mispredicted branches "
              "cost cycles the count does not show (see engine_speed.md for time)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, nargs="+", default=[16, 256])
    ap.add_argument("--ticks", type=int, nargs="+", default=[20000, 1000],
                    help="ticks per size (one value: every size)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per size")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--name", default="engine_instructions")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("engine_instructions: valgrind is not on the PATH (apt-get install valgrind)",
              file=sys.stderr)
        return 2
    ticks = args.ticks if len(args.ticks) == len(args.cores) else [args.ticks[0]] * len(
        args.cores)
    rows = []
    for cores, t in zip(args.cores, ticks, strict=True):
        rows.append(count_size(cores, t, args.seed, args.timeout))
        print(f"{cores} cores: {rows[-1]['per_tick']:.0f} instructions per tick", flush=True)
    version = subprocess.run(["valgrind", "--version"], capture_output=True,
                             text=True).stdout.strip()
    meta = dict(valgrind=version, machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
                command="python benchmarks/engine_instructions.py " + " ".join(
                    argv if argv is not None else sys.argv[1:]))
    from snn.fileio import atomic_write_json, atomic_write_text
    out = Path(args.out)
    atomic_write_json(out / f"{args.name}.json", dict(meta=meta, rows=rows))
    atomic_write_text(out / f"{args.name}.md", to_markdown(rows, meta))
    print(to_markdown(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
