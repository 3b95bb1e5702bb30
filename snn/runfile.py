"""Saved runs with recorded spikes (``snn-run/1``): what ``snn raster`` draws.

A run file is an ``.npz`` with format tag ``snn-run/1`` holding the spike record of one or
more frames of a core program run (frames concatenated, CSR by frame), the external input
events, and what is needed to label the picture (layer names of cores, which neurons are in
use, the input map). ``snn raster`` also reads the JSON that ``snn sim --record full --json``
writes (``spikes``: [[tick, core, neuron], ...], ``ticks``), labelled by layer when the core
program is given too.

Keys of the ``.npz``:

| key | dtype, shape | meaning |
|---|---|---|
| format | str | ``snn-run/1`` |
| ticks | int64 scalar | ticks each frame ran |
| tick_s | float64 scalar | tick period in seconds |
| spikes | int32 [S, 3] | (tick, core, neuron), sorted within a frame |
| offsets | int64 [F+1] | frame f's spikes are spikes[offsets[f]:offsets[f+1]] |
| n_cores, n_neurons | int64 scalars | C and N of the program |
| neuron_used | bool [C, N] | neurons with a synapse, target, readout, leak or spike |
| layer_names | str [L] | optional; core_layer int32 [C] indexes it (-1: none) |
| input_events | int32 [E, 3] | optional (tick, core, axon); input_offsets int64 [F+1] |
| input_map | int32 [M, 3] | optional (core, axon, input element) |
| n_inputs | int64 scalar | optional: number of input elements |
| labels, predictions | int64 [F] | optional |
| meta | str | JSON: source program, encoding, anything else |
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snn.errors import ConfigError, FormatError
from snn.plots import MembraneTrace, RasterGroup

RUN_FORMAT = "snn-run/1"


@dataclass
class SpikeRun:
    """The spike record of F frames of one core program (see the module docstring)."""

    ticks: int
    spikes: np.ndarray
    offsets: np.ndarray
    n_cores: int
    n_neurons: int
    tick_s: float = 1e-3
    neuron_used: np.ndarray | None = None
    layer_names: list[str] = field(default_factory=list)
    core_layer: np.ndarray | None = None
    input_events: np.ndarray | None = None
    input_offsets: np.ndarray | None = None
    input_map: np.ndarray | None = None
    n_inputs: int | None = None
    labels: np.ndarray | None = None
    predictions: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_result(cls, program: Any, result: Any, inputs: Any = None, *,
                    labels: np.ndarray | None = None, predictions: np.ndarray | None = None,
                    tick_s: float = 1e-3, meta: dict[str, Any] | None = None) -> SpikeRun:
        """From an engine ``RunResult`` recorded with ``record="full"``, the ``CoreProgram``
        it ran and the ``InputSpikes`` given to it (None: the program's stored inputs).
        predictions: the decoded classes (default: arg-max of the readout spike counts)."""
        if getattr(result, "spikes", None) is None:
            raise ConfigError("the run has no spike record; run the engine with record='full'")
        frames = [np.asarray(s, np.int32).reshape(-1, 3) for s in result.spikes]
        offsets = np.zeros(len(frames) + 1, np.int64)
        offsets[1:] = np.cumsum([len(f) for f in frames])
        spikes = np.concatenate(frames) if frames else np.zeros((0, 3), np.int32)
        run = cls(ticks=int(result.ticks), spikes=spikes, offsets=offsets,
                  n_cores=program.n_cores, n_neurons=program.n_neurons, tick_s=float(tick_s),
                  labels=None if labels is None else np.asarray(labels, np.int64),
                  predictions=np.asarray(predictions, np.int64) if predictions is not None
                  else np.asarray(result.outputs).argmax(axis=1).astype(np.int64)
                  if getattr(result, "outputs", None) is not None
                  and np.asarray(result.outputs).size else None,
                  meta=dict(meta or {}))
        run._add_program_info(program)
        if inputs is not None:
            ev = np.stack([np.asarray(inputs.tick), np.asarray(inputs.core),
                           np.asarray(inputs.axon)], axis=1).astype(np.int32)
            run.input_events, run.input_offsets = ev, np.asarray(inputs.offsets, np.int64)
        elif getattr(program, "input_tick", None) is not None:
            ev = np.stack([program.input_tick, program.input_core, program.input_axon],
                          axis=1).astype(np.int32)
            run.input_events = ev  # stored inputs: the engine runs them as one frame
            run.input_offsets = np.array([0, len(ev)], np.int64)
        return run

    @classmethod
    def from_sim_json(cls, path: str | os.PathLike, program: Any = None) -> SpikeRun:
        """From the JSON of ``snn sim --record full --json OUT`` (one frame)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path}: not a readable JSON file ({exc})") from exc
        record = ("record them with `snn sim PROG.npz --ticks T --record full --json OUT` "
                  "or `snn eval PROG.npz ... --record RUN.npz`")
        if isinstance(data, dict) and (data.get("format") == "snn-report/1" or isinstance(
                data.get("report"), dict)) and not isinstance(data.get("spikes"), list):
            raise FormatError(f"{path}: a report (snn-report/1), which holds no spikes: render "
                              f"it with `snn report {path.name}`; for a raster, {record}")
        if not isinstance(data, dict) or data.get("spikes") is None:
            raise FormatError(f"{path}: no 'spikes' in this JSON; {record}")
        try:
            spikes = np.asarray(data["spikes"], np.int64)
            if spikes.size == 0:
                spikes = spikes.reshape(0, 3)
            if spikes.ndim != 2 or spikes.shape[1] != 3:
                raise ValueError(f"shape {spikes.shape}")
            ticks = int(data.get("ticks") or (spikes[:, 0].max() + 1 if len(spikes) else 1))
        except (ValueError, TypeError, OverflowError) as exc:
            raise FormatError(f"{path}: 'spikes' must be a list of [tick, core, neuron] "
                              f"integer triples, and 'ticks' an integer ({exc})") from None
        if len(spikes) and (spikes.min() < 0 or spikes[:, 0].max() >= max(ticks, 1)):
            raise FormatError(f"{path}: a spike's tick, core or neuron is negative or its tick "
                              f"is beyond the run's {ticks} ticks")
        if program is None and data.get("program") and Path(data["program"]).exists():
            from snn.cores.program import CoreProgram
            program = CoreProgram.load(data["program"])
        if program is not None and len(spikes):
            for col, n, what in ((1, program.n_cores, "core"), (2, program.n_neurons, "neuron")):
                if spikes[:, col].max() >= n:
                    i = int(np.argmax(spikes[:, col] >= n))
                    raise FormatError(f"{path}: spike {i} is on {what} {int(spikes[i, col])}, "
                                      f"the program has {n} {what}s: the run was not made by "
                                      "this program (--program)")
        spikes = spikes.astype(np.int32)
        n_cores = program.n_cores if program is not None else int(
            spikes[:, 1].max() + 1 if len(spikes) else 1)
        n_neurons = program.n_neurons if program is not None else int(
            spikes[:, 2].max() + 1 if len(spikes) else 1)
        tick_s = float(data.get("tick_s") or 1e-6 * float(data.get("tick_us") or 1000.0))
        run = cls(ticks=ticks, spikes=spikes, offsets=np.array([0, len(spikes)], np.int64),
                  n_cores=n_cores, n_neurons=n_neurons, tick_s=tick_s,
                  meta={"source": str(path)})
        if program is not None:
            run._add_program_info(program)
            if getattr(program, "input_tick", None) is not None:
                run.input_events = np.stack([program.input_tick, program.input_core,
                                             program.input_axon], axis=1).astype(np.int32)
                run.input_offsets = np.array([0, len(run.input_events)], np.int64)
        return run

    def _add_program_info(self, program: Any) -> None:
        used = (program.crossbar.any(axis=1) | (program.target_core >= 0)
                | (program.output_index >= 0) | (program.leak != 0))
        used[self.spikes[:, 1], self.spikes[:, 2]] = True
        self.neuron_used = used
        ex = getattr(program, "extras", {}) or {}
        if "layer_names" in ex and "core_layer" in ex:
            self.layer_names = [str(x) for x in np.asarray(ex["layer_names"]).ravel()]
            self.core_layer = np.asarray(ex["core_layer"], np.int32)
        for key in ("layer_neurons", "layer_splitters", "layer_relays"):
            if key in ex:
                self.meta[key] = [int(v) for v in np.asarray(ex[key]).ravel()]
        if all(k in ex for k in ("input_element", "input_map_core", "input_map_axon")):
            self.input_map = np.stack([ex["input_map_core"], ex["input_map_axon"],
                                       ex["input_element"]], axis=1).astype(np.int32)
            if "input_shape" in ex:
                self.n_inputs = int(np.prod(np.asarray(ex["input_shape"])))
            else:
                self.n_inputs = int(self.input_map[:, 2].max() + 1) if len(self.input_map) else 0

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``snn-run/1`` atomically."""
        from snn.fileio import atomic_savez

        payload: dict[str, np.ndarray] = {
            "format": np.array(RUN_FORMAT), "ticks": np.int64(self.ticks),
            "tick_s": np.float64(self.tick_s), "spikes": np.asarray(self.spikes, np.int32),
            "offsets": np.asarray(self.offsets, np.int64), "n_cores": np.int64(self.n_cores),
            "n_neurons": np.int64(self.n_neurons), "meta": np.array(json.dumps(self.meta)),
        }
        if self.neuron_used is not None:
            payload["neuron_used"] = np.asarray(self.neuron_used, np.bool_)
        if self.layer_names and self.core_layer is not None:
            payload["layer_names"] = np.array(self.layer_names)
            payload["core_layer"] = np.asarray(self.core_layer, np.int32)
        if self.input_events is not None:
            payload["input_events"] = np.asarray(self.input_events, np.int32)
            payload["input_offsets"] = np.asarray(self.input_offsets, np.int64)
        if self.input_map is not None:
            payload["input_map"] = np.asarray(self.input_map, np.int32)
            payload["n_inputs"] = np.int64(self.n_inputs or 0)
        for key in ("labels", "predictions"):
            if getattr(self, key) is not None:
                payload[key] = np.asarray(getattr(self, key), np.int64)
        return atomic_savez(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike, program: Any = None) -> SpikeRun:
        """Read a run: ``.npz`` (``snn-run/1``) or the JSON of ``snn sim --record full``."""
        path = Path(path)
        if not path.exists():
            raise FormatError(f"{path}: no such run file; record one with `snn eval NET_OR_PROG "
                              "--record RUN.npz ...` or `snn sim PROG.npz --record full "
                              "--json RUN.json`")
        if path.suffix.lower() == ".json":
            return cls.from_sim_json(path, program)
        from snn.validate import load_npz
        g = load_npz(path, "run", "record one with `snn eval PROG.npz ... --record "
                     "RUN.npz` (or give the JSON of `snn sim ... --record full`)")
        meta = _check_run_arrays(g, str(path))
        from snn.validate import scalar
        one = {k: scalar(g, k, "float" if k == "tick_s" else "int", str(path))
               for k in ("ticks", "n_cores", "n_neurons", "tick_s", "n_inputs") if k in g}
        run = cls(ticks=one["ticks"], spikes=g["spikes"], offsets=g["offsets"],
                  n_cores=one["n_cores"], n_neurons=one["n_neurons"],
                  tick_s=one["tick_s"], neuron_used=g.get("neuron_used"),
                  layer_names=[str(x) for x in g.get("layer_names", [])],
                  core_layer=g.get("core_layer"), input_events=g.get("input_events"),
                  input_offsets=g.get("input_offsets"), input_map=g.get("input_map"),
                  n_inputs=one.get("n_inputs"),
                  labels=g.get("labels"), predictions=g.get("predictions"), meta=meta)
        if program is not None and run.neuron_used is None:
            run._add_program_info(program)
        return run

    # -- access --------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return len(self.offsets) - 1

    def frame_spikes(self, frame: int = 0) -> np.ndarray:
        """int32 [S, 3] (tick, core, neuron) of one frame."""
        self._check_frame(frame)
        return self.spikes[self.offsets[frame]: self.offsets[frame + 1]]

    def frame_inputs(self, frame: int = 0) -> np.ndarray:
        """int32 [E, 3] (tick, core, axon) of one frame's external input."""
        self._check_frame(frame)
        if self.input_events is None:
            return np.zeros((0, 3), np.int32)
        return self.input_events[self.input_offsets[frame]: self.input_offsets[frame + 1]]

    def _check_frame(self, frame: int) -> None:
        if not 0 <= frame < self.n_frames:
            raise ConfigError(f"frame {frame} is not in this run (it holds {self.n_frames} "
                              f"frame{'s' if self.n_frames != 1 else ''}: 0..{self.n_frames - 1})")

    def layer_of_core(self) -> np.ndarray:
        """int [C]: layer index of every core (-1 where unknown)."""
        if self.core_layer is None:
            return np.full(self.n_cores, -1, np.int32)
        return np.asarray(self.core_layer, np.int32)

    # -- raster groups -------------------------------------------------------------------
    def groups(self, frame: int = 0, *, layers: list[str] | None = None,
               cores: tuple[int, int] | None = None, include_input: bool = True
               ) -> list[RasterGroup]:
        """Raster groups of one frame: the input (if recorded), then one group per layer
        (cores without a layer form their own group) or per core when the program carries
        no layer names. ``layers`` (names; "input" for the input) or ``cores`` (half-open
        range) select."""
        spikes = self.frame_spikes(frame)
        C, N = self.n_cores, self.n_neurons
        used = self.neuron_used
        if used is None:
            used = np.zeros((C, N), np.bool_)
            used[spikes[:, 1], spikes[:, 2]] = True
        core_ok = np.ones(C, np.bool_)
        if cores is not None:
            lo, hi = cores
            if not (0 <= lo < hi <= C):
                raise ConfigError(f"--cores {lo}:{hi} is outside the program's cores 0:{C}")
            core_ok[:] = False
            core_ok[lo:hi] = True
        layer_of = self.layer_of_core()
        known = list(self.layer_names)
        if layers is not None:
            bad = [x for x in layers if x not in known and x != "input"]
            if bad:
                have = ", ".join(["input"] + known) if known else "none recorded"
                raise ConfigError(f"no layer named {bad[0]!r} in this run; layers: {have}"
                                  + ("" if known else " (give --program PROG.npz, or use "
                                     "--cores A:B)"))
        # partition of cores into groups
        parts: list[tuple[str, np.ndarray]] = []
        if known:
            for li, name in enumerate(known):
                if layers is None or name in layers:
                    parts.append((name, np.flatnonzero((layer_of == li) & core_ok)))
            if layers is None:
                rest = np.flatnonzero((layer_of < 0) & core_ok)
                if len(rest):
                    parts.append(("other cores", rest))
        else:
            sel = np.flatnonzero(core_ok)
            if layers is None or layers != ["input"]:
                if len(sel) <= 16:
                    parts = [(f"core {c}", np.array([c])) for c in sel]
                else:
                    parts = [(f"cores {sel[0]}-{sel[-1]}", sel)]
        groups: list[RasterGroup] = []
        want_input = include_input and cores is None and (layers is None or "input" in layers)
        if want_input and self.input_events is not None:
            groups.append(self._input_group(frame))
        for name, cs in parts:
            if not len(cs):
                continue
            mask = np.zeros((C, N), np.bool_)
            mask[cs] = used[cs]
            rank = np.full((C, N), -1, np.int64)
            rank[mask] = np.arange(int(mask.sum()))
            r = rank[spikes[:, 1], spikes[:, 2]]
            keep = r >= 0
            groups.append(RasterGroup(name, spikes[keep, 0].astype(np.int64), r[keep],
                                      int(mask.sum()), note=self._layer_note(name)))
        return [g for g in groups if g.n_units > 0]

    def _layer_note(self, name: str) -> str:
        """'64 + 192 splitter copies' for a layer whose neurons the compiler copied."""
        if name not in self.layer_names:
            return ""
        li = self.layer_names.index(name)
        parts = []
        for key, what in (("layer_splitters", "splitter copies"), ("layer_relays", "relays")):
            vals = self.meta.get(key)
            if vals and li < len(vals) and vals[li]:
                parts.append(f"{vals[li]} {what}")
        neurons = self.meta.get("layer_neurons")
        if not parts or not neurons or li >= len(neurons):
            return ""
        return f"({neurons[li]} + " + " + ".join(parts) + ")"

    def _input_group(self, frame: int) -> RasterGroup:
        ev = self.frame_inputs(frame)
        if self.input_map is not None and len(self.input_map):
            m = self.input_map
            key = m[:, 0].astype(np.int64) * 65536 + m[:, 1]
            order = np.argsort(key, kind="stable")
            skey, selem = key[order], m[order, 2]
            ek = ev[:, 1].astype(np.int64) * 65536 + ev[:, 2]
            pos = np.searchsorted(skey, ek)
            hit = (pos < len(skey)) & (skey[np.minimum(pos, len(skey) - 1)] == ek)
            # one input element drives several axons: count each (tick, element) once
            te = np.unique(np.stack([ev[hit, 0], selem[pos[hit]]], axis=1), axis=0)
            n = self.n_inputs or int(m[:, 2].max() + 1)
            return RasterGroup("input", te[:, 0].astype(np.int64), te[:, 1].astype(np.int64),
                               n, is_input=True)
        ek = ev[:, 1].astype(np.int64) * 65536 + ev[:, 2]
        uniq, inv = np.unique(ek, return_inverse=True)
        return RasterGroup("input (core, axon)", ev[:, 0].astype(np.int64),
                           inv.astype(np.int64), len(uniq), is_input=True)


