"""Event data: tonic loading of N-MNIST, binning to 1 ms ticks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snn.errors import DatasetError
from snn.event_data import (
    EventGrid,
    default_transform,
    events_to_spikes,
    load_nmnist,
    spikes_to_dense,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nmnist"
DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def _events(rows):
    return np.array(rows, DTYPE)


def test_events_to_spikes_bins_dedups_and_drops():
    grid = EventGrid(2, 3, 4)
    ev = _events([(1, 2, 10, 0), (1, 2, 999, 0), (1, 2, 1000, 0), (3, 0, 1500, 1),
                  (9, 0, 0, 0), (0, 0, 5000, 0)])
    tick, el = events_to_spikes(ev, grid, max_ticks=3)
    # (x=1, y=2, p=0) twice in tick 0 -> one spike; x=9 outside; t=5 ms past max_ticks
    assert tick.tolist() == [0, 1, 1]
    assert el.tolist() == [2 * 4 + 1, 2 * 4 + 1, (1 * 3 + 0) * 4 + 3]
    dense = spikes_to_dense([(tick, el)], grid, ticks=2)
    assert dense.shape == (1, 2, 2, 3, 4)
    assert dense.sum() == 3 and dense[0, 1, 1, 0, 3] == 1


def test_grid_for_nmnist():
    assert EventGrid.for_nmnist(0.5).shape == (2, 17, 17)
    assert EventGrid.for_nmnist(1.0).size == 2 * 34 * 34


def test_missing_directory_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="no N-MNIST"):
        load_nmnist(tmp_path, "test")
    with pytest.raises(DatasetError, match="split"):
        load_nmnist(tmp_path, "valid")


def test_load_nmnist_offline_with_transforms():
    if not (DATA / "NMNIST" / "Test").is_dir():
        pytest.skip(f"N-MNIST samples not found in {DATA} (see shared/data/README.md)")
    events, labels = load_nmnist(DATA, "test", default_transform(0.5), limit=3)
    assert len(events) == 3 and labels.shape == (3,)
    grid = EventGrid.for_nmnist(0.5)
    for ev in events:
        assert ev["x"].max() < 17 and ev["y"].max() < 17
        tick, el = events_to_spikes(ev, grid)
        assert len(tick) > 500 and tick.max() < 320  # ~300 ms recordings at 1 ms ticks
        assert el.max() < grid.size
