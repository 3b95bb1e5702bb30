"""The accuracy/energy frontier of committed core programs beside IBM's published Eedn points.

    python benchmarks/frontier.py [--spec benchmarks/frontier.toml] [--force] [--only MODEL]

For each ``[[point]]`` of the spec it runs ``snn eval PROGRAM --data DATASET --ticks T --json
benchmarks/results/frontier/MODEL_tT.json`` (kept: a rerun reuses a run whose JSON matches the
point; ``--force`` reruns; the points of one program and data are one run, ``--ticks
T1,T2,..``, whose JSON each of them keeps) and prices the run's counters with the ``truenorth`` and
``truenorth-sop`` presets in both accountings (``snn.cores.hardware.energy.ACCOUNTINGS``). Writes
``benchmarks/results/frontier.json`` (a list of points; ``j_per_frame`` and
``frames_per_s_per_w`` are streaming / truenorth, the accounting IBM's Eedn figures use) and
``frontier.md`` (tables per dataset with Eedn's points as rows, Pareto-optimal points marked).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tomllib

from snn.cores.hardware.energy import COUNTER_KEYS, EnergyModel, accountings
from snn.eedn import EEDN_FRAMES_PER_S_PER_W, EEDN_POINTS, PNAS2016
from snn.errors import ConfigError
from snn.fileio import atomic_write_json, atomic_write_text
from snn.plots import pareto_front

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "frontier.toml"
RESULTS = ROOT / "benchmarks" / "results"
PRESETS = ("truenorth", "truenorth-sop")
REQUIRED = {"model": str, "dataset": str, "program": str, "ticks": int}
OPTIONAL = {"range": str, "split": str, "data_dir": str, "calibration": str}
DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "digits": "digits"}


def load_spec(path: Path) -> list[dict]:
    """The spec's points, checked (ConfigError naming the point and the key)."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable TOML file ({exc})") from exc
    points = doc.get("point")
    if not isinstance(points, list) or not points:
        raise ConfigError(f"{path}: no [[point]] tables (each: model, dataset, program, ticks)")
    for i, p in enumerate(points, 1):
        where = f"{path}: point {i}"
        for key, typ in REQUIRED.items():
            if not isinstance(p.get(key), typ) or isinstance(p.get(key), bool):
                raise ConfigError(f"{where}: {key!r} missing or not a {typ.__name__} "
                                  "(need model, dataset, program, ticks)")
        unknown = sorted(set(p) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known: "
                              f"{sorted(REQUIRED) + sorted(OPTIONAL)}")
        if p["ticks"] < 1:
            raise ConfigError(f"{where}: ticks must be >= 1, got {p['ticks']}")
        if not (ROOT / p["program"]).is_file():
            raise ConfigError(f"{where}: program {p['program']!r} not found (a path from the "
                              "repository root; the spec's comment says how it was compiled)")
    keys = [(p["model"], p["ticks"]) for p in points]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        raise ConfigError(f"{path}: model {dup[0]!r} at ticks {dup[1]} appears twice")
    return points