def membrane_traces(program: Any, run: SpikeRun, neurons: list[tuple[int, int]],
                    frame: int = 0, labels: list[str] | None = None) -> list[MembraneTrace]:
    """The membrane potential of each (core, neuron) after every tick of one frame: the
    frame's recorded inputs run again on the engine with membrane probes (the same kernels,
    so ``v_initial``, saturation and stochastic modes are those of the run; stochastic
    programs draw from the run's meta ``seed``, default 0). The note says whether the
    rerun's spikes equal the recorded ones."""
    from snn.cores.engine import InputSpikes
    from snn.cores.engine import run as run_engine
    if not neurons:
        return []
    C, N = program.n_cores, program.n_neurons
    for core, neuron in neurons:
        if not (0 <= core < C and 0 <= neuron < N):
            raise ConfigError(f"trace {core}:{neuron} is outside the program ({C} cores of "
                              f"{N} neurons); give --trace CORE:NEURON")
    if (program.n_cores, program.n_neurons) != (run.n_cores, run.n_neurons):
        raise ConfigError(f"the program has {C} cores of {N} neurons, the run "
                          f"{run.n_cores} of {run.n_neurons}: give the program that made it")
    ev = run.frame_inputs(frame)
    inputs = InputSpikes.from_frames([(ev[:, 0], ev[:, 1], ev[:, 2])])
    res = run_engine(program, run.ticks, inputs, record="full",
                     seed=int(run.meta.get("seed", 0)), first_frame=frame, probe=neurons)
    spikes = run.frame_spikes(frame)
    if np.array_equal(res.spikes[0], spikes):
        note = "engine probe; the rerun's spikes match the record"
    else:
        note = ("engine probe; WARNING: the rerun's spikes differ from the record (another "
                "program or seed?)")
    layer = run.layer_of_core()
    out = []
    for k, (core, neuron) in enumerate(neurons):
        label = labels[k] if labels else (
            f"core {core}:{neuron}" + (f" ({run.layer_names[layer[core]]})"
                                      if layer[core] >= 0 else ""))
        rec = spikes[(spikes[:, 1] == core) & (spikes[:, 2] == neuron), 0]
        out.append(MembraneTrace(label, np.arange(run.ticks), res.probes[0, :, k],
                                 float(program.threshold[core, neuron]),
                                 np.sort(rec).astype(np.int64), note))
    return out


