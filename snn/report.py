"""Report: accuracy next to SOPs, spikes, hops and energy of one real run (format
``snn-report/1``).

Every count comes from the engine's counters of the run; derived figures (energy, power,
GSOP/s/W, J/frame, frames/s/W) apply an :class:`~snn.cores.hardware.energy.EnergyModel` to them. A
field that does not come from the run's counters is named in ``estimated`` with the reason.
Written as JSON (machine), Markdown (people) and a short table for the command line.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from snn.errors import ConfigError, FormatError
from snn.fileio import atomic_write_text

REPORT_FORMAT = "snn-report/1"


@dataclass
class Report:
    """Totals over all frames unless the name says per frame. Units: J, W, s, ms."""

    ticks: int  # ticks per frame
    n_frames: int
    tick_s: float  # tick period (s)
    cores: int
    chips: int
    sops: int
    spikes: int
    hops: int
    chip_crossings: int
    input_events: int
    energy_j: float  # latency accounting (as the next four): each frame charged its run
    power_w: float
    gsops_per_w: float
    j_per_frame: float
    frames_per_s_per_w: float
    latency_ticks: int  # ticks each frame ran (its answer is read after them)
    latency_ms: float
    wall_s: float  # engine wall time of the run (no compilation)
    sim_sops_per_s: float  # SOPs per second of wall time
    preset: str
    backend: str = ""
    accuracy: float | None = None  # on labelled frames, None when labels unknown
    axon_collisions: int = 0
    energy_breakdown: dict[str, float] = field(default_factory=dict)  # J by term
    peak_link_load: float | None = None  # spikes/tick on the busiest link (record="counts")
    link_capacity: float | None = None  # spikes/tick of the preset at this tick period
    pipeline_ticks: int | None = None  # compiler's input-to-readout depth, if stored
    # streaming accounting: a new frame every stream_ticks (its input ticks), cores busy
    stream_ticks: int | None = None
    stream_j_per_frame: float | None = None
    stream_frames_per_s_per_w: float | None = None
    stream_power_w: float | None = None
    per_layer: list[dict[str, Any]] | None = None
    per_core: dict[str, list[float]] | None = None
    program: str | None = None
    estimated: dict[str, str] = field(default_factory=dict)  # field -> why not a counter
    notes: list[str] = field(default_factory=list)
    format: str = REPORT_FORMAT

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_run(cls, program: Any, result: Any, energy_model: Any = None,
                 accuracy: float | None = None, tick_s: float = 1e-3, *,
                 labels: np.ndarray | None = None, chip_size: tuple[int, int] = (64, 64),
                 program_name: str | None = None, include_per_core: bool = True,
                 input_ticks: int | None = None) -> Report:
        """Build from a CoreProgram and the engine's RunResult of it.

        Energy in two accountings (``snn.cores.hardware.energy.ACCOUNTINGS``): ``energy_j``,
        ``j_per_frame``, ``frames_per_s_per_w``... charge each frame every tick it ran
        (latency); ``stream_*`` charge ``input_ticks`` per frame (a new frame every T ticks).
        ``input_ticks`` defaults to the ticks run less the program's pipeline depth.

        energy_model: an EnergyModel or preset name (default ``truenorth``). accuracy: known
        accuracy of the frames; or ``labels`` [n_frames] to score ``result.outputs`` by
        argmax. Per-layer/per-core breakdowns need ``run(..., per_core=True)``; per-layer
        also the program's extras ``layer_names``/``core_layer``; the peak link load needs
        ``record="counts"``.
        """
        from snn.cores.hardware.energy import EnergyModel
        from snn.cores.hardware.mesh import link_load, traffic

        if energy_model is None or isinstance(energy_model, str):
            energy_model = EnergyModel.preset(energy_model or "truenorth")
        if not tick_s > 0:
            raise ConfigError(f"tick period must be > 0 s, got {tick_s!r}")
        counters = result.counters
        B, T, C = int(result.n_frames), int(result.ticks), int(program.n_cores)
        tot = {k: int(np.sum(counters[k])) if k in counters else 0
               for k in ("sops", "spikes", "hops", "chip_crossings", "input_events",
                         "axon_collisions")}
        xy = program.placement(*chip_size)
        chips = len({(int(x) // chip_size[0], int(y) // chip_size[1]) for x, y in xy})
        estimated: dict[str, str] = {}
        notes: list[str] = []
        extras = getattr(program, "extras", {}) or {}
        pipeline = None
        if "latency_ticks" in extras:
            pipeline = int(np.asarray(extras["latency_ticks"]))
            notes.append(f"pipeline depth {pipeline} ticks (the compiler's ticks from input to "
                         "readout); latency = the ticks each frame ran")
        latency = T
        if input_ticks is None:
            input_ticks = T - pipeline if pipeline is not None and 0 < pipeline < T else T
            if pipeline is None or input_ticks == T:
                notes.append("streaming accounting: the program stores no pipeline depth "
                             f"below the ticks run, so a frame is taken to need all {T} ticks")
        from snn.cores.hardware.energy import accountings
        both = accountings(energy_model, counters, int(input_ticks), T, C, n_frames=B,
                           tick_s=tick_s)
        e, st = both["latency"], both["streaming"]
        if labels is not None and accuracy is None:
            labels = np.asarray(labels)
            if labels.shape != (B,):
                raise ConfigError(f"labels has shape {labels.shape}, need [{B}] (one per "
                                  "frame)")
            if result.outputs.shape[1] == 0:
                raise ConfigError("the program has no readout neurons (output_index); "
                                  "accuracy cannot be scored")
            accuracy = float(np.mean(np.argmax(result.outputs, axis=1) == labels))
        wall = float(getattr(result, "wall_s", 0.0) or 0.0)
        peak = cap = None
        if getattr(result, "spike_counts", None) is not None:
            ll = link_load(xy, traffic(program, result.spike_counts), ticks=T * B,
                           chip_size=chip_size)
            peak = ll.peak
            cap = energy_model.link_capacity_per_tick(tick_s)
            if not ll.check(cap, what=f"{program_name or 'run'}: "):
                notes.append(f"peak link load {peak:.4g} spikes/tick exceeds the capacity "
                             f"{cap:.4g} of preset {energy_model.name!r}")
        per_core = per_layer = None
        pc = getattr(result, "per_core", None)
        if pc is not None:
            pcs = {k: np.asarray(v).sum(axis=0) for k, v in pc.items()}
            if include_per_core:
                per_core = {k: [int(x) for x in v] for k, v in pcs.items()}
                per_core["x"] = [int(v) for v in xy[:, 0]]
                per_core["y"] = [int(v) for v in xy[:, 1]]
            if "layer_names" in extras and "core_layer" in extras:
                per_layer = _per_layer(extras, pcs, energy_model, T, B, tick_s)
                notes.append("per-layer energy: SOP, spike, hop terms from the layer's cores' "
                             "counters, tick and static terms by core count; chip-crossing "
                             "energy is not split by layer")
        return cls(
            ticks=T, n_frames=B, tick_s=float(tick_s), cores=C, chips=chips,
            sops=tot["sops"], spikes=tot["spikes"], hops=tot["hops"],
            chip_crossings=tot["chip_crossings"], input_events=tot["input_events"],
            axon_collisions=tot["axon_collisions"], energy_j=e.joules, power_w=e.watts,
            gsops_per_w=e.gsops_per_watt, j_per_frame=e.j_per_frame,
            frames_per_s_per_w=e.frames_per_s_per_w, latency_ticks=latency,
            latency_ms=latency * tick_s * 1e3, wall_s=wall,
            sim_sops_per_s=tot["sops"] / wall if wall > 0 else 0.0, preset=energy_model.name,
            backend=str(getattr(result, "backend", "")), accuracy=accuracy,
            energy_breakdown=dict(e.breakdown), peak_link_load=peak, link_capacity=cap,
            pipeline_ticks=pipeline, stream_ticks=int(input_ticks),
            stream_j_per_frame=st.j_per_frame,
            stream_frames_per_s_per_w=st.frames_per_s_per_w, stream_power_w=st.watts,
            per_layer=per_layer, per_core=per_core, program=program_name,
            estimated=estimated, notes=notes)

    # -- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    def energy_json(self) -> dict:
        """The ``"energy"`` object of ``snn sim --json``."""
        return {"joules": self.energy_j, "watts": self.power_w,
                "gsops_per_watt": self.gsops_per_w, "preset": self.preset,
                "j_per_frame": self.j_per_frame, "frames_per_s_per_w": self.frames_per_s_per_w,
                "accounting": "latency",
                "streaming": {"ticks_per_frame": self.stream_ticks,
                              "j_per_frame": self.stream_j_per_frame,
                              "frames_per_s_per_w": self.stream_frames_per_s_per_w,
                              "watts": self.stream_power_w},
                "tick_s": self.tick_s, "breakdown": dict(self.energy_breakdown)}

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The report as JSON text; written atomically to ``path`` when given."""
        text = json.dumps(_clean(self.to_dict()), indent=1)
        if path is not None:
            atomic_write_text(Path(path), text + "\n")
        return text

    @classmethod
    def from_dict(cls, d: dict) -> Report:
        if d.get("format") != REPORT_FORMAT:
            raise FormatError(f"report format is {d.get('format')!r}, expected "
                              f"{REPORT_FORMAT!r}")
        names = {f.name for f in fields(cls)}
        required = [f.name for f in fields(cls)
                    if f.default is MISSING and f.default_factory is MISSING]
        missing = [k for k in required if k not in d]
        if missing:
            raise FormatError(f"report: key {missing[0]!r} missing")
        kw = {k: v for k, v in d.items() if k in names}
        types = {f.name: str(f.type) for f in fields(cls)}
        for k, v in list(kw.items()):
            kw[k] = _checked(k, v, types[k])
        return cls(**kw)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> Report:
        """Read a report file; also accepts an ``snn sim --json`` file with a "report" key."""
        path = Path(path)
        if not path.exists():
            raise FormatError(f"{path}: no such report file")
        if path.is_dir():
            raise FormatError(f"{path}: is a folder, not a report file")
        raw = path.read_bytes()
        if raw[:2] == b"PK":
            raise FormatError(f"{path}: a .npz (zip) file, not a JSON report; `snn report` "
                              "renders the JSON of `snn eval PROG.npz ... --report R.json` or "
                              "`snn sim PROG.npz --energy truenorth --json R.json` (a spike "
                              "record .npz goes to `snn raster`)")
        try:
            d = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path}: not JSON ({exc})") from None
        if isinstance(d, dict) and "report" in d and isinstance(d["report"], dict):
            d = d["report"]
        if not isinstance(d, dict) or d.get("format") != REPORT_FORMAT:
            raise FormatError(f"{path}: not an {REPORT_FORMAT} report (no format key "
                              f"{REPORT_FORMAT!r}); write one with `snn sim PROG.npz --ticks T "
                              "--energy truenorth --json RUN.json` or Report.to_json")
        try:
            return cls.from_dict(d)
        except TypeError as exc:
            raise FormatError(f"{path}: malformed report ({exc})") from exc

    # -- text ---------------------------------------------------------------------------------
    def rows(self) -> list[tuple[str, str]]:
        """(quantity, value with unit) for the summary table."""
        B = max(self.n_frames, 1)
        acc = "n/a (no labels)" if self.accuracy is None else f"{100 * self.accuracy:.2f} %"
        lat = f"{self.latency_ticks} ticks = {self.latency_ms:g} ms"
        if self.pipeline_ticks is not None:
            lat += f" (pipeline depth {self.pipeline_ticks} ticks)"
        out = [
            ("accuracy", acc),
            ("frames x ticks", f"{self.n_frames} x {self.ticks} (tick {self.tick_s * 1e6:g} µs)"),
            ("cores / chips", f"{self.cores} / {self.chips}"),
            ("SOPs per frame", f"{self.sops / B:,.0f}"),
            ("spikes per frame", f"{self.spikes / B:,.0f}"),
            ("hops per frame", f"{self.hops / B:,.0f}"),
            ("chip crossings per frame", f"{self.chip_crossings / B:,.0f}"),
            ("input events per frame", f"{self.input_events / B:,.0f}"),
            (f"energy per frame (latency: {self.ticks} ticks)", _si(self.j_per_frame, "J")),
            ("frames/s/W (latency)", f"{self.frames_per_s_per_w:.4g}"),
        ]
        if self.stream_j_per_frame is not None:
            out += [
                (f"energy per frame (streaming: {self.stream_ticks} ticks)",
                 _si(self.stream_j_per_frame, "J")),
                ("frames/s/W (streaming)", f"{self.stream_frames_per_s_per_w:.4g}"),
            ]
        out += [
            ("power (latency)", _si(self.power_w, "W")),
            ("GSOP/s/W (latency)", f"{self.gsops_per_w:.3g}"),
            ("latency", lat),
            ("simulated speed", f"{self.sim_sops_per_s:.3g} SOP/s of wall time"),
        ]
        if self.peak_link_load is not None:
            cap = "" if self.link_capacity is None else f" (capacity {self.link_capacity:.4g})"
            out.append(("peak link load", f"{self.peak_link_load:.4g} spikes/tick{cap}"))
        if self.axon_collisions:
            out.append(("axon collisions", f"{self.axon_collisions} (not TrueNorth-exact)"))
        return out

    def summary(self) -> str:
        """A short two-column table for the command line."""
        rows = self.rows()
        w = max(len(k) for k, _ in rows)
        lines = [f"{k:<{w}}  {v}" for k, v in rows]
        lines.append(f"{'energy preset':<{w}}  {self.preset}")
        for k, why in self.estimated.items():
            lines.append(f"* {k}: {why}")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The report as Markdown: totals, energy split, per-layer table, notes."""
        title = f"# Run report{': ' + self.program if self.program else ''}"
        md = [title, "", f"Energy preset `{self.preset}`; backend `{self.backend}`; all counts "
              "from the engine's counters of this run.", "", "| quantity | value |",
              "|---|---|"]
        md += [f"| {k} | {v} |" for k, v in self.rows()]
        if self.energy_breakdown:
            tot = sum(self.energy_breakdown.values()) or 1.0
            md += ["", "## Energy by term (latency accounting)", "", "| term | energy | share |",
                   "|---|---|---|"]
            md += [f"| {k} | {_si(v / max(self.n_frames, 1), 'J')}/frame | {100 * v / tot:.1f} % |"
                   for k, v in self.energy_breakdown.items()]
        if self.per_layer:
            md += ["", "## Per layer (per frame)", "",
                   "| layer | cores | spikes | SOPs | hops | energy | share |",
                   "|---|---|---|---|---|---|---|"]
            B = max(self.n_frames, 1)
            for r in self.per_layer:
                md.append(f"| {r['layer']} | {r['cores']} | {r['spikes'] / B:,.0f} | "
                          f"{r['sops'] / B:,.0f} | {r['hops'] / B:,.0f} | "
                          f"{_si(r['energy_j'] / B, 'J')} | {100 * r['share']:.1f} % |")
        if self.estimated or self.notes:
            md += ["", "## Notes", ""]
            md += [f"- `{k}`: {why}" for k, why in self.estimated.items()]
            md += [f"- {n}" for n in self.notes]
        return "\n".join(md) + "\n"


def _per_layer(extras: dict, pcs: dict[str, np.ndarray], model: Any, T: int, B: int,
               tick_s: float) -> list[dict[str, Any]]:
    names = [str(n) for n in np.asarray(extras["layer_names"]).ravel()]
    core_layer = np.asarray(extras["core_layer"]).astype(np.int64)
    rows = []
    fixed_per_core = model.e_tick * T * B + model.p_static * T * tick_s * B
    total = 0.0
    for li, name in [(i, n) for i, n in enumerate(names)] + [(-1, "(unassigned)")]:
        sel = core_layer == li
        if not sel.any():
            continue
        r = {"layer": name, "cores": int(sel.sum())}
        for k in ("spikes", "sops", "hops"):
            r[k] = int(pcs[k][sel].sum()) if k in pcs else 0
        r["energy_j"] = (model.e_sop * r["sops"] + model.e_spike * r["spikes"]
                         + model.e_hop * r["hops"] + fixed_per_core * r["cores"])
        total += r["energy_j"]
        rows.append(r)
    for r in rows:
        r["share"] = r["energy_j"] / total if total > 0 else 0.0
    return rows


def _si(v: float, unit: str) -> str:
    if v == 0 or not np.isfinite(v):
        return f"{v:g} {unit}"
    for scale, p in ((1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(v) >= scale:
            return f"{v / scale:.4g} {p}{unit}"
    return f"{v / 1e-15:.4g} f{unit}"


def _clean(o: Any) -> Any:
    """JSON-safe: numpy scalars to Python, inf/nan to None."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _checked(key: str, v: Any, typ: str) -> Any:
    """``v`` checked against the field's annotation ``typ`` (FormatError naming the key);
    null for a float field reads as NaN (to_dict stores non-finite numbers as null)."""
    optional = typ.endswith("| None")
    base = typ.removesuffix("| None").strip()
    if v is None:
        if optional:
            return None
        if base == "float":
            return float("nan")
    ok = {
        "int": lambda x: isinstance(x, int) and not isinstance(x, bool),
        "float": _is_num,
        "str": lambda x: isinstance(x, str),
        "dict[str, float]": lambda x: isinstance(x, dict) and all(
            isinstance(a, str) and (_is_num(b) or b is None) for a, b in x.items()),
        "dict[str, str]": lambda x: isinstance(x, dict) and all(
            isinstance(a, str) and isinstance(b, str) for a, b in x.items()),
        "list[str]": lambda x: isinstance(x, list) and all(isinstance(a, str) for a in x),
        "list[dict[str, Any]]": lambda x: isinstance(x, list) and all(
            isinstance(r, dict) and all(isinstance(c, str) and (
                _is_num(b) or isinstance(b, str) or b is None) for c, b in r.items())
            for r in x),
        "dict[str, list[float]]": lambda x: isinstance(x, dict) and all(
            isinstance(a, str) and isinstance(b, list) and all(_is_num(c) or c is None
                                                              for c in b)
            for a, b in x.items()),
    }.get(base)
    if ok is not None and not ok(v):
        raise FormatError(f"report: key {key!r} is {v!r:.60}, must be {typ}")
    return v


