"""Frame datasets from a directory in their usual layouts; nothing is downloaded.

``load(name, directory, split)`` returns ``(images uint8 [n, 1, H, W], labels int64 [n])``.
Raw pixel values 0..255 are kept: the network's ``pixel_scale`` maps them to model units.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from snn.errors import DatasetError, FormatError

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEFAULT_DIRS = {
    "mnist": "../shared/data/mnist",
    "fashion-mnist": "/usr/share/datasets/fashion-mnist",
}
NAMES = ("mnist", "fashion-mnist", "digits")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FormatError(f"{path}: damaged IDX file ({type(exc).__name__}: {exc}); the "
                          "download was cut short or corrupted: download it again") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - start != count:
        raise DatasetError(f"{path}: holds {len(raw) - start} bytes of data, header says "
                           f"{count} (truncated download?)")
    return np.frombuffer(raw, np.uint8, offset=start).reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz",
                 stem.replace("-idx", ".idx")):
        if (directory / name).exists():
            return directory / name
    raise DatasetError(f"{directory}: {stem}[.gz] not found; put the IDX files of the "
                       "dataset in this directory (as distributed: e.g. "
                       "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz)")


def load_idx_dataset(directory: str | os.PathLike, split: str = "test"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-layout IDX images and labels from ``directory`` (Fashion-MNIST too)."""
    directory = Path(directory)
    if split not in IDX_FILES:
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    if not directory.is_dir():
        raise DatasetError(f"{directory}: no such directory; give --data-dir with the "
                           "dataset's IDX files")
    img_stem, lab_stem = IDX_FILES[split]
    images = read_idx(_find(directory, img_stem))
    labels = read_idx(_find(directory, lab_stem)).astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise DatasetError(f"{directory}: {len(images)} images but {len(labels)} labels")
    return images[:, None, :, :], labels


def load_digits(split: str = "test", test_fraction: float = 0.3, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, pixels rescaled 0..16 -> 0..255, fixed train/test split."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError as exc:
        raise DatasetError("the digits dataset needs scikit-learn: pip install "
                           "'snn[tools]'") from exc
    d = sk_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    idx = order[:n_test] if split == "test" else order[n_test:]
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    return images[idx], labels[idx]


def load(name: str, directory: str | os.PathLike | None = None, split: str = "test"
         ) -> tuple[np.ndarray, np.ndarray]:
    """Load a frame dataset by name: ``mnist``, ``fashion-mnist`` or ``digits``."""
    if name == "digits":
        return load_digits(split)
    if name not in DEFAULT_DIRS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {list(NAMES)}")
    return load_idx_dataset(directory or DEFAULT_DIRS[name], split)


def parse_range(text: str, n: int) -> slice:
    """``"A:B"`` (either side optional) -> slice, checked against ``n`` items."""
    try:
        a, b = text.split(":")
        start = int(a) if a else 0
        stop = int(b) if b else n
    except ValueError as exc:
        raise DatasetError(f"range {text!r} must look like START:STOP, e.g. 0:500") from exc
    if not (0 <= start < stop <= n):
        raise DatasetError(f"range {text!r} is outside 0:{n}")
    return slice(start, stop)
