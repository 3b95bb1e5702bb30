"""The engine's data types, shared by its backends (numba, reference, Brian2): the input
spikes of B frames, a run's result, the counters, and the mesh hops of each neuron's spike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn.cores.program import CoreProgram
from snn.errors import ConfigError

COUNTERS = ("spikes", "sops", "hops", "chip_crossings", "input_events", "axon_collisions")
RECORD_MODES = ("none", "counts", "full")
BACKENDS = ("numba", "brian2", "reference")


@dataclass
class InputSpikes:
    """External input spikes for B frames, CSR by frame: frame b's events are
    [offsets[b]:offsets[b+1]] of tick/core/axon."""

    tick: np.ndarray  # int32 [E]
    core: np.ndarray  # int32 [E]
    axon: np.ndarray  # int16 [E]
    offsets: np.ndarray  # int64 [B+1]

    @property
    def n_frames(self) -> int:
        return int(len(self.offsets) - 1)

    @classmethod
    def from_frames(cls, frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                    ) -> InputSpikes:
        """Build from one (tick, core, axon) triple of equal-length arrays per frame."""
        ticks, cores, axons, offsets = [], [], [], [0]
        for i, fr in enumerate(frames):
            if len(fr) != 3:
                raise ConfigError(f"inputs frame {i}: expected (tick, core, axon), got "
                                  f"{len(fr)} arrays")
            t, c, a = (np.asarray(x).reshape(-1) for x in fr)
            if not (len(t) == len(c) == len(a)):
                raise ConfigError(f"inputs frame {i}: tick, core, axon have lengths "
                                  f"{len(t)}, {len(c)}, {len(a)}; they must be equal")
            ticks.append(t)
            cores.append(c)
            axons.append(a)
            offsets.append(offsets[-1] + len(t))
        def cat(xs: list[np.ndarray], dt: type) -> np.ndarray:
            return np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)
        return cls(_as_int(cat(ticks, np.int64), np.int32, "tick"),
                   _as_int(cat(cores, np.int64), np.int32, "core"),
                   _as_int(cat(axons, np.int64), np.int16, "axon"),
                   np.asarray(offsets, np.int64))

    @classmethod
    def from_program(cls, program: CoreProgram) -> InputSpikes:
        """The program's stored inputs as one frame (no stored inputs: one empty frame)."""
        if program.input_tick is None:
            return cls.from_frames([(np.zeros(0), np.zeros(0), np.zeros(0))])
        return cls.from_frames([(program.input_tick, program.input_core, program.input_axon)])

    @classmethod
    def empty(cls, n_frames: int = 1) -> InputSpikes:
        """B frames without input."""
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int16),
                   np.zeros(n_frames + 1, np.int64))

    def validate(self, program: CoreProgram) -> InputSpikes:
        """Check shapes, dtypes and ranges against the program; return self."""
        E = None
        for name in ("tick", "core", "axon"):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.ndim != 1:
                raise ConfigError(f"inputs.{name} must be a 1-D numpy array")
            if not np.issubdtype(arr.dtype, np.integer):
                raise ConfigError(f"inputs.{name} has dtype {arr.dtype}; it must be integer")
            if E is not None and len(arr) != E:
                raise ConfigError("inputs.tick, inputs.core and inputs.axon must have the "
                                  "same length")
            E = len(arr)
        off = np.asarray(self.offsets)
        if off.ndim != 1 or len(off) < 2 or not np.issubdtype(off.dtype, np.integer):
            raise ConfigError("inputs.offsets must be an integer array [B+1] with B >= 1")
        if off[0] != 0 or off[-1] != E or (np.diff(off) < 0).any():
            raise ConfigError(f"inputs.offsets must rise from 0 to the number of events ({E}); "
                              f"got {off[0]}..{off[-1]}")
        C, A = program.n_cores, program.n_axons
        for name, hi in (("tick", None), ("core", C), ("axon", A)):
            arr = getattr(self, name)
            bad = arr < 0 if hi is None else (arr < 0) | (arr >= hi)
            if bad.any():
                i = int(np.argmax(bad))
                rng = ">= 0" if hi is None else f"0..{hi - 1}"
                raise ConfigError(f"inputs.{name}[{i}] = {int(arr[i])} (frame "
                                  f"{int(np.searchsorted(off, i, side='right') - 1)}): must be "
                                  f"{rng} for this program")
        return self


@dataclass
class RunResult:
    ticks: int
    n_frames: int
    counters: dict[str, np.ndarray]  # int64 [B] each, keys COUNTERS
    outputs: np.ndarray  # int64 [B, n_outputs]
    spikes: list[np.ndarray] | None  # record="full": per frame int32 [S, 3] (tick, core, neuron)
    spike_counts: np.ndarray | None  # record="counts": int32 [B, C, N]
    per_core: dict[str, np.ndarray] | None  # "spikes","sops","hops" int64 [B, C]
    per_tick: dict[str, np.ndarray] | None  # "spikes","sops" int64 [B, T]
    potential: np.ndarray | None  # final V, int32 [B, C, N]
    wall_s: float  # the run alone, without numba compilation
    backend: str
    # probe=[(core, neuron), ...]: the membrane of each after every tick, int32 [B, T, K]
    probes: np.ndarray | None = None

    def total(self, key: str) -> int:
        """Sum of counters[key] over frames."""
        if key not in self.counters:
            raise ConfigError(f"unknown counter {key!r}; choose one of {list(self.counters)}")
        return int(self.counters[key].sum())


def check_probes(program: CoreProgram, probe: object) -> tuple[np.ndarray, np.ndarray]:
    """The (core, neuron) pairs of a run's ``probe`` argument as int32 arrays (core, neuron),
    or a ConfigError naming the bad entry."""
    try:
        arr = np.asarray(probe, dtype=np.int64).reshape(-1, 2)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"probe must be a list of (core, neuron) pairs, got {probe!r}"
                          ) from exc
    for i, (c, n) in enumerate(arr):
        if not (0 <= c < program.n_cores and 0 <= n < program.n_neurons):
            raise ConfigError(f"probe[{i}] = ({c}, {n}) is outside the program "
                              f"({program.n_cores} cores of {program.n_neurons} neurons)")
    return (np.ascontiguousarray(arr[:, 0], np.int32), np.ascontiguousarray(arr[:, 1], np.int32))


def hop_counts(program: CoreProgram, chip_size: tuple[int, int] = (64, 64)
               ) -> tuple[np.ndarray, np.ndarray]:
    """Mesh hops and chip-boundary crossings of each neuron's spike: int32 [C, N] each
    (0 where target_core = -1)."""
    xy = program.placement(*chip_size).astype(np.int64)
    tc = program.target_core
    has = tc >= 0
    dst = xy[np.where(has, tc, 0)]  # [C, N, 2]
    src = xy[:, None, :]
    hops = np.abs(dst - src).sum(axis=2)
    cw, ch = chip_size
    chips = (np.abs(dst[..., 0] // cw - src[..., 0] // cw)
             + np.abs(dst[..., 1] // ch - src[..., 1] // ch))
    return (np.where(has, hops, 0).astype(np.int32), np.where(has, chips, 0).astype(np.int32))


def _as_int(arr: np.ndarray, dtype: type, name: str) -> np.ndarray:
    info = np.iinfo(dtype)
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        raise ConfigError(f"inputs.{name}: values {int(arr.min())}..{int(arr.max())} do not "
                          f"fit {np.dtype(dtype).name}")
    return arr.astype(dtype)