def _from_root(path: Path) -> str:
    """The path from the repository root (absolute where it lies outside)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run_json(point: dict) -> Path:
    return RESULTS / "frontier" / f"{point['model']}_t{point['ticks']}.json"


def _reusable(point: dict, path: Path) -> bool:
    """Whether the kept run JSON is of this point (program, dataset, range, ticks)."""
    if not path.exists():
        return False
    doc = json.loads(path.read_text())
    ticks_ok = (str(point["ticks"]) in {str(t) for t in doc.get("accuracy", {})}
                if "counters" in doc else doc.get("stream_ticks", point["ticks"]) == point["ticks"])
    return (doc.get("network") == point["program"] and not doc.get("interrupted")
            and doc.get("dataset") == point["dataset"] and ticks_ok
            and ("range" not in point or doc.get("range") == point["range"]))


def run_key(point: dict) -> tuple:
    """Points with the same key are one ``snn eval`` run (its ``--ticks`` lists them all)."""
    return tuple(point.get(k) for k in ("program", "dataset", "range", "split", "data_dir"))


def run_point(point: dict, force: bool, siblings: list[dict] = ()) -> dict:
    """The ``snn eval`` JSON of one point (run unless a matching one is kept). A run also
    takes the tick counts of ``siblings`` (points of the same ``run_key``: one run of the
    largest T gives every smaller T exactly, ``snn.cores.evaluate``) and leaves its JSON
    as theirs too."""
    out = run_json(point)
    if not force and _reusable(point, out):
        return json.loads(out.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    ticks = sorted({point["ticks"], *(q["ticks"] for q in siblings)})
    snn = Path(sys.executable).parent / "snn"
    cmd = [str(snn if snn.exists() else "snn"), "eval", point["program"], "--data",
           point["dataset"], "--ticks", ",".join(map(str, ticks)), "--json", str(out)]
    for key in ("range", "split", "data_dir"):
        if key in point:
            cmd += [f"--{key.replace('_', '-')}", point[key]]
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
    text = out.read_text()
    for q in siblings:
        atomic_write_text(run_json(q), text)
    return json.loads(text)


def run_counts(point: dict, doc: dict) -> dict:
    """Totals of the run's counters, frames, cores, input and run ticks, accuracy."""
    T = int(point["ticks"])
    n = int(doc["frames"])
    if "counters" in doc:  # a core program: counters are means per frame for each T
        per = doc["counters"][str(T)]
        cores, lat = int(doc["cores"]), int(doc["latency_ticks"])
        tin, trun, acc = T, T + lat, float(doc["accuracy"][str(T)])
    else:  # a frame-mode binarized program: one run length, a frame every stream_ticks
        per = doc["per_sample"]
        cores, trun = int(doc["n_cores"]), int(doc["ticks"][0])
        tin = int(doc.get("stream_ticks", T))
        (acc,) = [float(a) for a in doc["accuracy"].values()]
        lat = trun - tin
        if tin != T:
            raise ConfigError(f"point {point['model']}: the program takes a frame every "
                              f"{tin} ticks (its readout ticks), the spec says ticks = {T}")
    totals = {k: int(round(float(per[k]) * n)) for k in COUNTER_KEYS}
    return {"totals": totals, "frames": n, "cores": cores, "input_ticks": tin,
            "run_ticks": trun, "pipeline_ticks": lat, "accuracy": acc}


def price(counts: dict) -> dict:
    """{preset: {accounting: {j_per_frame, frames_per_s_per_w, watts, ticks_per_frame}}}."""
    out = {}
    for preset in PRESETS:
        both = accountings(EnergyModel.preset(preset), counts["totals"], counts["input_ticks"],
                           counts["run_ticks"], counts["cores"], n_frames=counts["frames"])
        out[preset] = {
            name: {"j_per_frame": e.j_per_frame, "frames_per_s_per_w": e.frames_per_s_per_w,
                   "watts": e.watts,
                   "ticks_per_frame": counts["input_ticks"] if name == "streaming"
                   else counts["run_ticks"]}
            for name, e in both.items()}
    return out


def make_point(point: dict, doc: dict) -> dict:
    c = run_counts(point, doc)
    e = price(c)
    n = c["frames"]
    st = e["truenorth"]["streaming"]
    return {
        "model": point["model"], "dataset": point["dataset"], "program": point["program"],
        "ticks": int(point["ticks"]), "accuracy": c["accuracy"],
        "j_per_frame": st["j_per_frame"], "frames_per_s_per_w": st["frames_per_s_per_w"],
        "accounting": "streaming", "preset": "truenorth",
        "latency_accounting": e["truenorth"]["latency"],
        "truenorth_sop": e["truenorth-sop"],
        "cores": c["cores"], "pipeline_ticks": c["pipeline_ticks"],
        "sops_per_frame": c["totals"]["sops"] / n, "spikes_per_frame": c["totals"]["spikes"] / n,
        "hops_per_frame": c["totals"]["hops"] / n, "frames": n,
        "split": point.get("split", "test"), "range": doc.get("range", "all"),
        "calibration": point.get("calibration", ""), "run": _from_root(run_json(point)),
        "tick_s": 1e-3,
    }


