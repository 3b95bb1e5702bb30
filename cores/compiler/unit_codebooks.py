"""Per-block codebooks of split layers (docs/compiler.md, "Weights of split layers").

A split layer's neuron is summed from relays, one per (neuron, relay block): each relay is a
core neuron of its own, with 4 type weights of its own. So each unit (neuron, block) can
have type weights fitted to its own few synapses instead of sharing the neuron's, in the
neuron's units (the relay's threshold and the summing weights stay as they are). For an
addition this gives a shortcut's block its own levels instead of the 3x3 convolution's.

The fit: alternate least squares for the k real type weights given each synapse's subset,
rounded and clipped to the spec, and the best subset per synapse given the type weights;
then +-1 steps per type weight. A unit keeps a change only if its squared error (in units,
against the float weights) falls, so no unit is worse than with the row's code. Each
synapse keeps the sign of its relay block (a relay reads one-signed input) and uses only
axon types its source already has in the layer (so the blocks' axon counts hold).
"""

from __future__ import annotations

import numba
import numpy as np

from snn.cores.compiler.quantise import mask_bits, synapse_weights

LLOYD_ROUNDS = 8  # least-squares / re-assignment rounds
STEPS = (4, 2, 1)  # then coordinate steps of the type weights
PASSES = 3  # at most this many passes over the types per step
RIDGE = 1e-3  # pulls type weights no synapse uses towards their old value


@numba.njit(cache=True, nogil=True)
def _assign(uptr, levels, tgt, allowed, sign, masks, err):  # pragma: no cover - numba
    """Per synapse the nearest level of its unit among the subsets of its allowed types
    with the unit's sign (into masks), and per unit the squared error (into err)."""
    n_levels = levels.shape[1]
    for u in range(len(uptr) - 1):
        sg = sign[u]
        e = 0.0
        for i in range(uptr[u], uptr[u + 1]):
            best, bm = np.inf, 0
            for m in range(n_levels):
                lv = levels[u, m]
                if (m & ~allowed[i]) != 0 or lv * sg < 0:
                    continue
                d = (tgt[i] - lv) ** 2
                if d < best:
                    best, bm = d, m
            masks[i] = bm
            e += best
        err[u] = e


def refine_units(uptr: np.ndarray, target: np.ndarray, masks: np.ndarray, tw0: np.ndarray,
                 allowed: np.ndarray, sign: np.ndarray, lim: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit u (synapses ``uptr[u]:uptr[u+1]``): integer type weights [U, k] in
    [-lim, lim] and per synapse the subset of types (a bit mask) whose sum best matches
    ``target`` (float, units). Starts from ``tw0`` [U, k] and ``masks``; a synapse uses
    only bits of ``allowed`` and levels of the sign of ``sign[u]`` (+1: >= 0, -1: <= 0, 0:
    any). Returns (type weights, masks, squared error per unit)."""
    n_units, k = tw0.shape
    uptr = np.ascontiguousarray(uptr, np.int64)
    unit = np.repeat(np.arange(n_units), np.diff(uptr))
    bits = mask_bits(np.arange(2 ** k), k)  # [L, k]
    allowed = np.ascontiguousarray(allowed, np.int64)
    usign = np.ascontiguousarray(sign, np.int64)
    tgt = np.ascontiguousarray(target, np.float64)

    def assign(tw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = np.empty(len(tgt), np.int64)
        e = np.empty(n_units, np.float64)
        _assign(uptr, np.ascontiguousarray(tw @ bits.T, np.float64), tgt, allowed, usign,
                m, e)
        return m, e

    tw = np.asarray(tw0, np.int64).copy()
    m = np.asarray(masks, np.int64).copy()
    err = np.bincount(unit, (tgt - synapse_weights(m, tw[unit])) ** 2, minlength=n_units)

    def keep(cand: np.ndarray) -> bool:
        nonlocal tw, m, err
        cand = np.clip(cand, -lim, lim)
        m2, e2 = assign(cand)
        better = e2 < err - 1e-9
        if better.any():
            tw = np.where(better[:, None], cand, tw)
            m = np.where(better[unit], m2, m)
            err = np.where(better, e2, err)
        return bool(better.any())

    keep(tw)  # the nearest allowed subsets for the starting type weights
    for _ in range(LLOYD_ROUNDS):
        b = mask_bits(m, k).astype(np.float64)  # [S, k]
        gram = np.zeros((n_units, k, k))
        rhs = np.zeros((n_units, k))
        for i in range(k):
            rhs[:, i] = np.bincount(unit, b[:, i] * tgt, minlength=n_units)
            for j in range(i, k):
                gram[:, i, j] = gram[:, j, i] = np.bincount(unit, b[:, i] * b[:, j],
                                                            minlength=n_units)
        gram += RIDGE * np.eye(k)
        rhs += RIDGE * tw
        sol = np.linalg.solve(gram, rhs[..., None])[..., 0]
        if not keep(np.rint(sol).astype(np.int64)):
            break
    for step in STEPS:
        improved, passes = True, 0
        while improved and passes < PASSES:
            improved, passes = False, passes + 1
            for t in range(k):
                for d in (step, -step):
                    cand = tw.copy()
                    cand[:, t] += d
                    improved |= keep(cand)
    return tw, m, err
