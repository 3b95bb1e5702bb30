"""Figures: spike rasters, accuracy vs ticks, accuracy decomposition, energy per frame, Pareto
fronts. matplotlib without pyplot (an Agg canvas per figure: no global state, safe in worker
processes and notebooks); PNG by default, SVG when the path ends in ``.svg``.

Every figure has a title and axes with units. Large rasters are subsampled *visibly*: the
title says how many neurons of how many are drawn; population rates always use all neurons.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snn.errors import ConfigError
from snn.fileio import atomic_open

__all__ = [
    "RasterGroup", "MembraneTrace", "plot_raster", "plot_accuracy_vs_ticks",
    "plot_decomposition", "plot_energy_per_frame", "plot_pareto", "pareto_front", "save_figure",
]

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f"]


def _figure(width: float, height: float):
    """A matplotlib Figure with an Agg canvas attached (no pyplot)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is in the [plot] extra
        raise ConfigError("plots need matplotlib: pip install 'snn[plot]'") from exc
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, out: str | os.PathLike) -> Path:
    """Write ``fig`` atomically; the format follows the suffix (.png, .svg, .pdf)."""
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "svg", "pdf"):
        raise ConfigError(f"{out}: figures are written as .png, .svg or .pdf, not .{fmt}")
    with atomic_open(out, "wb") as fh:
        fig.savefig(fh, format=fmt, bbox_inches="tight")
    return out


# -- spike raster --------------------------------------------------------------------------


@dataclass
class RasterGroup:
    """Spikes of one group of neurons (a layer, a core, or the input).

    name: label drawn next to the group.
    tick: int [S] tick of each spike; unit: int [S] neuron index within the group.
    n_units: neurons in the group (silent ones included), used for rates and the y extent.
    """

    name: str
    tick: np.ndarray
    unit: np.ndarray
    n_units: int
    is_input: bool = False
    note: str = ""  # extra label line, e.g. "64 + 192 splitter copies"


@dataclass
class MembraneTrace:
    """Membrane potential of one neuron over ticks (state after each tick)."""

    label: str
    ticks: np.ndarray            # int [T]
    potential: np.ndarray        # float/int [T]
    threshold: float
    spike_ticks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    note: str = ""


def _subsample(groups: Sequence[RasterGroup], max_units: int
               ) -> tuple[list[tuple[RasterGroup, np.ndarray]], int, int]:
    """Keep an evenly spaced subset of each group's neurons, in proportion to its size
    (every group keeps at least min(size, 8)); returns (group, kept unit ids), shown, total."""
    total = sum(g.n_units for g in groups)
    out = []
    if total <= max_units:
        return [(g, np.arange(g.n_units)) for g in groups], total, total
    shown = 0
    for g in groups:
        k = max(min(g.n_units, 8), int(round(g.n_units * max_units / total)))
        keep = np.unique(np.linspace(0, g.n_units - 1, k).round().astype(np.int64))
        out.append((g, keep))
        shown += len(keep)
    return out, shown, total


