"""Event datasets through tonic (N-MNIST from a directory), and events -> input spikes.

``load_nmnist(directory, split, transform)`` reads N-MNIST's ``.bin`` layout offline
(``<directory>/NMNIST/{Train,Test}/<label>/<id>.bin``) with ``tonic.datasets.NMNIST``.
``default_transform()`` is tonic's Denoise + Downsample (34x34 -> 17x17 so that 2x17x17 = 578
input elements). ``events_to_spikes`` bins events to 1 ms ticks: element = (p, y, x) in
channel-first order, one spike per (tick, element) — what the cores receive, and, as a dense
tensor (``spikes_to_dense``), what the torch model trains on (the same binning as tonic's
``ToFrame(time_window=1000)`` followed by clipping counts to 1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn.errors import DatasetError

NMNIST_SENSOR = (34, 34, 2)  # (W, H, P) as tonic
TICK_US = 1000


def _nmnist_class():
    try:
        import tonic
    except ImportError as exc:  # pragma: no cover - tonic is a dependency
        raise DatasetError("tonic is needed for event datasets: pip install tonic") from exc

    class NMNIST(tonic.datasets.NMNIST):
        """tonic's NMNIST that never downloads: the directory already holds the .bin files."""

        def _check_exists(self) -> bool:
            return True

    return NMNIST


def load_nmnist(directory: str | os.PathLike, split: str = "train", transform=None,
                limit: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """N-MNIST samples of ``split`` from ``directory`` (holding ``NMNIST/Train`` and
    ``NMNIST/Test``) as (list of tonic structured event arrays x, y, t, p; labels int64)."""
    directory = Path(directory)
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    folder = directory / "NMNIST" / ("Train" if split == "train" else "Test")
    if not folder.is_dir() or not any(folder.glob("*/*.bin")):
        raise DatasetError(f"{folder}: no N-MNIST .bin files (expected "
                           f"{folder}/<label>/<id>.bin); give the directory that holds NMNIST/")
    ds = _nmnist_class()(save_to=str(directory), train=split == "train", transform=transform)
    n = len(ds) if limit is None else min(limit, len(ds))
    events, labels = [], []
    for i in range(n):
        ev, label = ds[i]
        events.append(ev)
        labels.append(int(label))
    return events, np.asarray(labels, np.int64)


def default_transform(spatial_factor: float = 0.5, time_factor: float = 1.0,
                      filter_time_us: float = 10000.0):
    """tonic Denoise(filter_time) then Downsample(spatial_factor, time_factor); time_factor
    < 1 compresses time (0.1: 10 ms of recording per 1 ms tick)."""
    import tonic.transforms as T

    return T.Compose([T.Denoise(filter_time=filter_time_us),
                      T.Downsample(time_factor=time_factor, spatial_factor=spatial_factor)])


@dataclass(frozen=True)
class EventGrid:
    """The input element grid: channels (polarities), height, width; element = (p*H + y)*W + x."""

    channels: int
    height: int
    width: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def size(self) -> int:
        return self.channels * self.height * self.width

    @classmethod
    def for_nmnist(cls, spatial_factor: float = 0.5) -> EventGrid:
        w, h, p = NMNIST_SENSOR
        return cls(p, int(np.ceil(h * spatial_factor)), int(np.ceil(w * spatial_factor)))


def events_to_spikes(events: np.ndarray, grid: EventGrid, tick_us: int = TICK_US,
                     max_ticks: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Structured events (x, y, t, p) -> sorted unique (tick int32 [E], element int32 [E]);
    tick = t // tick_us; events outside the grid or at ticks >= max_ticks are dropped."""
    x = np.asarray(events["x"], np.int64)
    y = np.asarray(events["y"], np.int64)
    p = np.asarray(events["p"], np.int64)
    t = np.asarray(events["t"], np.int64) // tick_us
    ok = (x >= 0) & (x < grid.width) & (y >= 0) & (y < grid.height) & (p >= 0) & (
        p < grid.channels) & (t >= 0)
    if max_ticks is not None:
        ok &= t < max_ticks
    el = (p * grid.height + y) * grid.width + x
    key = np.unique(t[ok] * grid.size + el[ok])
    return (key // grid.size).astype(np.int32), (key % grid.size).astype(np.int32)


def spikes_to_dense(spikes: list[tuple[np.ndarray, np.ndarray]], grid: EventGrid,
                    ticks: int) -> np.ndarray:
    """Per-sample (tick, element) lists -> uint8 [B, ticks, C, H, W] (events past ``ticks``
    dropped)."""
    out = np.zeros((len(spikes), ticks, grid.size), np.uint8)
    for b, (t, el) in enumerate(spikes):
        m = t < ticks
        out[b, t[m], el[m]] = 1
    return out.reshape(len(spikes), ticks, *grid.shape)
