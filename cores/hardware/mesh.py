"""Mesh routing: core-to-core traffic, hops, chip crossings and per-link load (docs/design.md §3.3).

Spikes are routed dimension-order, x first: from (xs, ys) along row ys to (xd, ys), then
along column xd to (xd, yd). A spike makes |dx| + |dy| hops and crosses
|xs//W - xd//W| + |ys//H - yd//H| chip boundaries (W x H cores per chip).

Traffic is a list of (source core, target core, spikes): measured from per-neuron spike counts
of a run (``RunResult.spike_counts``, record="counts") or estimated as one unit per neuron
with a target (every neuron assumed to fire at the same rate) — the estimate says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from snn.cores.program import CoreProgram
from snn.errors import ConfigError


class LinkCapacityWarning(UserWarning):
    """The peak load of a mesh link exceeds the capacity of the energy preset."""


@dataclass
class Traffic:
    """Spikes from core ``src[k]`` to core ``dst[k]``: ``weight[k]`` (aggregated pairs)."""

    src: np.ndarray  # int64 [P]
    dst: np.ndarray  # int64 [P]
    weight: np.ndarray  # float64 [P]
    n_cores: int
    measured: bool  # True: spike counts of a run; False: estimated (1 per connected neuron)

    @property
    def total(self) -> float:
        return float(self.weight.sum())


def traffic(program: CoreProgram, spike_counts: np.ndarray | None = None) -> Traffic:
    """Core-to-core traffic of ``program``.

    ``spike_counts``: int [C, N] or [B, C, N] (summed over frames) spikes per neuron, e.g.
    ``RunResult.spike_counts``. None: estimate, one unit per neuron that has a target.
    """
    C, N = program.target_core.shape
    if spike_counts is None:
        w = np.ones((C, N), np.float64)
        measured = False
    else:
        sc = np.asarray(spike_counts)
        if sc.ndim == 3:
            sc = sc.sum(axis=0)
        if sc.shape != (C, N):
            raise ConfigError(f"spike_counts has shape {np.shape(spike_counts)}, must be "
                              f"[C, N] = {(C, N)} or [B, C, N] (record='counts')")
        w = sc.astype(np.float64)
        measured = True
    tgt = program.target_core.astype(np.int64)
    src = np.broadcast_to(np.arange(C, dtype=np.int64)[:, None], (C, N))
    keep = (tgt >= 0) & (w > 0)
    key = src[keep] * C + tgt[keep]
    uniq, inv = np.unique(key, return_inverse=True)
    agg = np.bincount(inv, weights=w[keep], minlength=uniq.size)
    return Traffic(src=uniq // C, dst=uniq % C, weight=agg, n_cores=C, measured=measured)


def route_cost(core_xy: np.ndarray, t: Traffic,
               chip_size: tuple[int, int] = (64, 64)) -> tuple[float, float]:
    """(hops, chip crossings) of traffic ``t`` under placement ``core_xy``."""
    xy = np.asarray(core_xy, np.int64)
    if xy.shape != (t.n_cores, 2):
        raise ConfigError(f"core_xy has shape {xy.shape}, must be [C, 2] = {(t.n_cores, 2)}")
    a, b = xy[t.src], xy[t.dst]
    hops = np.abs(a - b).sum(axis=1)
    cw, ch = chip_size
    chips = np.abs(a[:, 0] // cw - b[:, 0] // cw) + np.abs(a[:, 1] // ch - b[:, 1] // ch)
    return float(hops @ t.weight), float(chips @ t.weight)


@dataclass
class LinkLoad:
    """Mean spikes per tick on each directed mesh link (x-then-y routing).

    ``xp[y, x]``: link (x, y) -> (x+1, y); ``xm[y, x]``: (x+1, y) -> (x, y);
    ``yp[y, x]``: (x, y) -> (x, y+1); ``ym[y, x]``: (x, y+1) -> (x, y).
    """

    xp: np.ndarray  # float64 [H, W-1]
    xm: np.ndarray  # float64 [H, W-1]
    yp: np.ndarray  # float64 [H-1, W]
    ym: np.ndarray  # float64 [H-1, W]
    per_ticks: float  # ticks the counts were divided by (ticks x frames)
    measured: bool

    @property
    def peak(self) -> float:
        """Highest load of any directed link (spikes per tick)."""
        return max((float(a.max()) for a in (self.xp, self.xm, self.yp, self.ym) if a.size),
                   default=0.0)

    def peak_link(self) -> tuple[str, int, int]:
        """(direction, x, y) of the busiest link's source point."""
        best = ("none", 0, 0, -1.0)
        for name, a in (("+x", self.xp), ("-x", self.xm), ("+y", self.yp), ("-y", self.ym)):
            if a.size and a.max() > best[3]:
                y, x = np.unravel_index(int(np.argmax(a)), a.shape)
                x = x + 1 if name == "-x" else x
                y = y + 1 if name == "-y" else y
                best = (name, int(x), int(y), float(a.max()))
        return best[:3]

    def node_load(self) -> np.ndarray:
        """[H, W]: spikes per tick leaving each mesh point over any of its links."""
        H, W = self.xp.shape[0], self.yp.shape[1]
        out = np.zeros((H, W))
        out[:, :-1] += self.xp
        out[:, 1:] += self.xm
        out[:-1, :] += self.yp
        out[1:, :] += self.ym
        return out

    def check(self, capacity_per_tick: float | None, what: str = "") -> bool:
        """Warn (LinkCapacityWarning) when the peak exceeds ``capacity_per_tick``; True if ok."""
        if capacity_per_tick is None:
            return True
        if self.peak > capacity_per_tick:
            d, x, y = self.peak_link()
            warnings.warn(
                f"{what}peak mesh link load {self.peak:.4g} spikes/tick (link {d} from "
                f"({x}, {y})) exceeds the link capacity {capacity_per_tick:.4g} spikes/tick; "
                "the hardware would not keep up at this tick period (use a longer tick, or "
                "place cores to spread the traffic)", LinkCapacityWarning, stacklevel=2)
            return False
        return True


