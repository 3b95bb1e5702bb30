"""Dataset loading: IDX parsing, ranges, splits and the errors a user sees."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from snn.datasets import load, load_digits, load_idx_dataset, parse_range, read_idx
from snn.errors import DatasetError


def _idx(data: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, data.ndim]) + b"".join(int(d).to_bytes(4, "big")
                                                     for d in data.shape)
    return head + data.astype(np.uint8).tobytes()


def test_read_idx_plain_and_gzip(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(_idx(data))
    (tmp_path / "a.gz").write_bytes(gzip.compress(_idx(data)))
    assert (read_idx(tmp_path / "a") == data).all()
    assert (read_idx(tmp_path / "a.gz") == data).all()


def test_read_idx_names_truncation(tmp_path):
    data = np.zeros((2, 3, 4), np.uint8)
    (tmp_path / "t").write_bytes(_idx(data)[:-5])
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(tmp_path / "t")


def test_idx_dataset_round_trip_and_missing_files(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(labels))
    x, y = load_idx_dataset(tmp_path, "test")
    assert x.shape == (5, 1, 28, 28) and (x[:, 0] == images).all()
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(DatasetError, match="train-images"):
        load_idx_dataset(tmp_path, "train")
    with pytest.raises(DatasetError, match="split"):
        load_idx_dataset(tmp_path, "valid")


def test_digits_split_is_fixed_and_disjoint():
    xa, ya = load_digits("test")
    xb, yb = load_digits("train")
    assert len(xa) + len(xb) == 1797 and xa.shape[1:] == (1, 8, 8)
    assert xa.max() == 255 and xa.dtype == np.uint8
    xa2, _ = load_digits("test")
    assert (xa == xa2).all()
    # no test image is also a train image (the split is by index)
    test_rows = {r.tobytes() for r in xa.reshape(len(xa), -1)}
    train_rows = [r.tobytes() for r in xb.reshape(len(xb), -1)]
    assert sum(r in test_rows for r in train_rows) < 0.05 * len(train_rows)  # duplicates only


def test_unknown_dataset_names_the_choices():
    with pytest.raises(DatasetError, match="fashion-mnist"):
        load("cifar")


@pytest.mark.parametrize("text,expect", [("0:10", slice(0, 10)), (":5", slice(0, 5)),
                                         ("90:", slice(90, 100))])
def test_parse_range(text, expect):
    assert parse_range(text, 100) == expect


@pytest.mark.parametrize("text", ["5", "a:b", "10:5", "0:101", "-1:3"])
def test_parse_range_rejects(text):
    with pytest.raises(DatasetError, match="range"):
        parse_range(text, 100)
