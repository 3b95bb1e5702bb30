"""What a benchmark suite is: its TOML file parsed into models and grid rows, and the
prepared model (converted network and held-out frames) a row runs on. Shared by
:mod:`snn.bench_suite` (scheduling, result files) and :mod:`snn.bench_pipeline` (what one
row does), which import it and not each other's definitions.

Suite file (paths relative to the suite file)::

    [suite]
    name = "default"
    seed = 0
    energy = "truenorth"          # energy preset (snn.cores.hardware.energy)
    tick_us = 1000                # tick period

    [models.digits-mlp]
    dataset = "digits"            # mnist | fashion-mnist | digits
    source = "builtin:digits-mlp" # or a .onnx / torch file
    calib = "0:200"               # calibration frames (train split for builtin models)
    eval = "0:540"                # held-out test frames
    pixel_scale = 0.00392156862745098   # optional

    [[grid]]                      # every combination of the lists is one row
    model = ["digits-mlp"]
    preset = ["truenorth"]
    weight_bits = [2, 4, 8]
    ticks = [16, 32, 64]
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snn.errors import ConfigError

ROW_AXES = ("model", "preset", "weight_bits", "ticks")


@dataclass(frozen=True)
class ModelSpec:
    """A trained model of the suite and the data it is measured on."""

    name: str
    dataset: str
    source: str
    calib: str = "0:500"
    eval: str = "500:"
    data_dir: str | None = None
    pixel_scale: float | None = None
    options: dict[str, Any] = field(default_factory=dict)  # passed to the converter


@dataclass(frozen=True)
class Row:
    """One point of the grid."""

    model: str
    preset: str
    weight_bits: int | None
    ticks: int

    @property
    def key(self) -> str:
        bits = "auto" if self.weight_bits is None else self.weight_bits
        return f"{self.model}/{self.preset}/w{bits}/t{self.ticks}"


@dataclass
class Suite:
    name: str
    path: Path
    models: dict[str, ModelSpec]
    rows: list[Row]
    seed: int = 0
    energy: str = "truenorth"
    tick_us: float = 1000.0

    def resolve(self, p: str) -> str:
        """A path of the suite file, relative to the file's folder."""
        q = Path(p).expanduser()
        return str(q if q.is_absolute() else (self.path.parent / q).resolve())


# -- loading -------------------------------------------------------------------------------


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError as exc:
            raise ConfigError("reading a suite needs Python >= 3.11 or `pip install tomli`"
                              ) from exc
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the suite file ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc


def load_suite(path: str | os.PathLike) -> Suite:
    """Read and check a suite file; every error names the table and key."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such suite file (the default is benchmarks/suite.toml)")
    doc = _toml(path)
    head = doc.get("suite", {})
    models: dict[str, ModelSpec] = {}
    known = {"dataset", "source", "calib", "eval", "data_dir", "pixel_scale", "options"}
    for name, m in doc.get("models", {}).items():
        unknown = sorted(set(m) - known)
        if unknown:
            raise ConfigError(f"{path}: [models.{name}] unknown key {unknown[0]!r}; known: "
                              f"{sorted(known)}")
        for req in ("dataset", "source"):
            if req not in m:
                raise ConfigError(f"{path}: [models.{name}] needs {req!r}")
        models[name] = ModelSpec(name=name, **m)
    if not models:
        raise ConfigError(f"{path}: no [models.NAME] table")
    rows: list[Row] = []
    grids = doc.get("grid", [])
    if not grids:
        raise ConfigError(f"{path}: no [[grid]] table; add one with model, preset, "
                          "weight_bits and ticks lists")
    for gi, grid in enumerate(grids):
        unknown = sorted(set(grid) - set(ROW_AXES))
        if unknown:
            raise ConfigError(f"{path}: [[grid]] #{gi + 1}: unknown key {unknown[0]!r}; "
                              f"known: {list(ROW_AXES)}")
        axes = []
        for ax in ROW_AXES:
            v = grid.get(ax, ["truenorth"] if ax == "preset" else
                         ["auto"] if ax == "weight_bits" else None)
            if v is None:
                raise ConfigError(f"{path}: [[grid]] #{gi + 1} needs {ax!r}")
            axes.append(v if isinstance(v, list) else [v])
        for model, preset, bits, ticks in itertools.product(*axes):
            if model not in models:
                raise ConfigError(f"{path}: [[grid]] #{gi + 1}: model {model!r} has no "
                                  f"[models.{model}] table")
            if not (isinstance(ticks, int) and ticks >= 1):
                raise ConfigError(f"{path}: [[grid]] #{gi + 1}: ticks must be integers >= 1")
            b = None if bits in ("auto", None) else int(bits)
            row = Row(str(model), str(preset), b, int(ticks))
            if row not in rows:
                rows.append(row)
    return Suite(name=str(head.get("name", path.stem)), path=path.resolve(), models=models,
                 rows=rows, seed=int(head.get("seed", 0)),
                 energy=str(head.get("energy", "truenorth")),
                 tick_us=float(head.get("tick_us", 1000.0)))


@dataclass
class PreparedModel:
    """A converted model and its held-out frames, shipped to the workers."""

    spec: ModelSpec
    network: Any
    images: Any
    labels: Any
    ann_accuracy: float | None
    info: dict[str, Any] = field(default_factory=dict)
