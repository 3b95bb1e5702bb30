"""Placement: cores to mesh coordinates ``core_xy`` (docs/design.md §3.3, §4.2).

``row-major`` is the default layout of CoreProgram.placement(). ``traffic`` is a
locality-aware placer: it minimises  sum_ij traffic(i->j) · (hops_ij + chip_weight ·
crossings_ij)  by simulated annealing of pairwise swaps (numba), starting from the better of
row-major and the cores in index order along a Hilbert curve of each chip. Traffic is measured
(per-neuron spike counts of a run, ``record="counts"``) or estimated (one unit per neuron
with a target). Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from snn.cores.hardware.mesh import Traffic, route_cost
from snn.cores.hardware.mesh import traffic as make_traffic
from snn.cores.program import CoreProgram
from snn.errors import ConfigError

METHODS = ("row-major", "traffic")


def row_major(n_cores: int, chip_size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """The default layout (docs/design.md §3.3): x = c % W + W·(c // (W·H)), y = (c // W) % H."""
    cw, ch = chip_size
    c = np.arange(n_cores, dtype=np.int64)
    x = c % cw + cw * (c // (cw * ch))
    y = (c // cw) % ch
    return np.stack([x, y], axis=1).astype(np.int32)


def hilbert_xy(n: int) -> np.ndarray:
    """[n*n, 2] points of the Hilbert curve on an n x n grid (n a power of 2) in curve order;
    for other n, a serpentine (boustrophedon) order."""
    if n & (n - 1):
        ys, xs = np.divmod(np.arange(n * n), n)
        xs = np.where(ys % 2 == 1, n - 1 - xs, xs)
        return np.stack([xs, ys], axis=1).astype(np.int64)
    out = np.zeros((n * n, 2), np.int64)
    for d in range(n * n):
        x = y = 0
        t = d
        s = 1
        while s < n:
            rx = 1 & (t // 2)
            ry = 1 & (t ^ rx)
            if ry == 0:
                if rx == 1:
                    x, y = s - 1 - x, s - 1 - y
                x, y = y, x
            x += s * rx
            y += s * ry
            t //= 4
            s *= 2
        out[d] = (x, y)
    return out


def _slots(n_chips: int, chip_size: tuple[int, int]) -> np.ndarray:
    """Every mesh point of ``n_chips`` chips in a row, chip by chip along a local curve."""
    cw, ch = chip_size
    if cw == ch:
        local = hilbert_xy(cw)
    else:
        ys, xs = np.divmod(np.arange(cw * ch), cw)
        xs = np.where(ys % 2 == 1, cw - 1 - xs, xs)
        local = np.stack([xs, ys], axis=1)
    return np.concatenate([local + [k * cw, 0] for k in range(n_chips)]).astype(np.int64)


def place(program: CoreProgram, method: str = "row-major",
          traffic: Traffic | np.ndarray | None = None, seed: int = 0,
          chip_size: tuple[int, int] = (64, 64), *, chip_weight: float | None = None,
          steps: int | None = None, n_chips: int | None = None) -> np.ndarray:
    """Mesh coordinates (x, y), int32 [C, 2], for the cores of ``program``.

    method: "row-major" (the default layout) or "traffic" (locality-aware).
    traffic: a :class:`~snn.cores.hardware.mesh.Traffic`, per-neuron spike counts [C, N] or
        [B, C, N] (RunResult.spike_counts), or None to estimate from the targets.
    chip_weight: cost of one chip crossing in hops (default: e_chip / e_hop of the
        ``truenorth`` energy preset). steps: annealing moves (default 100·C, fewer
        for dense traffic: ~6e7 edge evaluations at most; at least 20000).
    n_chips: chips to spread over (default: as few as hold the cores, in a row).
    """
    C = program.n_cores
    if method == "row-major":
        return row_major(C, chip_size)
    if method != "traffic":
        raise ConfigError(f"unknown placement method {method!r}; choose one of {METHODS}")
    if not isinstance(traffic, Traffic):
        traffic = make_traffic(program, traffic)
    if traffic.n_cores != C:
        raise ConfigError(f"traffic is for {traffic.n_cores} cores, the program has {C}")
    if chip_weight is None:
        from snn.cores.hardware.energy import EnergyModel

        tn = EnergyModel.preset("truenorth")
        chip_weight = tn.e_chip / tn.e_hop
    per_chip = chip_size[0] * chip_size[1]
    need = -(-C // per_chip)
    n_chips = need if n_chips is None else int(n_chips)
    if n_chips < need:
        raise ConfigError(f"n_chips={n_chips} cannot hold {C} cores ({per_chip} per chip)")
    slots = _slots(n_chips, chip_size)
    S = slots.shape[0]
    # symmetric CSR adjacency of real cores (self traffic costs nothing)
    keep = traffic.src != traffic.dst
    a = np.concatenate([traffic.src[keep], traffic.dst[keep]])
    b = np.concatenate([traffic.dst[keep], traffic.src[keep]])
    w = np.concatenate([traffic.weight[keep], traffic.weight[keep]])
    order = np.lexsort((b, a))
    a, b, w = a[order], b[order], w[order]
    indptr = np.zeros(S + 1, np.int64)
    np.add.at(indptr, a + 1, 1)
    indptr = np.cumsum(indptr)
    # two starts: row-major points and index order along the chips' Hilbert curves
    rm = row_major(C, chip_size).astype(np.int64)
    slot_id = {(int(x), int(y)): i for i, (x, y) in enumerate(slots)}
    start_rm = np.array([slot_id[(int(x), int(y))] for x, y in rm], np.int64)
    start_h = np.arange(C, dtype=np.int64)
    best_start, best_cost = None, np.inf
    for st in (start_rm, start_h):
        cost = route_cost(slots[st], traffic, chip_size)
        cval = cost[0] + chip_weight * cost[1]
        if cval < best_cost:
            best_start, best_cost = st, cval
    slot_of = np.empty(S, np.int64)  # slot of core k (k >= C: empty placeholders)
    slot_of[:C] = best_start
    free = np.setdiff1d(np.arange(S), best_start)
    slot_of[C:] = free
    core_at = np.empty(S, np.int64)
    core_at[slot_of] = np.arange(S)
    if steps is None:  # 100 moves per core, capped at ~6e7 edge evaluations (dense traffic)
        mean_deg = indptr[-1] / max(C, 1)
        steps = max(20000, min(100 * C, int(6e7 / (5 * mean_deg + 1))))
    if indptr[-1] > 0 and C > 1:
        _anneal(slots[:, 0].copy(), slots[:, 1].copy(), slot_of, core_at, indptr, b.astype(
            np.int64), w.astype(np.float64), C, int(steps), float(chip_weight),
            chip_size[0], chip_size[1], int(seed))
    return slots[slot_of[:C]].astype(np.int32)


@njit(cache=True)
def _edge_cost(k: int, sx: np.ndarray, sy: np.ndarray, slot_of: np.ndarray,
               indptr: np.ndarray, nbr: np.ndarray, w: np.ndarray, cwt: float,
               cw: int, ch: int) -> float:
    s = slot_of[k]
    x, y = sx[s], sy[s]
    tot = 0.0
    for e in range(indptr[k], indptr[k + 1]):
        t = slot_of[nbr[e]]
        dx = abs(x - sx[t])
        dy = abs(y - sy[t])
        dc = abs(x // cw - sx[t] // cw) + abs(y // ch - sy[t] // ch)
        tot += w[e] * (dx + dy + cwt * dc)
    return tot


@njit(cache=True)
def _anneal(sx: np.ndarray, sy: np.ndarray, slot_of: np.ndarray, core_at: np.ndarray,
            indptr: np.ndarray, nbr: np.ndarray, w: np.ndarray, n_real: int, steps: int,
            cwt: float, cw: int, ch: int, seed: int) -> None:
    np.random.seed(seed)
    S = slot_of.shape[0]
    W = sx.max() + 1
    H = sy.max() + 1
    grid = np.empty((H, W), np.int64)  # slot index at each mesh point
    for s in range(S):
        grid[sy[s], sx[s]] = s
    # initial temperature: mean |delta| of random swaps
    acc = 0.0
    n0 = 200
    for _ in range(n0):
        i = np.random.randint(n_real)
        j = np.random.randint(S)
        acc += _edge_cost(i, sx, sy, slot_of, indptr, nbr, w, cwt, cw, ch)
    temp0 = acc / n0 / 20.0 + 1e-12
    r0 = max(W, H)
    for step in range(steps):
        frac = step / steps
        temp = temp0 * (1e-4 ** frac)
        radius = max(1, int(r0 * (0.02 ** frac)))
        i = np.random.randint(n_real)
        deg = indptr[i + 1] - indptr[i]
        si = slot_of[i]
        if deg > 0 and np.random.random() < 0.5:
            cx = 0.0
            cy = 0.0
            tw = 0.0
            for e in range(indptr[i], indptr[i + 1]):
                t = slot_of[nbr[e]]
                cx += w[e] * sx[t]
                cy += w[e] * sy[t]
                tw += w[e]
            bx = int(cx / tw + 0.5)
            by = int(cy / tw + 0.5)
        else:
            bx = sx[si]
            by = sy[si]
        tx = min(W - 1, max(0, bx + np.random.randint(-radius, radius + 1)))
        ty = min(H - 1, max(0, by + np.random.randint(-radius, radius + 1)))
        sj = grid[ty, tx]
        if sj == si:
            continue
        j = core_at[sj]
        old = _edge_cost(i, sx, sy, slot_of, indptr, nbr, w, cwt, cw, ch)
        if j < n_real:
            old += _edge_cost(j, sx, sy, slot_of, indptr, nbr, w, cwt, cw, ch)
        slot_of[i] = sj
        slot_of[j] = si
        new = _edge_cost(i, sx, sy, slot_of, indptr, nbr, w, cwt, cw, ch)
        if j < n_real:
            new += _edge_cost(j, sx, sy, slot_of, indptr, nbr, w, cwt, cw, ch)
        delta = new - old
        if delta <= 0.0 or np.random.random() < np.exp(-delta / temp):
            core_at[sj] = i
            core_at[si] = j
        else:
            slot_of[i] = si
            slot_of[j] = sj
