"""What a compiled program needs around the engine: input encoding and the layer table."""

from __future__ import annotations

import numpy as np
from numba import njit

from snn.cores.program import CoreProgram
from snn.errors import ConfigError, FormatError

REQUIRED_EXTRAS = ("input_shape", "encoding", "input_element", "input_map_core",
                   "input_map_axon", "input_map_tick", "n_classes", "latency_ticks")


def check_compiled(program: CoreProgram) -> None:
    """Raise FormatError unless the program carries the compiler's extras."""
    missing = [k for k in REQUIRED_EXTRAS if k not in program.extras]
    if missing:
        raise FormatError(f"core program lacks x_{missing[0]}: it was not written by "
                          "`snn compile` (run `snn compile NET.npz --out PROG.npz`), so it "
                          "has no input map to encode frames with; run it on its stored "
                          "inputs with `snn sim PROG.npz --ticks T` instead")


def _unit_frames(program: CoreProgram, images: np.ndarray) -> np.ndarray:
    from snn.encoding import to_unit
    shape = tuple(int(s) for s in program.extras["input_shape"])
    images = np.asarray(images)
    r = to_unit(images) if images.dtype == np.uint8 else images.astype(np.float32)
    if r.shape[1:] != shape:
        if r.ndim >= 2 and int(np.prod(r.shape[1:])) == int(np.prod(shape)):
            r = r.reshape(len(r), *shape)
        else:
            raise ConfigError(f"images have frame shape {r.shape[1:]}, the program takes "
                              f"{shape}")
    return r


def encode_frames(program: CoreProgram, images: np.ndarray, ticks: int, seed: int = 0, *,
                  first_frame: int = 0):  # -> InputSpikes
    """External input spikes for ``images`` over ``ticks`` ideal ticks.

    Uses ``snn.encoding.encode`` exactly as the ideal simulator does (same spikes for the
    same encoding, seed and frame index); "current" runs as the deterministic rate code.
    Element e spiking at ideal tick t drives each (core, axon) of the input map at core tick
    ``t + input_map_tick``; each hold axon (``extras["hold_*"]``) gets a spike at core ticks
    0..hold_ticks-1 of every frame. images: raw uint8 pixels or intensities in [0, 1].
    first_frame: index of images[0] in the data set (Poisson streams are per frame).
    """
    from snn.cores.engine.run_types import InputSpikes
    from snn.encoding import encode
    check_compiled(program)
    ex = program.extras
    enc = str(ex["encoding"])
    enc = "rate" if enc == "current" else enc
    r = _unit_frames(program, images)
    b = len(r)
    spikes = encode(r, int(ticks), enc, seed, first_frame).reshape(int(ticks), b, -1)
    elem = np.asarray(ex["input_element"], np.int64)
    order = np.argsort(elem, kind="stable")
    m_core = np.asarray(ex["input_map_core"], np.int64)[order]
    m_axon = np.asarray(ex["input_map_axon"], np.int64)[order]
    m_tick = np.asarray(ex["input_map_tick"], np.int64)[order]
    n_el = spikes.shape[2]
    count = np.bincount(elem, minlength=n_el)[:n_el]
    start = np.concatenate([[0], np.cumsum(count)])[:-1]
    f, t, e = np.nonzero(spikes.transpose(1, 0, 2))  # grouped by frame, then tick
    total = int(count[e].sum())
    tick = np.empty(total, np.int32)
    core = np.empty(total, np.int32)
    axon = np.empty(total, np.int16)
    per_frame = np.zeros(b + 1, np.int64)
    _expand(f.astype(np.int64), t.astype(np.int64), e.astype(np.int64), start.astype(np.int64),
            count.astype(np.int64), m_core.astype(np.int32), m_axon.astype(np.int16),
            m_tick.astype(np.int32), tick, core, axon, per_frame)
    offsets = np.cumsum(per_frame)
    h_core = np.asarray(ex.get("hold_core", np.zeros(0)), np.int32)
    if h_core.size:  # hold inputs: core ticks 0..hold_ticks-1 of every frame (compiler)
        h_ticks = np.asarray(ex["hold_ticks"], np.int64)
        ht = np.arange(h_ticks.max())[None, :] < h_ticks[:, None]
        hi, hk = np.nonzero(ht)
        n_h = len(hi)
        parts = []
        for f in range(b):
            a, z = offsets[f], offsets[f + 1]
            parts.append((np.concatenate([hk.astype(np.int32), tick[a:z]]),
                          np.concatenate([h_core[hi], core[a:z]]),
                          np.concatenate([np.asarray(ex["hold_axon"], np.int16)[hi],
                                          axon[a:z]])))
        tick, core, axon = (np.concatenate([p_[i] for p_ in parts]) for i in range(3))
        offsets = offsets + n_h * np.arange(b + 1)
    return InputSpikes(tick, core, axon, offsets)