def mesh_shape(core_xy: np.ndarray, chip_size: tuple[int, int] = (64, 64)) -> tuple[int, int]:
    """(W, H) of the mesh: whole chips covering every core."""
    xy = np.asarray(core_xy)
    cw, ch = chip_size
    return (int(xy[:, 0].max()) // cw + 1) * cw, (int(xy[:, 1].max()) // ch + 1) * ch


def link_load(core_xy: np.ndarray, t: Traffic, ticks: float = 1.0,
              chip_size: tuple[int, int] = (64, 64)) -> LinkLoad:
    """Load of every directed link for traffic ``t`` spread over ``ticks`` ticks
    (ticks x frames for a batched run). Difference arrays: O(pairs + links)."""
    if not ticks > 0:
        raise ConfigError(f"link_load: ticks must be > 0, got {ticks}")
    xy = np.asarray(core_xy, np.int64)
    W, H = mesh_shape(xy, chip_size)
    xs, ys = xy[t.src, 0], xy[t.src, 1]
    xd, yd = xy[t.dst, 0], xy[t.dst, 1]
    w = t.weight

    def runs(row, lo, hi, weight, n_rows, n_pos):
        """Add weight on positions lo..hi-1 of row ``row`` (difference array)."""
        d = np.zeros((n_rows, n_pos + 1))
        np.add.at(d, (row, lo), weight)
        np.add.at(d, (row, hi), -weight)
        return np.cumsum(d, axis=1)[:, :n_pos]

    e = xd > xs  # +x along row ys over links xs..xd-1
    xp = runs(ys[e], xs[e], xd[e], w[e], H, W - 1)
    m = xd < xs  # -x over links xd..xs-1
    xm = runs(ys[m], xd[m], xs[m], w[m], H, W - 1)
    s = yd > ys  # +y along column xd over links ys..yd-1
    yp = runs(xd[s], ys[s], yd[s], w[s], W, H - 1).T
    n = yd < ys
    ym = runs(xd[n], yd[n], ys[n], w[n], W, H - 1).T
    return LinkLoad(xp=xp / ticks, xm=xm / ticks, yp=yp / ticks, ym=ym / ticks,
                    per_ticks=float(ticks), measured=t.measured)


def core_activity(core_xy: np.ndarray, per_core: np.ndarray, ticks: float = 1.0,
                  chip_size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """[H, W] mesh grid of a per-core quantity ([C] or [B, C], summed) per tick; NaN where
    no core sits."""
    xy = np.asarray(core_xy, np.int64)
    v = np.asarray(per_core, np.float64)
    if v.ndim == 2:
        v = v.sum(axis=0)
    if v.shape != (xy.shape[0],):
        raise ConfigError(f"per-core values have shape {np.shape(per_core)}, need [C] or "
                          f"[B, C] with C = {xy.shape[0]}")
    W, H = mesh_shape(xy, chip_size)
    grid = np.full((H, W), np.nan)
    grid[xy[:, 1], xy[:, 0]] = v / ticks
    return grid
