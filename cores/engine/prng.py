"""The engine's counter-based PRNG, as plain Python (the numba kernels compute the same
links): a key is a chain of splitmix64 finaliser steps over (seed, frame, tick, core, kind,
...), so every random draw depends only on where it happens, not on the order of work."""

from __future__ import annotations

MASK64 = (1 << 64) - 1
GOLDEN, MUL1, MUL2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
KIND_SYNAPSE, KIND_LEAK, KIND_THRESHOLD = 1, 2, 3


def hash_step(h: int, x: int) -> int:
    """One link of the counter-based PRNG: splitmix64's finaliser of ((h ^ x) + golden)."""
    z = ((h ^ x) + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * MUL1) & MASK64
    z = ((z ^ (z >> 27)) * MUL2) & MASK64
    return z ^ (z >> 31)


def key(seed: int, frame: int, tick: int, core: int, kind: int, *rest: int) -> int:
    """hash(seed, frame, tick, core, kind, rest...) as a chain of hash_step links."""
    h = hash_step(seed & MASK64, 0)
    for x in (frame, tick, core, kind, *rest):
        h = hash_step(h, x)
    return h