def raster(run: SpikeRun | str | os.PathLike, program: Any = None, *,
           layers: list[str] | None = None, cores: tuple[int, int] | None = None,
           ticks: tuple[int, int] | None = None, frame: int = 0,
           traces: list[tuple[int, int]] = (), max_neurons: int = 1500,
           title: str | None = None, out: str | os.PathLike | None = None):
    """The spike raster of a saved run, from Python (notebooks): what ``snn raster`` draws.

    run: a SpikeRun or the path of a run file; program: the CoreProgram (or its path), for
    layer names of a sim JSON and for membrane ``traces`` [(core, neuron), ...]. Returns the
    matplotlib Figure (shown inline by Jupyter); writes ``out`` when given.
    """
    from snn.plots import plot_raster

    if program is not None and not hasattr(program, "crossbar"):
        from snn.cores.program import CoreProgram
        program = CoreProgram.load(program)
    srun = run if isinstance(run, SpikeRun) else SpikeRun.load(run, program)
    if traces and program is None:
        src = srun.meta.get("program")
        if not src or not Path(src).exists():
            raise ConfigError("membrane traces need the core program: pass program=...")
        from snn.cores.program import CoreProgram
        program = CoreProgram.load(src)
    t0, t1 = ticks if ticks is not None else (0, srun.ticks)
    if not 0 <= t0 < t1 <= srun.ticks:
        raise ConfigError(f"ticks {t0}:{t1} are outside the run's 0:{srun.ticks}")
    groups = srun.groups(frame, layers=layers, cores=cores)
    trs = membrane_traces(program, srun, list(traces), frame)
    return plot_raster(groups, (t0, t1), tick_ms=srun.tick_s * 1e3, traces=trs,
                       title=title or default_title(srun, frame), max_units=max_neurons,
                       out=out)


