"""Input encoders: frames with intensities r in [0, 1] -> per-tick network input.

Every encoder returns an array ``[T, B, ...]`` (tick first, then the frames' own shape):

- ``current``: the analog value r every tick (float32). A constant input current; the first
  layer integrates r * w each tick. Not realisable on cores (they take spikes only).
- ``rate``: a deterministic rate code (bool). Each element is an integrate-and-fire encoder
  in integer arithmetic: r is quantised to ``q = rint(r * levels)`` (levels = 255: exact for
  8-bit pixels), an accumulator starts at ``levels // 2`` and adds q every tick; when it
  reaches ``levels`` the element spikes and the accumulator drops by ``levels`` (reset by
  subtraction). Spike count after t ticks: ``(t * q + levels // 2) // levels`` (rounded
  rate, r = 1 spikes every tick, r = 0 never). This is what "constant current as repeated
  spikes" becomes on cores.
- ``poisson``: Bernoulli spikes with p = r per tick (bool). Frame ``first_frame + b`` uses its
  own generator ``numpy.random.default_rng([seed, first_frame + b])`` and draws
  ``rng.random((T, *frame_shape))`` once, so a frame's spikes do not depend on batching and
  the first t ticks of a longer run equal a run of t ticks.

The ideal simulator (``snn.simulate``) and the core compiler (``snn.cores.compiler.
encode_frames``) both call :func:`encode`, so both see the same spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn.errors import ConfigError

ENCODINGS = ("current", "rate", "poisson")
RATE_LEVELS = 255


def to_unit(images: np.ndarray) -> np.ndarray:
    """Raw 0..255 pixels (any dtype) -> float32 intensities in [0, 1]."""
    return np.asarray(images, np.float32) / np.float32(255.0)


def _check(r: np.ndarray, ticks: int) -> np.ndarray:
    r = np.asarray(r)
    if r.dtype == np.uint8:
        raise ConfigError("encoders take intensities in [0, 1]; convert raw uint8 pixels with "
                          "snn.encoding.to_unit(images) first")
    if int(ticks) < 1:
        raise ConfigError(f"ticks must be >= 1, got {ticks}")
    if r.size and not np.isfinite(r).all():
        raise ConfigError("encoder input must lie in [0, 1] (pixel / 255); it holds NaN or inf")
    if r.size and (r.min() < 0 or r.max() > 1):
        raise ConfigError("encoder input must lie in [0, 1] (pixel / 255); got values in "
                          f"[{float(r.min())}, {float(r.max())}]")
    return r


def current(r: np.ndarray, ticks: int) -> np.ndarray:
    """Analog input: r every tick, float32 ``[T, B, ...]`` (a read-only broadcast view)."""
    r = _check(r, ticks).astype(np.float32, copy=False)
    return np.broadcast_to(r, (int(ticks), *r.shape))


def rate(r: np.ndarray, ticks: int, levels: int = RATE_LEVELS) -> np.ndarray:
    """Deterministic integrate-and-fire rate code, bool ``[T, B, ...]`` (see module doc)."""
    r = _check(r, ticks)
    q = np.rint(r.astype(np.float64) * levels).astype(np.int64)
    t = np.arange(0, int(ticks) + 1, dtype=np.int64).reshape((-1,) + (1,) * r.ndim)
    count = (t * q + levels // 2) // levels  # spikes emitted up to and including tick t-1
    return np.diff(count, axis=0).astype(bool)


def poisson(r: np.ndarray, ticks: int, seed: int = 0, first_frame: int = 0) -> np.ndarray:
    """Bernoulli(p = r) spikes per tick, bool ``[T, B, ...]``; one generator per frame."""
    r = _check(r, ticks)
    out = np.empty((int(ticks), *r.shape), bool)
    for b in range(r.shape[0]):
        rng = np.random.default_rng([int(seed), int(first_frame) + b])
        out[:, b] = rng.random((int(ticks), *r.shape[1:])) < r[b]
    return out


def encode(r: np.ndarray, ticks: int, encoding: str = "current", seed: int = 0,
           first_frame: int = 0) -> np.ndarray:
    """Encode frames ``r`` ``[B, ...]`` in [0, 1] for ``ticks`` ticks -> ``[T, B, ...]``.

    ``first_frame``: index of ``r[0]`` in the whole data set (poisson streams are per frame).
    """
    if encoding == "current":
        return current(r, ticks)
    if encoding == "rate":
        return rate(r, ticks)
    if encoding == "poisson":
        return poisson(r, ticks, seed, first_frame)
    raise ConfigError(f"unknown encoding {encoding!r}; choose one of {list(ENCODINGS)}")


@dataclass(frozen=True)
class CurrentEncoder:
    """Analog input current r every tick."""

    def __call__(self, r: np.ndarray, ticks: int, first_frame: int = 0) -> np.ndarray:
        return current(r, ticks)


@dataclass(frozen=True)
class RateEncoder:
    """Deterministic IF rate code with ``levels`` intensity levels."""

    levels: int = RATE_LEVELS

    def __call__(self, r: np.ndarray, ticks: int, first_frame: int = 0) -> np.ndarray:
        return rate(r, ticks, self.levels)


@dataclass(frozen=True)
class PoissonEncoder:
    """Bernoulli spikes, p = r per tick, seeded per frame."""

    seed: int = 0

    def __call__(self, r: np.ndarray, ticks: int, first_frame: int = 0) -> np.ndarray:
        return poisson(r, ticks, self.seed, first_frame)


def encoder(encoding: str, seed: int = 0) -> CurrentEncoder | RateEncoder | PoissonEncoder:
    """The encoder object for a name in ``ENCODINGS``."""
    if encoding == "current":
        return CurrentEncoder()
    if encoding == "rate":
        return RateEncoder()
    if encoding == "poisson":
        return PoissonEncoder(seed)
    raise ConfigError(f"unknown encoding {encoding!r}; choose one of {list(ENCODINGS)}")
