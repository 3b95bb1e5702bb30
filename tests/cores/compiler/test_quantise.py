"""Quantisation of layers to the integers a core holds (snn.cores.compiler.quantise)."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cores.compiler.quantise import codes, level_range, pattern, quantise_layer, s_max
from snn.cores.hardware.spec import CoreSpec
from snn.errors import CompileError
from snn.network import Conv2d, Dense

SPEC = CoreSpec.truenorth()


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("sigma", [1, -1])
def test_codes_reproduce_every_level(k: int, sigma: int) -> None:
    lo, hi = level_range(k, sigma)
    q = np.arange(lo, hi + 1)
    c = codes(q, np.full(len(q), sigma), k)
    bits = (c[:, None] >> np.arange(k)) & 1
    assert np.array_equal((bits * pattern(k) * sigma).sum(axis=1), q)
    # the type weights fit the spec for the largest multiplier
    assert np.abs(pattern(k) * s_max(SPEC, k)).max() <= 255


def _dense(w, b=None, thr=1.0) -> Dense:
    w = np.asarray(w, np.float32)
    b = np.zeros(len(w), np.float32) if b is None else np.asarray(b, np.float32)
    return Dense("d", weight=w, bias=b, threshold=np.asarray([thr], np.float32))


def test_integer_layer_is_exact_with_scale_one() -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 2, (5, 7))
    lq = quantise_layer(_dense(w, b=[1, -2, 0, 3, 0], thr=5.0), 4, SPEC)
    assert lq.exact and lq.bits == 2
    assert np.array_equal(lq.q, w) and np.all(lq.s == 1) and np.all(lq.delta == 1)
    assert np.array_equal(lq.threshold, [5] * 5) and np.array_equal(lq.bias, [1, -2, 0, 3, 0])


def test_one_magnitude_layer_is_exact() -> None:
    w = np.full((3, 1, 2, 2), 0.25, np.float32)
    conv = Conv2d("pool", weight=w, bias=np.zeros(0, np.float32), groups=1,
                  threshold=np.ones(1, np.float32))
    lq = quantise_layer(conv, 4, SPEC)
    assert lq.exact and lq.bits == 1 and np.all(lq.q == 1)
    # threshold in units: 1 / 0.25 * s
    assert np.array_equal(lq.threshold, np.rint(4.0 * lq.s))


def test_more_bits_smaller_error() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.2, (20, 50))
    errs = []
    for k in (1, 2, 3, 4):
        lq = quantise_layer(_dense(w), k, SPEC)
        errs.append(np.linalg.norm(lq.q * lq.delta[:, None] - w))
        lo = np.minimum(*[level_range(k, s)[0] for s in (1, -1)])
        assert lq.q.min() >= lo
    assert errs[3] < errs[2] < errs[1]
    assert errs[3] / np.linalg.norm(w) < 0.15


def test_threshold_and_bias_in_units() -> None:
    w = np.array([[0.5, -0.25, 0.125]])
    lq = quantise_layer(_dense(w * 1.1, b=[0.01], thr=0.8), 4, SPEC)
    unit = lq.delta[0] / lq.s[0]
    assert abs(lq.threshold[0] * unit - 0.8) <= unit
    assert abs(lq.bias[0] * unit - 0.01) <= unit
    assert 1 <= lq.threshold[0] <= SPEC.threshold_max


def test_too_many_bits_refused() -> None:
    with pytest.raises(CompileError, match="axon types"):
        quantise_layer(_dense(np.ones((2, 2)) * 0.3), 5, SPEC)


def test_readout_terms_have_twice_the_bits() -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(0, 0.3, (10, 40))
    lq4 = quantise_layer(_dense(w), 4, SPEC)
    lq8 = quantise_layer(_dense(w), 4, SPEC, terms=2)
    e4 = np.linalg.norm(lq4.q * lq4.delta[:, None] - w)
    e8 = np.linalg.norm(lq8.q * lq8.delta[:, None] - w)
    assert lq8.terms == 2 and lq8.q.max() > 7 and e8 < e4 / 4


def test_codebook_refinement_never_worse_and_consistent() -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.2, (16, 9))
    uni = quantise_layer(_dense(w), 4, SPEC, codebook=False)
    cb = quantise_layer(_dense(w), 4, SPEC)
    unit = (uni.delta / uni.s)[:, None]
    e_uni = np.linalg.norm(uni.weight_units() * unit - w)
    e_cb = np.linalg.norm(cb.weight_units() * unit - w)
    assert e_cb < e_uni
    # the synapse weight is the sum of its neuron's type weights over its type mask
    bits = (cb.mask[..., None] >> np.arange(4)) & 1
    assert np.array_equal((bits * cb.tw[:, None, :]).sum(-1), cb.wu)
    assert np.abs(cb.tw).max() <= 255