def plot_raster(groups: Sequence[RasterGroup], tick_range: tuple[int, int], *,
                tick_ms: float = 1.0, traces: Sequence[MembraneTrace] = (),
                title: str = "Spike raster", max_units: int = 1500,
                rate_smooth_ms: float | None = None, out: str | os.PathLike | None = None):
    """Spike raster: time (ms) on x, neurons on y, groups stacked bottom-up in the given order
    (input first), separated and labelled; the population rate of every group (all its
    neurons, in Hz) underneath; membrane traces of chosen neurons below that.

    More than ``max_units`` neurons: an evenly spaced subset is drawn and the title says so.
    """
    if not groups:
        raise ConfigError("raster: nothing to draw (no layer or core selected)")
    t0, t1 = int(tick_range[0]), int(tick_range[1])
    if t1 <= t0:
        raise ConfigError(f"raster: tick range {t0}:{t1} is empty")
    kept, shown, total = _subsample(groups, max_units)
    n_tr = len(traces)
    heights = [4.0, 1.3] + [1.1] * n_tr
    fig = _figure(10, sum(heights) * 0.95 + 0.6)
    gs = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.12)
    ax = fig.add_subplot(gs[0])
    ax_rate = fig.add_subplot(gs[1], sharex=ax)
    x_lo, x_hi = t0 * tick_ms, t1 * tick_ms

    smooth = rate_smooth_ms if rate_smooth_ms is not None else tick_ms * max(1, (t1 - t0) // 100)
    k = max(1, int(round(smooth / tick_ms)))
    # each group gets a band of at least 12% of the height so that small layers stay visible
    bands = [max(float(len(keep)), 0.12 * shown) for _, keep in kept]
    height = sum(bands)
    axis_h_pt = heights[0] / sum(heights) * (sum(heights) * 0.95) * 72 * 0.8
    tick_w_pt = 10 * 72 * 0.78 / max(t1 - t0, 1)
    lw = float(np.clip(0.6 * tick_w_pt, 0.3, 2.0))
    offset = 0.0
    yticks, ylabels = [], []
    for i, ((g, keep), band) in enumerate(zip(kept, bands, strict=True)):
        color = "#555555" if g.is_input else _COLORS[i % len(_COLORS)]
        sel = (g.tick >= t0) & (g.tick < t1)
        ticks, units = g.tick[sel], g.unit[sel]
        rank = np.searchsorted(keep, units)
        hit = (rank < len(keep)) & (keep[np.minimum(rank, len(keep) - 1)] == units)
        pitch = band / max(len(keep), 1)
        xs = (ticks[hit] + 0.5) * tick_ms
        ys = offset + (rank[hit] + 0.5) * pitch
        size_pt = float(np.clip(0.9 * pitch * axis_h_pt / height, 0.8, 7.0))
        ax.scatter(xs, ys, s=size_pt ** 2, marker="|", color=color, linewidths=lw,
                   rasterized=len(xs) > 5000)
        if i:
            ax.axhline(offset, color="0.3", lw=0.8)
        n_sp = int(sel.sum())
        sub = "" if len(keep) == g.n_units else f", {len(keep)} shown"
        yticks.append(offset + band / 2)
        note = f"\n{g.note}" if g.note else ""
        ylabels.append(f"{g.name}\n{g.n_units} neurons{sub}{note}\n{n_sp} "
                       f"{'events' if g.is_input else 'spikes'}")
        offset += band
        # population rate over ALL neurons of the group
        counts = np.bincount(g.tick[sel] - t0, minlength=t1 - t0).astype(np.float64)
        rate = counts / max(g.n_units, 1) / (tick_ms * 1e-3)
        if k > 1:
            rate = np.convolve(rate, np.ones(k) / k, mode="same")
        ax_rate.plot((np.arange(t0, t1) + 0.5) * tick_ms, rate, color=color, lw=1.1,
                     label=g.name)
    ax.set_ylim(0, height)
    ax.set_xlim(x_lo, x_hi)
    ax.set_yticks(yticks, ylabels, fontsize=7)
    ax.set_ylabel("neuron (groups stacked; index within group)")
    ax.tick_params(labelbottom=False)
    ax.grid(axis="x", color="0.9", lw=0.5)
    ax.set_axisbelow(True)
    full_title = title
    if shown < total:
        full_title += (f"\nSUBSAMPLED: {shown} of {total} neurons drawn (evenly spaced per "
                       "group); rates use all neurons")
    ax.set_title(full_title, fontsize=10)
    smooth_note = "" if k == 1 else f", {k * tick_ms:g} ms box average"
    ax_rate.set_ylabel(f"rate (Hz)\nper neuron{smooth_note}", fontsize=8)
    ax_rate.grid(color="0.9", lw=0.5)
    ax_rate.legend(fontsize=7, ncol=min(len(groups), 6), loc="upper right", frameon=False)
    ax_rate.set_ylim(bottom=0)
    last = ax_rate
    for j, tr in enumerate(traces):
        axt = fig.add_subplot(gs[2 + j], sharex=ax)
        sel = (tr.ticks >= t0) & (tr.ticks < t1)
        axt.step(tr.ticks[sel] * tick_ms, tr.potential[sel], where="post", color="k", lw=0.9,
                 label="V after the tick")
        axt.axhline(tr.threshold, color="#d62728", ls="--", lw=0.8, label="threshold")
        st = tr.spike_ticks[(tr.spike_ticks >= t0) & (tr.spike_ticks < t1)]
        if len(st):
            axt.plot((st + 0.5) * tick_ms, np.full(len(st), tr.threshold), "v",
                     color="#d62728", ms=4, label="spike")
        axt.set_ylabel(tr.label.replace(" (", "\n(") + "\nV (integer)", fontsize=7)
        axt.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                   title=tr.note.replace("; ", "\n") or None, title_fontsize=6)
        axt.grid(color="0.9", lw=0.5)
        last.tick_params(labelbottom=False)
        last = axt
    last.set_xlabel(f"time (ms; 1 tick = {tick_ms:g} ms)")
    if out is not None:
        save_figure(fig, out)
    return fig


