"""Mesh heatmaps: core activity and link load of a run on the core mesh (PNG/SVG)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from snn.cores.hardware.mesh import LinkLoad
from snn.plots import _figure, save_figure


def link_max_grid(load: LinkLoad) -> np.ndarray:
    """[H, W]: the highest load (spikes/tick) of the four directed links leaving each point."""
    H, W = load.xp.shape[0], load.yp.shape[1]
    g = np.zeros((H, W))
    g[:, :-1] = np.maximum(g[:, :-1], load.xp)
    g[:, 1:] = np.maximum(g[:, 1:], load.xm)
    g[:-1, :] = np.maximum(g[:-1, :], load.yp)
    g[1:, :] = np.maximum(g[1:, :], load.ym)
    return g


def plot_mesh(activity: np.ndarray, load: LinkLoad, *, title: str = "",
              activity_label: str = "spikes per core per tick",
              capacity: float | None = None, chip_size: tuple[int, int] = (64, 64),
              out: str | os.PathLike | None = None):
    """Two heatmaps side by side: ``activity`` [H, W] (NaN: no core) and the busiest
    outgoing link of each mesh point (spikes/tick), chip boundaries drawn. Returns the
    Figure; writes it when ``out`` is given."""
    act = np.asarray(activity, np.float64)
    links = link_max_grid(load)
    H, W = act.shape
    aspect = H / max(W, 1)
    fig = _figure(12.0, max(3.0, min(9.0, 1.2 + 5.0 * aspect)))
    fig.set_layout_engine("constrained")
    axes = fig.subplots(1, 2)
    meas = "measured" if load.measured else "ESTIMATED (uniform rates)"
    cap = "" if capacity is None else f"; capacity {capacity:.3g}"
    if capacity is not None and load.peak > capacity:
        cap += " (EXCEEDED)"
    panels = [
        (act, f"Core activity ({activity_label})", activity_label, "viridis"),
        (links, f"Busiest outgoing link, {meas}\npeak {load.peak:.3g} spikes/tick{cap}",
         "spikes per tick (x-then-y routing)", "magma"),
    ]
    for ax, (img, ttl, lab, cmap) in zip(axes, panels, strict=True):
        im = ax.imshow(np.ma.masked_invalid(img), origin="upper", cmap=cmap,
                       interpolation="nearest", aspect="equal")
        cb = fig.colorbar(im, ax=ax, shrink=0.8)
        cb.set_label(lab)
        ax.set_title(ttl, fontsize=9)
        ax.set_xlabel("mesh x (core)")
        ax.set_ylabel("mesh y (core)")
        for x in range(chip_size[0], W, chip_size[0]):
            ax.axvline(x - 0.5, color="tab:cyan", lw=1.0, ls="--")
        for y in range(chip_size[1], H, chip_size[1]):
            ax.axhline(y - 0.5, color="tab:cyan", lw=1.0, ls="--")
    fig.suptitle(title or "Mesh activity and link load")
    if out is not None:
        save_figure(fig, Path(out))
    return fig