def default_title(srun: SpikeRun, frame: int) -> str:
    """'Spike raster, frame 0, label 6, predicted 6, <name>'."""
    parts = [f"Spike raster, frame {frame}"]
    if srun.labels is not None and frame < len(srun.labels):
        parts.append(f"label {int(srun.labels[frame])}")
    if srun.predictions is not None and frame < len(srun.predictions):
        parts.append(f"predicted {int(srun.predictions[frame])}")
    src = srun.meta.get("name") or srun.meta.get("program")
    if src:
        parts.append(str(Path(str(src)).name))
    return ", ".join(parts)


def record_program_run(program: Any, images: Any, ticks: int, *, labels: Any = None,
                       seed: int = 0, first_frame: int = 0, name: str | None = None,
                       program_path: str | None = None) -> SpikeRun:
    """Run a compiled program on ``images`` (raw frames) for ``ticks`` input ticks plus its
    pipeline latency with the full spike record: what ``snn eval PROG --record`` saves."""
    from snn.cores.compiler import encode_frames
    from snn.cores.engine import run

    lat = int(np.asarray(program.extras.get("latency_ticks", 0)))
    inputs = encode_frames(program, images, ticks, seed=seed, first_frame=first_frame)
    from snn.scoring import predict

    res = run(program, ticks + lat, inputs, record="full", seed=seed, return_potential=True)
    meta = {"ticks_in": int(ticks), "latency_ticks": lat, "first_frame": int(first_frame),
            "seed": int(seed)}
    if name:
        meta["name"] = name
    if program_path:
        meta["program"] = str(Path(program_path).resolve())
    return SpikeRun.from_result(program, res, inputs, labels=labels,
                                predictions=predict(program, res, ticks), meta=meta)