# -- accuracy ------------------------------------------------------------------------------


def plot_accuracy_vs_ticks(curves: Mapping[str, Mapping[int | str, float]], *,
                           ann_accuracy: float | None = None, tick_ms: float = 1.0,
                           title: str = "Accuracy vs ticks",
                           out: str | os.PathLike | None = None):
    """Accuracy (%) against ticks per frame, one line per curve (accuracies as fractions)."""
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot()
    for i, (name, curve) in enumerate(curves.items()):
        t = np.array(sorted(int(k) for k in curve))
        acc = np.array([curve[k] if k in curve else curve[str(k)] for k in t], dtype=float)
        ax.plot(t, 100 * acc, "o-", color=_COLORS[i % len(_COLORS)], label=name, ms=4)
    if ann_accuracy is not None:
        ax.axhline(100 * ann_accuracy, color="k", ls="--", lw=1,
                   label=f"ANN {100 * ann_accuracy:.2f}%")
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(f"ticks per frame (1 tick = {tick_ms:g} ms)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(color="0.9", which="both")
    ax.legend(fontsize=8)
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_decomposition(rows: Sequence[Mapping[str, object]], *,
                       title: str = "Accuracy decomposition",
                       out: str | os.PathLike | None = None):
    """Bar per stage (ANN, ideal SNN, quantised SNN, on cores): ``rows`` have ``stage`` and
    ``accuracy`` (fraction), optionally ``ticks``."""
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    names = [str(r["stage"]) + (f"\n{r['ticks']} ticks" if r.get("ticks") else "")
             for r in rows]
    acc = np.array([100 * float(r["accuracy"]) for r in rows])
    bars = ax.bar(names, acc, color=[_COLORS[i % len(_COLORS)] for i in range(len(rows))])
    for b, a in zip(bars, acc, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, a, f"{a:.2f}", ha="center", va="bottom",
                fontsize=8)
    lo = max(0.0, float(acc.min()) - 5) if len(acc) else 0
    ax.set_ylim(lo, 100)
    ax.set_ylabel("accuracy (%) on held-out frames")
    ax.set_title(title)
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    if out is not None:
        save_figure(fig, out)
    return fig


# -- energy --------------------------------------------------------------------------------


def plot_energy_per_frame(rows: Sequence[Mapping[str, object]], *,
                          title: str = "Energy per frame",
                          out: str | os.PathLike | None = None):
    """Stacked bars of energy per frame (µJ) by component; ``rows`` have ``name`` and
    ``components``: {component: joules per frame}."""
    fig = _figure(max(5.0, 1.1 * len(rows) + 3), 4.2)
    ax = fig.add_subplot()
    comps: list[str] = []
    for r in rows:
        for c in r["components"]:  # type: ignore[union-attr]
            if c not in comps:
                comps.append(c)
    bottom = np.zeros(len(rows))
    names = [str(r["name"]) for r in rows]
    for i, c in enumerate(comps):
        vals = np.array([1e6 * float(r["components"].get(c, 0.0))  # type: ignore[union-attr]
                         for r in rows])
        ax.bar(names, vals, bottom=bottom, label=c, color=_COLORS[i % len(_COLORS)])
        bottom += vals
    for x, v in enumerate(bottom):
        ax.text(x, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("energy per frame (µJ)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    if out is not None:
        save_figure(fig, out)
    return fig


# -- Pareto fronts -------------------------------------------------------------------------


def pareto_front(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (lower or equal cost and higher or equal
    accuracy, one strictly), sorted by cost."""
    cost = np.asarray(cost, dtype=float)
    accuracy = np.asarray(accuracy, dtype=float)
    order = np.lexsort((-accuracy, cost))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(int(i))
            best = accuracy[i]
    return np.array(front, dtype=np.int64)


def plot_pareto(rows: Sequence[Mapping[str, object]], cost_key: str, *,
                cost_label: str, cost_scale: float = 1.0, group_key: str | None = None,
                panel_key: str | None = None, label_key: str | None = None,
                title: str | None = None, log_x: bool = True,
                references: Sequence[Mapping[str, object]] = (),
                reference_lines: Sequence[Mapping[str, object]] = (),
                out: str | os.PathLike | None = None):
    """Accuracy (%) against a cost (energy per frame, latency...) with the Pareto front.

    rows: dicts with ``accuracy`` (fraction) and ``cost_key``. One panel, with its own front,
    per value of ``panel_key`` (e.g. the model: accuracies of different data sets are not
    comparable); points coloured by ``group_key``; front points annotated with ``label_key``.
    references: published points ``{"label", "cost" (already scaled), "accuracy" (fraction),
    "panel" (None: every panel)}``, drawn as labelled grey stars off the front;
    reference_lines: ``{"label", "cost", "panel"}``, drawn as labelled vertical lines.
    """
    pts = [r for r in rows if r.get(cost_key) is not None and r.get("accuracy") is not None]
    if not pts:
        raise ConfigError(f"pareto: no row has both accuracy and {cost_key}")
    panels = list(dict.fromkeys(str(r.get(panel_key, "")) for r in pts)) if panel_key else [""]
    groups = sorted({str(r.get(group_key, "")) for r in pts}) if group_key else [""]
    ncol = min(len(panels), 3)
    nrow = -(-len(panels) // ncol)
    fig = _figure(6.2 * ncol, 4.4 * nrow + 0.4)
    for pi, panel in enumerate(panels):
        ax = fig.add_subplot(nrow, ncol, pi + 1)
        sub = [r for r in pts if not panel_key or str(r.get(panel_key, "")) == panel]
        cost = np.array([float(r[cost_key]) * cost_scale for r in sub])
        acc = np.array([100 * float(r["accuracy"]) for r in sub])
        for i, g in enumerate(groups):
            sel = np.array([not group_key or str(r.get(group_key, "")) == g for r in sub])
            if sel.any():
                ax.scatter(cost[sel], acc[sel], s=22, color=_COLORS[i % len(_COLORS)],
                           alpha=0.8, label=g or None, zorder=3)
        front = pareto_front(cost, acc)
        ax.step(cost[front], acc[front], where="post", color="k", lw=1.2, zorder=2,
                label="Pareto front")
        ax.scatter(cost[front], acc[front], s=60, facecolors="none", edgecolors="k", zorder=4)
        if label_key:
            for i in front:
                ax.annotate(str(sub[i].get(label_key, "")), (cost[i], acc[i]), fontsize=6,
                            xytext=(4, -8), textcoords="offset points")
        drawn = _draw_references(ax, panel, references, reference_lines)
        if log_x and (cost > 0).all():
            span = np.concatenate([cost, np.asarray(drawn, float)])
            from matplotlib.ticker import FuncFormatter

            ax.set_xscale("log")
            fmt = FuncFormatter(lambda v, _: f"{v:g}")
            ax.xaxis.set_major_formatter(fmt)
            if span.max() / span.min() < 30:
                ax.xaxis.set_minor_formatter(fmt)
                ax.tick_params(axis="x", which="minor", labelsize=6)
        ax.set_xlabel(cost_label)
        ax.set_ylabel("accuracy (%) on held-out frames")
        if panel:
            ax.set_title(panel, fontsize=10)
        ax.grid(color="0.9", which="both")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title or f"Accuracy vs {cost_label}")
    if out is not None:
        save_figure(fig, out)
    return fig


def _draw_references(ax, panel: str, points: Sequence[Mapping[str, object]],  # noqa: ANN001
                     lines: Sequence[Mapping[str, object]]) -> list[float]:
    """Published reference points (stars) and lines of one panel, each labelled; returns
    the costs drawn."""
    drawn = []
    for r in points:
        if r.get("panel") not in (None, panel):
            continue
        c, a = float(r["cost"]), 100 * float(r["accuracy"])
        drawn.append(c)
        ax.scatter([c], [a], marker="*", s=110, color="0.35", zorder=5,
                   label=str(r["label"]))
        ax.annotate(str(r["label"]), (c, a), fontsize=6, xytext=(5, 3),
                    textcoords="offset points", color="0.25")
    for r in lines:
        if r.get("panel") not in (None, panel):
            continue
        drawn.append(float(r["cost"]))
        ax.axvline(float(r["cost"]), color="0.45", ls="--", lw=1, zorder=1,
                   label=str(r["label"]))
    return drawn
