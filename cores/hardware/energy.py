"""Energy model (docs/design.md §7): joules from the counters of a real run.

    E = e_sop·SOPs + e_spike·spikes + e_hop·hops + e_chip·chip_crossings
        + e_tick·cores·ticks + P_static·cores·time,        time = ticks · tick period

``e_tick`` (energy per core per tick) extends the starting design's formula: TrueNorth's
neuron block updates every neuron of every core once per tick whatever the activity, and the
published points at 1 ms and 200 µs ticks and at several voltages need such a term
(docs/energy.md).
Set it to 0 for the starting design's formula.

Derived figures: power = E / time, GSOP/s/W = SOPs / time / power / 1e9 = SOPs / E / 1e9,
J/frame = E / frames, frames/s/W = frames / E (= 1 / (J/frame)). Two accountings of a
frame's static and per-tick energy (:func:`accountings`): "latency" charges the ticks it runs
(T input ticks + pipeline depth), "streaming" T ticks (frames back to back, pipelined).

Presets: ``truenorth`` (0.775 V) and ``truenorth-0.75v``, fitted by :func:`fit_truenorth`
to the published TrueNorth points in :data:`PUBLISHED`; ``truenorth-sop``: e_sop held at
2.5 pJ (the per-SOP figure of chip comparison tables), the rest refitted to the same
points; user-defined models come from a dict, JSON or TOML file
(:meth:`EnergyModel.from_dict`, :meth:`EnergyModel.from_file`).
Every parameter carries its source in ``EnergyModel.sources``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from snn.errors import ConfigError

# TrueNorth chip geometry used by the published benchmark network.
TN_CORES = 4096
TN_NEURONS = 256 * TN_CORES  # 2**20 neurons
TN_MESH = 64
#: mean hops of a spike whose target is uniform over a 64x64 mesh (both ends uniform):
#: 2 · (n² - 1) / (3n) with n = 64.
TN_MEAN_HOPS = 2.0 * (TN_MESH**2 - 1) / (3.0 * TN_MESH)
#: bits of one spike packet on a chip-to-chip link (ASSUMPTION, see docs/energy.md).
CHIP_PACKET_BITS = 32

COUNTER_KEYS = ("sops", "spikes", "hops", "chip_crossings")

MERO = "Merolla et al., Science 345:668 (2014)"
MERO_S = "Merolla et al. 2014, supplementary material"
AKO = "Akopyan et al., IEEE TCAD 34:1537 (2015)"


@dataclass(frozen=True)
class PublishedPoint:
    """One published TrueNorth measurement on the benchmark network (4096 cores,
    uniform-random targets). ``rate_hz`` is the mean rate at 1 ms ticks (spikes per tick =
    rate_hz · 1e-3, whatever the tick period); ``quantity``: "watts", "j_per_sop" (total
    energy per synaptic event) or "gsops_per_watt"."""

    name: str
    voltage: float
    tick_s: float
    rate_hz: float
    synapses: int
    quantity: str
    value: float
    source: str
    note: str = ""


PUBLISHED: tuple[PublishedPoint, ...] = (
    PublishedPoint("72 mW, real time, 0.775 V", 0.775, 1e-3, 20.0, 128, "watts", 0.072, MERO),
    PublishedPoint("26 pJ per synaptic event (total), 0.775 V", 0.775, 1e-3, 20.0, 128,
                   "j_per_sop", 26e-12, MERO),
    PublishedPoint("70 GSOP/s/W at 5x real time (200 us tick), 0.775 V", 0.775, 2e-4, 20.0,
                   128, "gsops_per_watt", 70.0, MERO_S),
    PublishedPoint("65 mW, real time, 0.75 V", 0.75, 1e-3, 20.0, 128, "watts", 0.065, AKO),
    PublishedPoint("42 mW floor, no activity, 0.70 V", 0.70, 1e-3, 0.0, 0, "watts", 0.042, AKO,
                   "read as: ticking at 1 ms with no spikes (static + per-tick energy)"),
    PublishedPoint("323 mW, 200 Hz, 256 synapses, 1.05 V", 1.05, 1e-3, 200.0, 256, "watts",
                   0.323, AKO, "real time assumed"),
)

#: weight of the 0.775 V points in the fit (relative residuals); the others weigh 1.
REFERENCE_WEIGHT = 10.0


@dataclass
class Energy:
    """Energy of one run. All values in SI units (J, W, s)."""

    joules: float  # total energy
    watts: float  # mean power = joules / seconds
    seconds: float  # simulated chip time = ticks · tick_s · n_frames
    sops: int
    gsops_per_watt: float  # SOPs / seconds / watts / 1e9 (0 when nothing happened)
    j_per_frame: float
    frames_per_s_per_w: float  # = 1 / j_per_frame
    breakdown: dict[str, float]  # joules by term: sop, spike, hop, chip, tick, static
    preset: str
    tick_s: float
    n_frames: int
    accounting: str = ""  # "latency" or "streaming" when made by accountings(), else ""

    def to_dict(self) -> dict:
        return asdict(self)


#: How a frame is charged the static and per-tick energy (docs/energy.md, "Accountings").
ACCOUNTINGS = {
    "latency": "each frame alone on the cores: charged static and per-tick energy for every "
               "tick it runs (T input ticks + the pipeline depth)",
    "streaming": "frames streamed back to back through the pipelined network, a new frame "
                 "every T input ticks, the cores busy throughout: each frame charged T ticks "
                 "of static and per-tick energy (how IBM measured Eedn, Esser et al. 2016)",
}


def accountings(model: EnergyModel, counters: Mapping[str, object], input_ticks: int,
                run_ticks: int, n_cores: int, n_frames: int = 1,
                tick_s: float | None = None) -> dict[str, Energy]:
    """Both accountings of one run: ``{"latency": ..., "streaming": ...}``.

    ``counters``: the frames' own SOPs, spikes, hops and chip crossings (totals or per-frame
    arrays); ``input_ticks``: T, the ticks a frame's input lasts (the streaming period);
    ``run_ticks``: the ticks each frame ran (T + pipeline depth: the latency). The event
    terms are the same in both; only the static and per-tick terms differ."""
    if input_ticks < 1 or run_ticks < input_ticks:
        raise ConfigError(f"energy: need 1 <= input ticks <= run ticks (got {input_ticks}, "
                          f"{run_ticks})")
    lat = model.evaluate(counters, run_ticks, n_cores, n_frames=n_frames, tick_s=tick_s)
    st = model.evaluate(counters, input_ticks, n_cores, n_frames=n_frames, tick_s=tick_s)
    return {"latency": replace(lat, accounting="latency"),
            "streaming": replace(st, accounting="streaming")}


@dataclass(frozen=True)
class EnergyModel:
    """Per-event energies (J), per-core static power (W) and the tick period (s).

    ``voltage``/``v_ref`` with ``dynamic_exponent`` and ``static_exponent`` let
    :meth:`at_voltage` rescale: dynamic terms ∝ (V/v_ref)^dynamic_exponent, static power
    ∝ (V/v_ref)^static_exponent. ``link_capacity`` is the spikes per second one mesh link
    direction is known to carry (None: unknown, no warning).
    """

    name: str
    e_sop: float  # J per synaptic operation
    e_spike: float  # J per spike generated
    e_hop: float  # J per spike per mesh hop
    e_chip: float  # J per spike per chip-boundary crossing
    p_static: float  # W per core
    e_tick: float = 0.0  # J per core per tick
    tick_s: float = 1e-3  # default tick period (s)
    voltage: float | None = None
    v_ref: float | None = None
    dynamic_exponent: float = 2.0
    static_exponent: float = 1.0
    link_capacity: float | None = None  # spikes/s per link direction
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for key in ("e_sop", "e_spike", "e_hop", "e_chip", "p_static", "e_tick"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ConfigError(f"energy model {self.name!r}: {key} must be a finite number "
                                  f">= 0, got {v!r}")
        if not (isinstance(self.tick_s, (int, float)) and self.tick_s > 0):
            raise ConfigError(f"energy model {self.name!r}: tick_s must be > 0 seconds, "
                              f"got {self.tick_s!r}")
        if self.link_capacity is not None and not self.link_capacity > 0:
            raise ConfigError(f"energy model {self.name!r}: link_capacity must be > 0 "
                              "spikes/s or null")

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, counters: Mapping[str, object], ticks: int, n_cores: int,
                 n_frames: int = 1, tick_s: float | None = None) -> Energy:
        """Energy of a run of ``n_frames`` frames of ``ticks`` ticks each on ``n_cores``.

        ``counters``: totals or per-frame arrays (summed) of "sops", "spikes", "hops",
        "chip_crossings" (RunResult.counters fits). ``tick_s`` overrides the model's period.
        """
        missing = [k for k in COUNTER_KEYS if k not in counters]
        if missing:
            raise ConfigError(f"energy: counter {missing[0]!r} missing; need {COUNTER_KEYS} "
                              "(e.g. RunResult.counters)")
        tick = self.tick_s if tick_s is None else float(tick_s)
        if not tick > 0:
            raise ConfigError(f"energy: tick period must be > 0 s, got {tick_s!r}")
        if ticks < 0 or n_cores < 0 or n_frames < 1:
            raise ConfigError(f"energy: need ticks >= 0, n_cores >= 0, n_frames >= 1 (got "
                              f"{ticks}, {n_cores}, {n_frames})")
        tot = {k: int(np.sum(np.asarray(counters[k], dtype=np.int64))) for k in COUNTER_KEYS}
        seconds = ticks * tick * n_frames
        parts = {
            "sop": self.e_sop * tot["sops"],
            "spike": self.e_spike * tot["spikes"],
            "hop": self.e_hop * tot["hops"],
            "chip": self.e_chip * tot["chip_crossings"],
            "tick": self.e_tick * n_cores * ticks * n_frames,
            "static": self.p_static * n_cores * seconds,
        }
        joules = float(sum(parts.values()))
        watts = joules / seconds if seconds > 0 else 0.0
        gsw = tot["sops"] / joules / 1e9 if joules > 0 else 0.0
        jpf = joules / n_frames
        return Energy(joules=joules, watts=watts, seconds=seconds, sops=tot["sops"],
                      gsops_per_watt=gsw, j_per_frame=jpf,
                      frames_per_s_per_w=1.0 / jpf if jpf > 0 else float("inf"),
                      breakdown=parts, preset=self.name, tick_s=tick, n_frames=n_frames)

    def link_capacity_per_tick(self, tick_s: float | None = None) -> float | None:
        """Link capacity in spikes per tick at this tick period (None if unknown)."""
        if self.link_capacity is None:
            return None
        return self.link_capacity * (self.tick_s if tick_s is None else tick_s)

    # -- voltage ---------------------------------------------------------------------------
    def at_voltage(self, volts: float, name: str | None = None) -> EnergyModel:
        """This model rescaled to another supply voltage (needs ``v_ref``)."""
        if self.v_ref is None or self.voltage is None:
            raise ConfigError(f"energy model {self.name!r} has no reference voltage; set "
                              "voltage and v_ref to rescale it")
        if not volts > 0:
            raise ConfigError(f"voltage must be > 0 V, got {volts!r}")
        sd = (volts / self.voltage) ** self.dynamic_exponent
        ss = (volts / self.voltage) ** self.static_exponent
        src = dict(self.sources)
        src["voltage"] = (f"rescaled from {self.voltage} V: dynamic x(V/V0)^"
                          f"{self.dynamic_exponent}, static x(V/V0)^{self.static_exponent}")
        return replace(self, name=name or f"{self.name}@{volts:g}V", voltage=volts,
                       e_sop=self.e_sop * sd, e_spike=self.e_spike * sd,
                       e_hop=self.e_hop * sd, e_chip=self.e_chip * sd,
                       e_tick=self.e_tick * sd, p_static=self.p_static * ss, sources=src)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> EnergyModel:
        """``truenorth`` (0.775 V), ``truenorth-0.75v``, ``truenorth-sop`` (e_sop held at
        2.5 pJ), or a path to a JSON/TOML file."""
        if name == "truenorth":
            return _truenorth()
        if name == "truenorth-0.75v":
            return _truenorth().at_voltage(0.75, name="truenorth-0.75v")
        if name == "truenorth-sop":
            return _truenorth_sop()
        if name.endswith((".json", ".toml")):
            return cls.from_file(name)
        raise ConfigError(f"unknown energy preset {name!r}; choose one of {PRESETS} or give "
                          "a .json/.toml file with e_sop, e_spike, e_hop, e_chip, p_static")

    @classmethod
    def from_dict(cls, d: Mapping[str, object], name: str | None = None) -> EnergyModel:
        """A user-defined model. Required keys: e_sop, e_spike, e_hop, e_chip, p_static
        (J, J, J, J, W per core); optional: e_tick, tick_s, voltage, v_ref,
        dynamic_exponent, static_exponent, link_capacity, sources, name; or ``base`` = a
        preset name whose values the others override."""
        d = dict(d)
        base = d.pop("base", None)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"energy model: unknown key {unknown[0]!r}; known keys: "
                              f"{sorted(known)}")
        if base is not None:
            merged = asdict(cls.preset(str(base)))
            merged["sources"] = dict(merged["sources"])
            for k in d:
                if k != "sources":
                    merged["sources"][k] = "user-defined"
            merged["sources"].update(d.pop("sources", {}) or {})
            merged.update(d)
            d = merged
        need = ["e_sop", "e_spike", "e_hop", "e_chip", "p_static"]
        missing = [k for k in need if k not in d]
        if missing:
            raise ConfigError(f"energy model: key {missing[0]!r} missing (need {need}, or "
                              "'base': 'truenorth' to start from a preset)")
        d.setdefault("name", name or "user")
        d.setdefault("sources", {k: "user-defined" for k in need})
        for k in ("e_sop", "e_spike", "e_hop", "e_chip", "p_static", "e_tick", "tick_s"):
            if k in d and isinstance(d[k], int) and not isinstance(d[k], bool):
                d[k] = float(d[k])
        return cls(**d)  # type: ignore[arg-type]

    @classmethod
    def from_file(cls, path: str | Path) -> EnergyModel:
        """Read a user-defined model from ``.json`` or ``.toml`` (keys as in from_dict)."""
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such energy-model file")
        try:
            if path.suffix == ".toml":
                import tomllib

                data = tomllib.loads(path.read_text())
            else:
                data = json.loads(path.read_text())
        except Exception as exc:  # noqa: BLE001 - json/toml raise several kinds
            raise ConfigError(f"{path}: not a readable energy-model file ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: must hold a table/object of parameters")
        return cls.from_dict(data, name=path.stem)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = ["truenorth", "truenorth-0.75v", "truenorth-sop"]

# ---------------------------------------------------------------------------------------------
# The TrueNorth preset. The numbers below are the output of fit_truenorth() (rounded to 3
# significant digits; tests/cores/hardware/test_energy.py checks they match the fit).
_TN_FIT = {
    "p_static": 9.92e-6,  # W per core  (40.6 mW for 4096 cores)
    "e_tick": 5.67e-9,  # J per core per tick (23.2 mW for 4096 cores at 1 ms)
    "e_sop": 0.0,  # J per SOP: the fit's bound (see docs/energy.md)
    "e_spike": 2.36e-10,  # J per spike
    "static_exponent": 4.5,
}
#: lower bound of one link's capacity (spikes/s per direction): the busiest link of the
#: 200 Hz, 256-synapse benchmark, which the chip ran in real time (Akopyan 2015), under
#: x-then-y routing (benchmarks/energy.py prints it; test_energy checks it).
_TN_LINK_CAPACITY = 8.192e5


def _truenorth() -> EnergyModel:
    fit = "fit_truenorth() to the published points (Merolla 2014 + supplement, Akopyan 2015)"
    return EnergyModel(
        name="truenorth",
        e_sop=_TN_FIT["e_sop"], e_spike=_TN_FIT["e_spike"],
        e_hop=2.3e-12, e_chip=26e-12 * CHIP_PACKET_BITS,
        p_static=_TN_FIT["p_static"], e_tick=_TN_FIT["e_tick"], tick_s=1e-3,
        voltage=0.775, v_ref=0.775, dynamic_exponent=2.0,
        static_exponent=_TN_FIT["static_exponent"], link_capacity=_TN_LINK_CAPACITY,
        sources={
            "e_sop": fit + " (fitted value at its lower bound 0)",
            "e_spike": fit,
            "e_tick": fit,
            "p_static": fit,
            "e_hop": f"2.3 pJ per spike per hop: {MERO_S}",
            "e_chip": f"26 pJ per bit chip to chip ({MERO_S}) x {CHIP_PACKET_BITS} bits per "
                      "spike packet (ASSUMPTION)",
            "tick_s": f"1 ms real-time tick: {MERO}",
            "voltage": f"0.775 V: {MERO}",
            "dynamic_exponent": "ASSUMPTION: CMOS switching energy ∝ V²",
            "static_exponent": "fitted (grid 0..8, step 0.25) to the points at 0.70, 0.75, "
                               "0.775 and 1.05 V",
            "link_capacity": "lower bound: busiest link (x-then-y routing) of the 200 Hz, "
                             f"256-synapse benchmark run in real time ({AKO})",
        })


#: the per-SOP energy that chip comparison tables give for TrueNorth, citing Akopyan et al.
#: 2015 (e.g. Table 3 of the SENECA paper, Tang et al., Frontiers in Neuroscience 2023).
TN_TABLE_E_SOP = 2.5e-12
#: fit_truenorth(fixed={"e_sop": TN_TABLE_E_SOP}) rounded to 3 significant digits
#: (tests/cores/hardware/test_energy.py checks they match the fit).
_TN_SOP_FIT = {
    "p_static": 9.88e-6,  # W per core
    "e_tick": 5.25e-9,  # J per core per tick
    "e_spike": 0.0,  # J per spike: the fit's bound once a SOP costs 2.5 pJ
    "static_exponent": 2.0,
}


def _truenorth_sop() -> EnergyModel:
    """``truenorth`` with e_sop held at 2.5 pJ and p_static, e_tick, e_spike and the static
    exponent refitted to the same published points."""
    base = _truenorth()
    fit = ("fit_truenorth(fixed={'e_sop': 2.5e-12}) to the published points (Merolla 2014 + "
           "supplement, Akopyan 2015)")
    src = dict(base.sources)
    src.update({
        "e_sop": "2.5 pJ per SOP: the TrueNorth figure of chip comparison tables citing "
                 f"{AKO} (e.g. SENECA, Frontiers in Neuroscience 2023, Table 3); held fixed",
        "e_spike": fit + " (fitted value at its lower bound 0)",
        "e_tick": fit, "p_static": fit,
        "static_exponent": "fitted (grid 0..8, step 0.25) with e_sop held at 2.5 pJ",
    })
    return replace(base, name="truenorth-sop", e_sop=TN_TABLE_E_SOP,
                   e_spike=_TN_SOP_FIT["e_spike"], p_static=_TN_SOP_FIT["p_static"],
                   e_tick=_TN_SOP_FIT["e_tick"],
                   static_exponent=_TN_SOP_FIT["static_exponent"], sources=src)


# ---------------------------------------------------------------------------------------------
# Fitting


def nominal_counts(rate_hz: float, synapses: int, tick_s: float, seconds: float = 1.0,
                   n_cores: int = TN_CORES) -> dict:
    """Counts of the uniform-random benchmark network on one full chip, from its definition
    (not a run): spikes = neurons · rate_hz · 1e-3 per tick, SOPs = spikes · synapses, hops =
    spikes · mean hops of uniform targets on 64x64 (no chip crossings)."""
    ticks = seconds / tick_s
    spikes = 256 * n_cores * rate_hz * 1e-3 * ticks
    return {"spikes": spikes, "sops": spikes * synapses, "hops": spikes * TN_MEAN_HOPS,
            "chip_crossings": 0.0, "ticks": ticks}


def predict(model: EnergyModel, point: PublishedPoint,
            counts: Mapping[str, float] | None = None, ticks: int | None = None,
            n_cores: int = TN_CORES) -> float:
    """The model's value of ``point.quantity`` for that point's workload, at its voltage.

    ``counts``/``ticks``: counters of a real run of the workload (else nominal counts)."""
    m = model if model.voltage == point.voltage else model.at_voltage(point.voltage)
    if counts is None:
        c = nominal_counts(point.rate_hz, point.synapses, point.tick_s)
        ticks = int(round(c["ticks"]))
    else:
        c = counts
        if ticks is None:
            raise ConfigError("predict: give ticks with counts")
    e = m.evaluate({k: np.int64(round(c[k])) for k in COUNTER_KEYS}, ticks, n_cores,
                   tick_s=point.tick_s)
    if point.quantity == "watts":
        return e.watts
    if point.quantity == "j_per_sop":
        return e.joules / e.sops if e.sops else float("inf")
    if point.quantity == "gsops_per_watt":
        return e.gsops_per_watt
    raise ConfigError(f"unknown quantity {point.quantity!r}")


def _watts_target(p: PublishedPoint) -> float:
    """A published point as a power (W) on its nominal workload."""
    c = nominal_counts(p.rate_hz, p.synapses, p.tick_s)
    if p.quantity == "watts":
        return p.value
    if p.quantity == "j_per_sop":
        return p.value * c["sops"]
    return c["sops"] / (p.value * 1e9)


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares by enumerating active sets (few unknowns)."""
    best, best_x = np.inf, np.zeros(a.shape[1])
    for mask in itertools.product((False, True), repeat=a.shape[1]):
        idx = np.flatnonzero(mask)
        x = np.zeros(a.shape[1])
        if idx.size:
            sol = np.linalg.lstsq(a[:, idx], b, rcond=None)[0]
            if (sol < 0).any():
                continue
            x[idx] = sol
        r = float(np.sum((a @ x - b) ** 2))
        if r < best - 1e-15:
            best, best_x = r, x
    return best_x