def mark_pareto(points: list[dict], key: str = "j_per_frame") -> set[int]:
    """Indices of ``points`` (dicts with accuracy and ``key``) on the front of their dataset."""
    on = set()
    for ds in {p["dataset"] for p in points}:
        idx = [i for i, p in enumerate(points) if p["dataset"] == ds]
        cost = np.array([points[i][key] for i in idx])
        acc = np.array([points[i]["accuracy"] for i in idx])
        on |= {idx[j] for j in pareto_front(cost, acc)}
    return on


def eedn_rows() -> list[dict]:
    return [{"model": p.name, "dataset": p.dataset, "accuracy": p.accuracy,
             "j_per_frame": p.j_per_frame, "frames_per_s_per_w": p.frames_per_s_per_w,
             "source": p.source, "note": p.note, "eedn": True} for p in EEDN_POINTS]


def _uj(j: float) -> str:
    v = j * 1e6
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def ranking_sentence(ours: list[dict]) -> str:
    """How the order by energy per frame (streaming) changes under truenorth-sop."""
    parts = []
    for ds in dict.fromkeys(p["dataset"] for p in ours):
        pts = [p for p in ours if p["dataset"] == ds]
        a = [f"{p['model']} T={p['ticks']}" for p in sorted(pts, key=lambda p: p["j_per_frame"])]
        b = [f"{p['model']} T={p['ticks']}" for p in sorted(
            pts, key=lambda p: p["truenorth_sop"]["streaming"]["j_per_frame"])]
        ratio = [p["truenorth_sop"]["streaming"]["j_per_frame"] / p["j_per_frame"] for p in pts]
        front_a = {i for i in mark_pareto(pts)}
        sop = [dict(p, j_per_frame=p["truenorth_sop"]["streaming"]["j_per_frame"]) for p in pts]
        front_b = {i for i in mark_pareto(sop)}
        same = "the same order" if a == b else "a different order: " + " < ".join(b)
        fr = ("the same Pareto points" if front_a == front_b else "Pareto points " + ", ".join(
            f"{pts[i]['model']} T={pts[i]['ticks']}" for i in sorted(front_b)))
        parts.append(f"{DATASET_TITLES.get(ds, ds)}: each point's energy x{min(ratio):.2f} to "
                     f"x{max(ratio):.2f}; {same} by energy; {fr} among ours")
    return ("Under `truenorth-sop` (2.5 pJ per SOP, the other terms refitted), streaming "
            "accounting. " + ". ".join(parts) + ".")


