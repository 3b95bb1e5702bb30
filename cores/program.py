"""CoreProgram: the arrays of C cores, and the ``snn-cores/1`` file (docs/design.md §4.2).

The contract between the compiler, the engine, other simulators and users who write
networks by hand. ``validate()`` refuses anything that breaks a rule, naming the key, the
first offending index and the rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from snn.cores.hardware.spec import CoreSpec
from snn.errors import FormatError, ProgramError
from snn.fileio import atomic_savez

FORMAT = "snn-cores/1"
EXTRA_PREFIX = "x_"

# key -> (dtype, shape pattern); "C", "A", "N", "E" are the dimensions.
REQUIRED: dict[str, tuple[type, tuple[str, ...]]] = {
    "crossbar": (np.bool_, ("C", "A", "N")),
    "axon_type": (np.uint8, ("C", "A")),
    "weight": (np.int16, ("C", "N", "4")),
    "leak": (np.int32, ("C", "N")),
    "threshold": (np.int32, ("C", "N")),
    "neg_threshold": (np.int32, ("C", "N")),
    "reset_value": (np.int32, ("C", "N")),
    "reset_mode": (np.uint8, ("C", "N")),
    "target_core": (np.int32, ("C", "N")),
    "target_axon": (np.int16, ("C", "N")),
    "delay": (np.uint8, ("C", "N")),
    "output_index": (np.int32, ("C", "N")),
}
OPTIONAL: dict[str, tuple[type, tuple[str, ...]]] = {
    "core_xy": (np.int32, ("C", "2")),
    "input_tick": (np.int32, ("E",)),
    "input_core": (np.int32, ("E",)),
    "input_axon": (np.int16, ("E",)),
    # TrueNorth's stochastic modes (counter-based PRNG, see snn.cores.engine):
    "stochastic_synapse": (np.bool_, ("C", "N", "4")),  # weight w adds sign(w) w.p. |w|/256
    "stochastic_leak": (np.bool_, ("C", "N")),  # leak l adds sign(l) w.p. |l|/256
    "threshold_mask": (np.int32, ("C", "N")),  # fire if V >= threshold + (rand & mask)
    # membrane potential of every neuron at the start of a run (default 0); the converter's
    # v_init (a fraction of the threshold) becomes this on cores
    "v_initial": (np.int32, ("C", "N")),
}
MEMBRANE_BITS = 20  # the membrane of docs/design.md §3.1 saturates at +-2^19
V_MIN, V_MAX = -(2 ** (MEMBRANE_BITS - 1)), 2 ** (MEMBRANE_BITS - 1) - 1
RESET_NORMAL, RESET_LINEAR, RESET_NONE = 0, 1, 2


@dataclass
class CoreProgram:
    """C cores of A axons and N neurons; field meanings in docs/design.md §3.1 and §4.2.

    ``extras`` holds optional, non-engine keys (saved as ``x_<name>``), e.g. the compiler's
    input map, encoding, pixel scale and layer names.
    """

    crossbar: np.ndarray
    axon_type: np.ndarray
    weight: np.ndarray
    leak: np.ndarray
    threshold: np.ndarray
    neg_threshold: np.ndarray
    reset_value: np.ndarray
    reset_mode: np.ndarray
    target_core: np.ndarray
    target_axon: np.ndarray
    delay: np.ndarray
    output_index: np.ndarray
    core_xy: np.ndarray | None = None
    input_tick: np.ndarray | None = None
    input_core: np.ndarray | None = None
    input_axon: np.ndarray | None = None
    stochastic_synapse: np.ndarray | None = None
    stochastic_leak: np.ndarray | None = None
    threshold_mask: np.ndarray | None = None
    v_initial: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    # -- shape -------------------------------------------------------------------------
    @property
    def n_cores(self) -> int:
        return int(self.crossbar.shape[0])

    @property
    def n_axons(self) -> int:
        return int(self.crossbar.shape[1])

    @property
    def n_neurons(self) -> int:
        return int(self.crossbar.shape[2])

    @property
    def n_outputs(self) -> int:
        """Number of readout counters (max output_index + 1)."""
        return int(self.output_index.max()) + 1 if self.output_index.size else 0

    def placement(self, chip_width: int = 64, chip_height: int = 64) -> np.ndarray:
        """Mesh coordinates (x, y) of every core: ``core_xy`` or the default layout of
        docs/design.md §3.3."""
        if self.core_xy is not None:
            return self.core_xy
        c = np.arange(self.n_cores, dtype=np.int64)
        per_chip = chip_width * chip_height
        x = c % chip_width + chip_width * (c // per_chip)
        y = (c // chip_width) % chip_height
        return np.stack([x, y], axis=1).astype(np.int32)

    # -- construction --------------------------------------------------------------------
    @classmethod
    def empty(cls, n_cores: int, spec: CoreSpec | None = None) -> CoreProgram:
        """A program of silent cores (no synapses, no targets) to fill in by hand.

        Defaults: threshold 1, reset to 0, floor 0, delay 1, no target, no readout.
        """
        spec = spec or CoreSpec.truenorth()
        C, A, N = n_cores, spec.axons, spec.neurons
        z = np.zeros((C, N), np.int32)
        return cls(
            crossbar=np.zeros((C, A, N), np.bool_),
            axon_type=np.zeros((C, A), np.uint8),
            weight=np.zeros((C, N, 4), np.int16),
            leak=z.copy(), threshold=np.ones((C, N), np.int32), neg_threshold=z.copy(),
            reset_value=z.copy(), reset_mode=np.zeros((C, N), np.uint8),
            target_core=np.full((C, N), -1, np.int32),
            target_axon=np.zeros((C, N), np.int16),
            delay=np.ones((C, N), np.uint8),
            output_index=np.full((C, N), -1, np.int32),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The engine arrays present (required and optional), by key."""
        out = {}
        for f in fields(self):
            if f.name == "extras":
                continue
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = v
        return out

    # -- validation ------------------------------------------------------------------------
    def validate(self, spec: CoreSpec | None = None) -> CoreProgram:
        """Check every rule of docs/design.md §4.2 (and the spec's ranges if given); return self.

        Raises ProgramError naming the key, the first offending index and the rule.
        """
        _validate(self, spec)
        return self

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``snn-cores/1`` atomically (temp file + rename)."""
        payload = {"format": np.array(FORMAT)}
        payload.update(self.arrays())
        for k, v in self.extras.items():
            payload[EXTRA_PREFIX + k] = np.asarray(v)
        return atomic_savez(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike, validate: bool = True,
             spec: CoreSpec | None = None) -> CoreProgram:
        """Read and (by default) validate a ``snn-cores/1`` file: the rules of
        docs/design.md §4.2, the compiler's ``x_*`` extras and the declared spec's ranges
        (``snn.validate``)."""
        from snn.validate import load_npz, scalar, validate_program

        path = Path(path)
        hint = "give a core program written by `snn compile` (snn-cores/1)"
        data = load_npz(path, "core program", hint)
        keys = set(data)
        if "format" not in keys:
            raise FormatError(f"{path}: key 'format' missing; a core program must carry "
                              f"format={FORMAT!r}")
        tag = scalar(data, "format", "str", str(path))
        if tag != FORMAT:
            raise FormatError(f"{path}: format is {tag!r}, expected {FORMAT!r}; {hint}")
        missing = [k for k in REQUIRED if k not in keys]
        if missing:
            raise ProgramError(missing[0], "required key missing from the file",
                               fix=f"all of {list(REQUIRED)} are required", path=str(path))
        kwargs = {k: data[k] for k in list(REQUIRED) + list(OPTIONAL) if k in keys}
        extras = {k[len(EXTRA_PREFIX):]: data[k] for k in keys if k.startswith(EXTRA_PREFIX)}
        unknown = keys - set(REQUIRED) - set(OPTIONAL) - {"format"} - {
            EXTRA_PREFIX + k for k in extras}
        if unknown:
            raise ProgramError(sorted(unknown)[0], "unknown key",
                               fix=f"extra keys must start with {EXTRA_PREFIX!r}",
                               path=str(path))
        prog = cls(**kwargs, extras=extras)
        if validate:
            try:
                prog.validate(spec)
                validate_program(prog)
            except ProgramError as exc:
                raise ProgramError(exc.key, exc.rule, exc.index, exc.fix, str(path)) from None
        return prog


def _first(mask: np.ndarray) -> tuple[int, ...]:
    idx = np.argwhere(mask)[0]
    return tuple(int(i) for i in idx)


def _validate(p: CoreProgram, spec: CoreSpec | None) -> None:
    arrays = p.arrays()
    for key in REQUIRED:
        if arrays.get(key) is None:
            raise ProgramError(key, "required array missing")
    for key, arr in arrays.items():
        if not isinstance(arr, np.ndarray):
            raise ProgramError(key, f"must be a numpy array, got {type(arr).__name__}")
    cb = p.crossbar
    if cb.ndim != 3 or cb.shape[0] < 1:
        raise ProgramError("crossbar", f"must have shape [C, A, N] with C >= 1, got {cb.shape}")
    dims = {"C": cb.shape[0], "A": cb.shape[1], "N": cb.shape[2], "4": 4, "2": 2}
    if p.input_tick is not None:
        dims["E"] = p.input_tick.shape[0] if p.input_tick.ndim == 1 else -1
    table = {**REQUIRED, **OPTIONAL}
    for key, arr in arrays.items():
        dtype, pattern = table[key]
        if arr.dtype != np.dtype(dtype):
            raise ProgramError(key, f"dtype is {arr.dtype}, must be {np.dtype(dtype)}",
                               fix=f"cast with .astype(np.{np.dtype(dtype).name})")
        want = tuple(dims.get(d, -1) for d in pattern)
        if arr.shape != want:
            shape_s = "[" + ", ".join(pattern) + "]"
            raise ProgramError(key, f"shape is {arr.shape}, must be {shape_s} = {want}")
    C, A = dims["C"], dims["A"]
    rules = [
        ("axon_type", p.axon_type > 3, "axon type must be 0..3"),
        ("threshold", p.threshold < 1, "threshold must be >= 1"),
        ("neg_threshold", p.neg_threshold < 0, "neg_threshold must be >= 0"),
        ("reset_mode", p.reset_mode > 2, "reset_mode must be 0, 1 or 2"),
        ("target_core", (p.target_core < -1) | (p.target_core >= C),
         f"target_core must be -1 or 0..{C - 1} (a core of this program)"),
        ("target_axon", (p.target_core >= 0) & ((p.target_axon < 0) | (p.target_axon >= A)),
         f"target_axon must be 0..{A - 1} where target_core >= 0"),
        ("delay", (p.delay < 1) | (p.delay > 15), "delay must be 1..15 ticks"),
        ("output_index", p.output_index < -1, "output_index must be -1 or >= 0"),
    ]
    if spec is not None:
        rules += [
            ("axon_type", p.axon_type >= spec.axon_types,
             f"axon type must be < {spec.axon_types} for spec {spec.name!r}"),
            ("weight", (p.weight < spec.weight_min) | (p.weight > spec.weight_max),
             f"weight must lie in {spec.weight_min}..{spec.weight_max} for spec {spec.name!r}"),
            ("threshold", p.threshold > spec.threshold_max,
             f"threshold must be <= {spec.threshold_max} for spec {spec.name!r}"),
            ("delay", (p.delay < spec.delay_min) | (p.delay > spec.delay_max),
             f"delay must be {spec.delay_min}..{spec.delay_max} for spec {spec.name!r}"),
        ]
        if (A, dims["N"]) != (spec.axons, spec.neurons):
            raise ProgramError("crossbar", f"cores are {A}x{dims['N']}, spec {spec.name!r} "
                               f"has {spec.axons}x{spec.neurons}")
    if p.core_xy is not None:
        rules.append(("core_xy", p.core_xy < 0, "coordinates must be >= 0"))
    if p.threshold_mask is not None:
        rules.append(("threshold_mask", p.threshold_mask < 0, "threshold_mask must be >= 0"))
    if p.v_initial is not None:
        rules.append(("v_initial", (p.v_initial < V_MIN) | (p.v_initial > V_MAX),
                      f"initial membrane must lie in {V_MIN}..{V_MAX} ({MEMBRANE_BITS} bits)"))
    for key, bad, rule in rules:
        if bad.any():
            raise ProgramError(key, rule, _first(bad))
    if p.core_xy is not None:
        _, first, counts = np.unique(p.core_xy, axis=0, return_index=True, return_counts=True)
        if (counts > 1).any():
            dup = p.core_xy[first[np.argmax(counts > 1)]]
            where = np.flatnonzero((p.core_xy == dup).all(axis=1))
            raise ProgramError("core_xy", f"two cores share the mesh point {tuple(dup)}",
                               int(where[1]), fix="one core per point")
    inputs = [p.input_tick, p.input_core, p.input_axon]
    present = [x is not None for x in inputs]
    if any(present) and not all(present):
        missing = ["input_tick", "input_core", "input_axon"][present.index(False)]
        raise ProgramError(missing, "input_tick, input_core and input_axon come together")
    if all(present):
        for key, bad, rule in [
            ("input_tick", p.input_tick < 0, "input tick must be >= 0"),
            ("input_core", (p.input_core < 0) | (p.input_core >= C), f"must be 0..{C - 1}"),
            ("input_axon", (p.input_axon < 0) | (p.input_axon >= A), f"must be 0..{A - 1}"),
        ]:
            if bad.any():
                raise ProgramError(key, rule, _first(bad))