FIT_KEYS = ("p_static", "e_tick", "e_sop", "e_spike")


def fit_truenorth(points: tuple[PublishedPoint, ...] = PUBLISHED, v_ref: float = 0.775,
                  e_hop: float = 2.3e-12, dynamic_exponent: float = 2.0,
                  static_exponents: np.ndarray | None = None,
                  fixed: Mapping[str, float] | None = None) -> dict:
    """Fit p_static, e_tick, e_sop, e_spike (>= 0, at ``v_ref``) and the static voltage
    exponent to the published points by weighted least squares of relative residuals
    (points at v_ref weigh REFERENCE_WEIGHT); e_hop is fixed (published), chip crossings are
    0 on one chip. ``fixed``: some of :data:`FIT_KEYS` held at given values (e.g.
    ``{"e_sop": 2.5e-12}``), the others fitted around them. Returns the parameters and the
    static exponent (nominal workload counts)."""
    fixed = dict(fixed or {})
    bad = sorted(set(fixed) - set(FIT_KEYS))
    if bad:
        raise ConfigError(f"fit_truenorth: cannot hold {bad[0]!r} fixed; fixed keys must be "
                          f"among {FIT_KEYS}")
    free = [i for i, k in enumerate(FIT_KEYS) if k not in fixed]
    ks = np.arange(0.0, 8.0001, 0.25) if static_exponents is None else static_exponents
    best = None
    for k in ks:
        rows, rhs = [], []
        for p in points:
            c = nominal_counts(p.rate_hz, p.synapses, p.tick_s)
            y = _watts_target(p)
            sd = (p.voltage / v_ref) ** dynamic_exponent
            ss = (p.voltage / v_ref) ** k
            w = REFERENCE_WEIGHT if p.voltage == v_ref else 1.0
            per_s = 1.0 / (c["ticks"] * p.tick_s)
            row = np.array([ss * TN_CORES, sd * TN_CORES * c["ticks"] * per_s,
                            sd * c["sops"] * per_s, sd * c["spikes"] * per_s])
            held = sum(row[i] * fixed[key] for i, key in enumerate(FIT_KEYS) if key in fixed)
            held += sd * e_hop * c["hops"] * per_s
            rows.append(row[free] * w / y)
            rhs.append((y - held) * w / y)
        a, b = np.array(rows), np.array(rhs)
        x = _nnls(a, b)
        r = float(np.sum((a @ x - b) ** 2))
        if best is None or r < best[0] - 1e-12:
            best = (r, float(k), x)
    _, k, x = best
    out = dict(fixed)
    out.update({FIT_KEYS[i]: float(v) for i, v in zip(free, x, strict=True)})
    out.update(static_exponent=k, e_hop=e_hop, dynamic_exponent=dynamic_exponent, v_ref=v_ref)
    return out


def published_table(model: EnergyModel | None = None,
                    engine_counts: Mapping[str, tuple[dict, int]] | None = None) -> list[dict]:
    """Every published point next to the modelled value and the relative residual.

    ``engine_counts``: optional {point name: (counters, ticks)} of real engine runs of the
    point's workload; those points get an ``engine`` column too."""
    model = model or EnergyModel.preset("truenorth")
    out = []
    for p in PUBLISHED:
        mod = predict(model, p)
        row = {"point": p.name, "source": p.source, "quantity": p.quantity,
               "published": p.value, "modelled": mod, "residual": mod / p.value - 1.0,
               "note": p.note}
        if engine_counts and p.name in engine_counts:
            counts, ticks = engine_counts[p.name]
            eng = predict(model, p, counts=counts, ticks=ticks)
            row.update(engine=eng, engine_residual=eng / p.value - 1.0)
        out.append(row)
    return out