# -- CLI helpers (used by ``snn sim``; ``snn eval`` may use them too) ----------------------------
def add_energy_options(parser: Any) -> None:
    """``--energy PRESET`` and ``--tick-us US`` for a command that runs a core program."""
    parser.add_argument("--energy", metavar="PRESET",
                        help="energy model: truenorth, truenorth-0.75v, truenorth-sop, or "
                             "a .json/.toml file of parameters (docs/energy.md); adds energy "
                             "and a report")
    parser.add_argument("--tick-us", type=float, default=None, metavar="US",
                        help="tick period in microseconds for energy, power and latency "
                             "(default: the preset's, 1000 for truenorth)")


def energy_results(args: Any, program: Any, result: Any, doc: dict) -> Report | None:
    """With ``--energy``: add ``"energy"`` {joules, watts, gsops_per_watt, preset, ...} and
    ``"report"`` (snn-report/1) to the JSON document ``doc`` and print the summary."""
    preset = getattr(args, "energy", None)
    tick_us = getattr(args, "tick_us", None)
    if preset is None:
        if tick_us is not None:
            raise ConfigError("--tick-us sets the tick period of the energy model: give "
                              "--energy PRESET too (e.g. --energy truenorth)")
        return None
    from snn.cores.hardware.energy import EnergyModel

    model = EnergyModel.preset(preset)
    if tick_us is not None and not tick_us > 0:
        raise ConfigError(f"--tick-us must be > 0, got {tick_us}")
    tick_s = model.tick_s if tick_us is None else tick_us / 1e6
    rep = Report.from_run(program, result, model, tick_s=tick_s,
                          program_name=str(getattr(args, "program", "") or "") or None)
    doc["energy"] = rep.energy_json()
    doc["report"] = _clean(rep.to_dict())
    print(rep.summary())
    return rep