@njit(cache=True)
def _expand(f, t, e, start, count, m_core, m_axon, m_tick, tick, core, axon, per_frame):
    j = 0
    for i in range(len(e)):
        s = start[e[i]]
        for m in range(count[e[i]]):
            tick[j] = t[i] + m_tick[s + m]
            core[j] = m_core[s + m]
            axon[j] = m_axon[s + m]
            j += 1
        per_frame[f[i] + 1] += count[e[i]]


def layer_table(program: CoreProgram, run=None) -> list[dict]:  # run: RunResult | None
    """Per layer: cores (by role), axon and neuron utilisation, fan-in blocks (splits),
    relays, splitters, neurons, weight bits, exactness, output tick, relay_rms (split hidden
    layers with calibrated relays: their summing neurons' rms spike-count error against the
    same neurons fed without relays, on the calibration frames; None elsewhere); with a
    RunResult made with ``per_core=True``, also SOPs and spikes per frame."""
    ex = program.extras
    if "layer_names" not in ex or "core_layer" not in ex:
        raise FormatError("core program lacks x_layer_names/x_core_layer (not compiled by "
                          "`snn compile`)")
    names = [str(n) for n in np.asarray(ex["layer_names"]).reshape(-1)]
    core_layer = np.asarray(ex["core_layer"])
    role = np.asarray(ex.get("core_role", np.zeros(program.n_cores, np.int8)))
    used_ax = program.crossbar.any(axis=2)
    used_ne = (program.target_core >= 0) | (program.output_index >= 0)
    per_core = getattr(run, "per_core", None) if run is not None else None
    rows = []
    for i, name in enumerate(names):
        sel = core_layer == i
        n = int(sel.sum())
        row = {
            "layer": name, "cores": n,
            "partial_cores": int((sel & (role == 1)).sum()),
            "sum_cores": int((sel & (role == 2)).sum()),
            "axon_util": float(used_ax[sel].mean()) if n else 0.0,
            "neuron_util": float(used_ne[sel].mean()) if n else 0.0,
        }
        for key, col in (("blocks", "layer_blocks"), ("relays", "layer_relays"),
                         ("splitters", "layer_splitters"), ("neurons", "layer_neurons"),
                         ("weight_bits", "layer_weight_bits"), ("exact", "layer_exact"),
                         ("tick", "layer_tick")):
            if col in ex:
                row[key] = int(np.asarray(ex[col])[i])
        row["splits"] = max(0, row.get("blocks", 1) - 1)
        if "layer_relay_rms" in ex:  # NaN: no calibrated relays in this layer
            rms = float(np.asarray(ex["layer_relay_rms"])[i])
            row["relay_rms"] = None if np.isnan(rms) else rms
        if per_core is not None:
            nf = max(1, run.n_frames)
            row["sops_per_frame"] = float(per_core["sops"][:, sel].sum() / nf)
            row["spikes_per_frame"] = float(per_core["spikes"][:, sel].sum() / nf)
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Markdown table of :func:`layer_table` rows."""
    cols = ["layer", "cores", "partial_cores", "sum_cores", "axon_util", "neuron_util",
            "weight_bits", "exact", "blocks", "relays", "splitters", "tick"]
    if any(r.get("relay_rms") is not None for r in rows):
        cols.append("relay_rms")
    if rows and "sops_per_frame" in rows[0]:
        cols += ["sops_per_frame", "spikes_per_frame"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            v = "-" if v is None else v
            cells.append(f"{v:.2f}" if isinstance(v, float) and ("util" in c or c == "relay_rms")
                         else f"{v:.1f}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