def _check_run_arrays(g: dict[str, np.ndarray], where: str) -> dict:
    """Types, shapes and ranges of an ``snn-run/1`` file's arrays (FormatError naming the
    key); returns its metadata."""
    from snn.validate import scalar
    tag = scalar(g, "format", "str", where) if "format" in g else "none"
    if tag != RUN_FORMAT:
        raise FormatError(f"{where}: format is {tag!r}, expected {RUN_FORMAT!r} (a run with "
                          "recorded spikes, e.g. from `snn eval ... --record`)")
    for key in ("ticks", "spikes", "offsets", "n_cores", "n_neurons", "tick_s"):
        if key not in g:
            raise FormatError(f"{where}: key {key!r} missing from the run file")
    ticks = scalar(g, "ticks", "int", where)
    n_cores = scalar(g, "n_cores", "int", where)
    n_neurons = scalar(g, "n_neurons", "int", where)
    tick_s = scalar(g, "tick_s", "float", where)
    if ticks < 1 or n_cores < 1 or n_neurons < 1 or not tick_s > 0:
        raise FormatError(f"{where}: ticks, n_cores, n_neurons and tick_s must be positive")
    for key, width in (("spikes", 3), ("input_events", 3), ("input_map", 3)):
        if key in g:
            a = g[key]
            if a.dtype.kind not in "iu" or a.ndim != 2 or a.shape[1] != width:
                raise FormatError(f"{where}: {key!r} must be integers [rows, {width}], is "
                                  f"{a.dtype} {a.shape}")
    sp = g["spikes"]
    if len(sp) and (sp.min() < 0 or sp[:, 0].max() >= ticks or sp[:, 1].max() >= n_cores
                    or sp[:, 2].max() >= n_neurons):
        raise FormatError(f"{where}: a spike lies outside the run's {ticks} ticks x {n_cores} "
                          f"cores x {n_neurons} neurons")
    for key, rows in (("offsets", len(sp)), ("input_offsets", len(g.get("input_events", ())))):
        if key not in g:
            continue
        o = g[key]
        if (o.dtype.kind not in "iu" or o.ndim != 1 or len(o) < 1 or o[0] != 0
                or o[-1] != rows or np.any(np.diff(o) < 0)):
            raise FormatError(f"{where}: {key!r} must rise from 0 to the number of rows "
                              f"({rows}), one entry per frame boundary")
    if ("input_events" in g) != ("input_offsets" in g):
        raise FormatError(f"{where}: 'input_events' and 'input_offsets' come together")
    if "input_offsets" in g and len(g["input_offsets"]) != len(g["offsets"]):
        raise FormatError(f"{where}: 'input_offsets' must have one entry per frame boundary, "
                          f"as 'offsets' ({len(g['offsets'])})")
    n_frames = len(g["offsets"]) - 1
    names = g.get("layer_names")
    if names is not None and (names.dtype.kind not in "US" or names.ndim != 1):
        raise FormatError(f"{where}: 'layer_names' must be a list of strings")
    if "core_layer" in g:
        cl = g["core_layer"]
        top = len(names) - 1 if names is not None else np.iinfo(np.int32).max
        if (cl.dtype.kind not in "iu" or cl.ndim != 1 or len(cl) != n_cores
                or (len(cl) and (cl.min() < -1 or cl.max() > top))):
            raise FormatError(f"{where}: 'core_layer' must hold one layer index (-1..{top}) "
                              f"per core ({n_cores})")
    if "neuron_used" in g:
        nu = g["neuron_used"]
        if nu.dtype != np.bool_ or nu.shape != (n_cores, n_neurons):
            raise FormatError(f"{where}: 'neuron_used' must be bool [{n_cores}, {n_neurons}], "
                              f"is {nu.dtype} {nu.shape}")
    if "n_inputs" in g and scalar(g, "n_inputs", "int", where) < 0:
        raise FormatError(f"{where}: 'n_inputs' must be >= 0")
    if "input_map" in g and len(g["input_map"]):
        im = g["input_map"]
        if im.min() < 0 or im[:, 0].max() >= n_cores:
            raise FormatError(f"{where}: 'input_map' rows must be (core < {n_cores}, axon, "
                              "element), none negative")
    if "input_events" in g and len(g["input_events"]):
        ie = g["input_events"]
        if ie.min() < 0 or ie[:, 1].max() >= n_cores:
            raise FormatError(f"{where}: 'input_events' rows must be (tick, core < {n_cores}, "
                              "axon), none negative")
    for key in ("labels", "predictions"):
        if key in g and (g[key].dtype.kind not in "iu" or g[key].shape != (n_frames,)):
            raise FormatError(f"{where}: {key!r} must be integers, one per frame ({n_frames})")
    meta: dict = {}
    if "meta" in g:
        try:
            meta = json.loads(scalar(g, "meta", "str", where))
        except json.JSONDecodeError as exc:
            raise FormatError(f"{where}: 'meta' is not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise FormatError(f"{where}: 'meta' must be a JSON object")
    return meta
