"""Input encoders: exact counts, determinism, refusals."""

import numpy as np
import pytest

from snn.encoding import (
    CurrentEncoder,
    PoissonEncoder,
    RateEncoder,
    encode,
    encoder,
    rate,
    to_unit,
)
from snn.errors import ConfigError


def test_rate_is_integrate_and_fire_with_rounded_counts():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 256)
    r = to_unit(pixels)
    s = rate(r, 300)
    assert s.shape == (300, 1, 256) and s.dtype == bool
    # reference: integer IF accumulator starting at 127, threshold 255, reset by subtraction
    acc = np.full(256, 127)
    for t in range(300):
        acc += pixels[0].astype(int)
        fire = acc >= 255
        acc[fire] -= 255
        assert np.array_equal(s[t, 0], fire)
    counts = s.sum(0)[0]
    assert counts[255] == 300 and counts[0] == 0
    t = np.arange(1, 301)
    assert np.array_equal(s.cumsum(0)[:, 0, 128], (t * 128 + 127) // 255)


def test_current_is_constant_view():
    r = np.random.default_rng(0).random((2, 1, 3, 3)).astype(np.float32)
    c = encode(r, 5, "current")
    assert c.shape == (5, 2, 1, 3, 3) and np.array_equal(c[3], r)


def test_poisson_deterministic_per_frame_and_prefix():
    r = np.random.default_rng(1).random((6, 10))
    a = encode(r, 50, "poisson", seed=3)
    b = np.concatenate([encode(r[:2], 50, "poisson", 3, 0),
                        encode(r[2:], 50, "poisson", 3, 2)], axis=1)
    assert np.array_equal(a, b)
    assert np.array_equal(encode(r, 20, "poisson", 3), a[:20])
    assert not np.array_equal(encode(r, 50, "poisson", 4), a)
    big = encode(np.full((1, 2000), 0.3), 100, "poisson", 0)
    assert abs(big.mean() - 0.3) < 0.01


def test_encoder_objects_match_functions():
    r = np.random.default_rng(2).random((3, 4))
    assert np.array_equal(RateEncoder()(r, 9), rate(r, 9))
    assert np.array_equal(PoissonEncoder(5)(r, 9), encode(r, 9, "poisson", 5))
    assert np.array_equal(CurrentEncoder()(r, 2)[1], r.astype(np.float32))
    assert encoder("rate") == RateEncoder()


@pytest.mark.parametrize("bad, match", [
    (np.full((1, 2), 2.0), r"\[0, 1\]"),
    (np.zeros((1, 2), np.uint8), "to_unit"),
    (np.full((1, 2), np.nan), r"\[0, 1\]"),
])
def test_refuses_bad_input(bad, match):
    with pytest.raises(ConfigError, match=match):
        encode(bad, 4, "rate")


def test_refuses_unknown_encoding_and_ticks():
    with pytest.raises(ConfigError, match="unknown encoding"):
        encode(np.zeros((1, 2)), 4, "latency")
    with pytest.raises(ConfigError, match="ticks"):
        encode(np.zeros((1, 2)), 0, "rate")