def to_markdown(ours: list[dict]) -> str:
    front = mark_pareto(ours + eedn_rows())
    rows = ours + eedn_rows()
    md = ["# Frontier: accuracy vs energy per frame", "",
          "Written by `python benchmarks/frontier.py` from `benchmarks/frontier.toml`. Ours: "
          "committed core programs run by `snn eval` on the numba engine (CPU), every count "
          "from the engine's counters; energy modelled, not measured: preset `truenorth` "
          "(0.775 V fit, 1 ms tick), **streaming accounting** (a new frame every T input "
          "ticks through the pipelined network, each frame charged T ticks of static and "
          "per-tick energy plus its own SOPs, spikes and hops), which is how IBM measured "
          "Eedn on the chip. The latency accounting charges the T + pipeline ticks a frame "
          "runs alone. For frame-mode binarized programs T is the readout's ticks, their "
          "slowest pipeline stage (the frame enters in one tick; hidden layers take one tick "
          "each). Accuracy on "
          "held-out frames (the calibration column says which frames set the scales). "
          "Eedn rows: published figures (chips measured), not rerun here. ★ = Pareto-optimal "
          "among the rows of its dataset (ours and Eedn's, by streaming µJ/frame).", ""]
    cols = ("| point | T | accuracy % | µJ/frame streaming | frames/s/W streaming | "
            "µJ/frame latency | frames/s/W latency | µJ/frame streaming, truenorth-sop | "
            "cores | SOPs/frame | spikes/frame | frames (calibration) | Pareto |")
    for ds in dict.fromkeys(p["dataset"] for p in rows):
        md += [f"## {DATASET_TITLES.get(ds, ds)}", "", cols, "|" + "---|" * 13]
        for i, r in sorted([(i, r) for i, r in enumerate(rows) if r["dataset"] == ds],
                           key=lambda ir: ir[1]["j_per_frame"]):
            star = "★" if i in front else ""
            if r.get("eedn"):
                md.append(f"| {r['model']} | — | {100 * r['accuracy']:.2f} | "
                          f"{_uj(r['j_per_frame'])} | {r['frames_per_s_per_w']:,.0f} | — | — | "
                          f"— | — | — | — | {r['note']}; {r['source']} | {star} |")
                continue
            lat, sop = r["latency_accounting"], r["truenorth_sop"]["streaming"]
            md.append(
                f"| {r['model']} | {r['ticks']} | {100 * r['accuracy']:.2f} | "
                f"{_uj(r['j_per_frame'])} | {r['frames_per_s_per_w']:,.0f} | "
                f"{_uj(lat['j_per_frame'])} | {lat['frames_per_s_per_w']:,.0f} | "
                f"{_uj(sop['j_per_frame'])} | {r['cores']} | {r['sops_per_frame']:,.0f} | "
                f"{r['spikes_per_frame']:,.0f} | {r['frames']} test {r['range']} "
                f"({r['calibration']}) | {star} |")
        md.append("")
    above = [f"{p['model']} T={p['ticks']} ({p['frames_per_s_per_w']:,.0f})" for p in ours
             if p["frames_per_s_per_w"] > EEDN_FRAMES_PER_S_PER_W]
    md += ["## Eedn over eight datasets (PNAS 2016)", "",
           f"{PNAS2016}: 1,200-2,600 frames/s at 25-275 mW, effectively > "
           f"{EEDN_FRAMES_PER_S_PER_W:,.0f} frames/s/W (= < {_uj(1 / EEDN_FRAMES_PER_S_PER_W)} "
           "µJ/frame) on eight datasets. The paper's per-dataset table was not available to "
           "us (searched; not found), so only this bound is used, not per-dataset points. "
           "Our points "
           "above it (streaming, truenorth): " + (", ".join(above) or "none") + ".", "",
           "## Under `truenorth-sop`", "", ranking_sentence(ours), ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", type=Path, default=SPEC)
    ap.add_argument("--force", action="store_true", help="rerun points whose JSON is kept")
    ap.add_argument("--only", default=None, help="run only this model's points (the tables "
                                                  "still list every point with a run)")
    args = ap.parse_args(argv)
    points = load_spec(args.spec)
    ours, ran = [], set()
    for p in points:
        if args.only and p["model"] != args.only and not _reusable(p, run_json(p)):
            continue
        force = (args.force and (not args.only or p["model"] == args.only)
                 and run_key(p) not in ran)  # a sibling's run this time covered it
        siblings = [q for q in points if q is not p and run_key(q) == run_key(p)
                    and (force or not _reusable(q, run_json(q)))]
        doc = run_point(p, force, siblings)
        ran.add(run_key(p))
        ours.append(make_point(p, doc))
        r = ours[-1]
        print(f"{r['model']} T={r['ticks']}: {100 * r['accuracy']:.2f} %, "
              f"{_uj(r['j_per_frame'])} µJ/frame streaming "
              f"({_uj(r['latency_accounting']['j_per_frame'])} latency)", flush=True)
    atomic_write_json(RESULTS / "frontier.json", ours)
    atomic_write_text(RESULTS / "frontier.md", to_markdown(ours))
    print(f"wrote {RESULTS / 'frontier.json'} and frontier.md ({len(ours)} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
