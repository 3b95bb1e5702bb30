"""Per-block codebooks: each relay's type weights fitted to its own synapses."""

from __future__ import annotations

import numpy as np

from snn.cores.compiler.quantise import mask_bits, synapse_weights
from snn.cores.compiler.unit_codebooks import refine_units


def _units(seed: int, n_units: int = 40, k: int = 4):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, n_units)
    uptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    sign = rng.choice([-1, 0, 1], n_units)
    unit = np.repeat(np.arange(n_units), sizes)
    scale = rng.uniform(20, 200, n_units)[unit]  # units of very different ranges
    target = rng.normal(0, 1, len(unit)) * scale
    target = np.where(sign[unit] > 0, np.abs(target), np.where(sign[unit] < 0,
                                                               -np.abs(target), target))
    # a neuron-wide code: two's complement pattern, masks = nearest allowed level
    tw0 = np.tile(np.array([16, 32, 64, -128]), (n_units, 1))
    levels = tw0[0] @ mask_bits(np.arange(16), k).T
    ok = levels[None, :] * sign[unit][:, None] >= 0
    masks = np.where(ok, np.abs(target[:, None] - levels[None, :]), np.inf).argmin(axis=1)
    allowed = np.full(len(unit), 15)
    allowed[::7] = masks[::7] | 1  # some sources have only some axon types
    return uptr, target, masks.astype(np.int64), tw0, allowed, sign, unit


def test_refit_never_worse_and_keeps_the_constraints() -> None:
    uptr, target, masks, tw0, allowed, sign, unit = _units(0)
    before = np.bincount(unit, (target - synapse_weights(masks, tw0[unit])) ** 2)
    tw, m, err = refine_units(uptr, target, masks, tw0, allowed, sign, lim=255)
    w = synapse_weights(m, tw[unit])
    after = np.bincount(unit, (target - w) ** 2)
    np.testing.assert_allclose(err, after, rtol=1e-9, atol=1e-6)  # reported error is real
    assert np.all(after <= before + 1e-6)
    assert after.sum() < 0.5 * before.sum()  # per-unit levels fit much better
    assert np.all(np.abs(tw) <= 255)
    assert np.all((m & ~allowed) == 0)  # only the source's axon types
    assert np.all(w * sign[unit] >= 0)  # one-signed relay blocks stay one-signed


def test_single_synapse_unit_is_exact() -> None:
    """A shortcut's block (one synapse per neuron) gets its weight exactly (to the unit)."""
    target = np.array([103.4, -57.2, 250.0])
    uptr = np.arange(4, dtype=np.int64)
    tw0 = np.tile(np.array([8, 16, 32, -64]), (3, 1))
    masks = np.array([0b0111, 0b1001, 0b0111])  # levels 56, -56, 56: far off
    tw, m, _ = refine_units(uptr, target, masks, tw0, np.full(3, 15), np.array([1, -1, 1]),
                            lim=255)
    w = synapse_weights(m, tw)
    np.testing.assert_array_equal(w, np.rint(target))
