"""Both acceptance models on cores: cores, chips, ticks/frame, SOPs/frame, energy/frame,
frames/s/W and simulated frames per wall second (engine on this machine).

Usage: python benchmarks/cores_accuracy.py [--model mlp fashion] [--frames N] [--ticks T]
Writes benchmarks/results/cores.{json,md} (merged per model). ``benchmarks/decomposition.py``
writes the same rows from its own core run. Split layers' relays are calibrated on
``decomposition.calibration_frames`` (never held-out frames).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def cores_row(program, ev: dict, frames: int) -> dict:
    """One results row from a program and its ``evaluate_program`` dict (largest T)."""
    t = max(int(k) for k in ev["accuracy"])
    get = (lambda d: d[t] if t in d else d[str(t)])  # noqa: E731
    row = {"frames": frames, "ticks": t, "core_ticks_per_frame": get(ev["core_ticks"]),
           "accuracy": get(ev["accuracy"]), "cores": ev["cores"], "chips": ev["chips"],
           "sops_per_frame": get(ev["sops_per_frame"]),
           "spikes_per_frame": get(ev["spikes_per_frame"]),
           "hops_per_frame": get(ev["counters"])["hops"],
           "engine_wall_s": ev["wall_s"],
           "sim_frames_per_wall_s": frames * len(ev["accuracy"]) / max(ev["wall_s"], 1e-9),
           "weight_bits": int(program.extras["weight_bits"])}
    if "energy" in ev:
        e = get(ev["energy"])
        row["energy_j_per_frame"] = e["j_per_frame"]
        row["frames_per_s_per_w"] = e["frames_per_s_per_w"]
        row["energy_preset"] = e.get("preset")
    return row


def cores_markdown(name: str, r: dict) -> str:
    en = (f"{r['energy_j_per_frame']:.3g} J | {r['frames_per_s_per_w']:.4g}"
          if "energy_j_per_frame" in r else "n/a | n/a")
    return ("| model | frames | accuracy | cores | chips | weight bits | ticks/frame (core) | "
            "SOPs/frame | energy/frame | frames/s/W | sim frames/wall s |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n"
            f"| {name} | {r['frames']} | {100 * r['accuracy']:.2f}% | {r['cores']} | "
            f"{r['chips']} | {r['weight_bits']} | {r['core_ticks_per_frame']} | "
            f"{r['sops_per_frame']:.4g} | {en} | {r['sim_frames_per_wall_s']:.3g} |\n")


def main(argv: list[str] | None = None) -> int:
    from decomposition import RESULTS, _merge_write, calibration_frames, load_model_data

    from snn.cores.compiler import compile
    from snn.cores.evaluate import evaluate_program
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", nargs="+", default=["mlp", "fashion"])
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--ticks", type=int, default=200)
    ap.add_argument("--relays", choices=["signed", "biased"], default="signed")
    args = ap.parse_args(argv)
    for name in args.model:
        net, xs, ys, _ = load_model_data(name, args.frames)
        prog = compile(net, calibration=calibration_frames(name), relays=args.relays)
        ev = evaluate_program(prog, xs, ys, [args.ticks], progress=True)
        row = cores_row(prog, ev, len(ys))
        _merge_write(RESULTS / "cores.json", name, row, RESULTS / "cores.md", cores_markdown)
        print(cores_markdown(name, row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
