"""Lower a quantised, folded SpikingNetwork to stages: sparse integer rows over sources.

A stage is one spiking layer (or the readout): neuron r reads the global sources
``cols[row_ptr[r]:row_ptr[r+1]]`` with integer levels ``q`` (the synapse adds s * q units).
Global source indices: the input elements first (channel-first flattening), then the
neurons of every stage in order. ``Flatten`` is the identity on indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn.cores.compiler.quantise import LayerQuant, codes
from snn.errors import CompileError
from snn.network import INPUT, Add, Conv2d, Dense, Flatten, SpikingNetwork


@dataclass
class Stage:
    """One layer of neurons to map onto cores."""

    name: str
    index: int  # position in the stage list (= layer_names index)
    shape: tuple[int, ...]  # output shape
    base: int  # global index of neuron 0
    row_ptr: np.ndarray  # int64 [n + 1]
    cols: np.ndarray  # int64 [nnz] global source index, ascending within a row
    q: np.ndarray  # int64 [nnz] weight levels
    chan: np.ndarray  # int64 [n] output channel of each neuron (index into quant arrays)
    quant: LayerQuant
    sources: tuple[str, ...]  # stage names or "input"
    readout: bool
    conv: bool
    # per neuron (row): type weights [n, k], threshold, leak (units), polarity, multiplier
    tw: np.ndarray = None  # type: ignore[assignment]
    thr: np.ndarray = None  # type: ignore[assignment]
    leak: np.ndarray = None  # type: ignore[assignment]
    sig: np.ndarray = None  # type: ignore[assignment]
    s: np.ndarray = None  # type: ignore[assignment]
    # readout only: class of each row and its decode weight (model units per unit)
    term_class: np.ndarray | None = None
    term_weight: np.ndarray | None = None
    mcodes: np.ndarray | None = None  # per synapse type mask (codebook layers)
    target: np.ndarray | None = None  # per synapse float weight in units (codebook layers)

    def __post_init__(self) -> None:
        lq = self.quant
        if self.tw is None:
            self.tw = lq.type_weights(self.chan)
            self.thr = lq.threshold[self.chan].astype(np.int64)
            self.leak = lq.bias[self.chan].astype(np.int64)
            self.sig = lq.sigma[self.chan].astype(np.int64)
            # codebook layers carry weights in units (q = s * level): multiplier 1
            self.s = (np.ones(len(self.chan), np.int64) if lq.mask is not None
                      else lq.s[self.chan].astype(np.int64))

    @property
    def n(self) -> int:
        return len(self.row_ptr) - 1

    @property
    def masks(self) -> np.ndarray:
        """Per synapse: bit mask of the axon types it uses (k-bit code of sigma * q)."""
        if self.mcodes is not None:
            return self.mcodes
        sig = self.sig[np.repeat(np.arange(self.n), np.diff(self.row_ptr))]
        return codes(self.q, sig, self.quant.bits)


def _split_terms(st: Stage) -> Stage:
    """Readout with 2k-bit levels -> rows hi (0..n-1) and lo (n..2n-1), k bits each."""
    k = st.quant.bits
    lo = np.mod(st.q + 2 ** (k - 1), 2 ** k) - 2 ** (k - 1)
    hi = (st.q - lo) // 2 ** k
    n = st.n
    cnt = np.diff(st.row_ptr)
    parts_q = [hi, lo]
    keep = [hi != 0, lo != 0]
    rows = np.repeat(np.arange(n), cnt)
    row_ptr = [np.concatenate([[0], np.cumsum(np.bincount(rows[kp], minlength=n))])
               for kp in keep]
    row_ptr = np.concatenate([row_ptr[0], row_ptr[0][-1] + row_ptr[1][1:]]).astype(np.int64)
    cols = np.concatenate([st.cols[keep[0]], st.cols[keep[1]]])
    q = np.concatenate([parts_q[0][keep[0]], parts_q[1][keep[1]]])
    chan = np.concatenate([st.chan, st.chan])
    lq = st.quant
    delta_s = lq.delta[st.chan] / lq.s[st.chan]
    thr = np.concatenate([np.maximum(1, st.thr // 2 ** k), st.thr])
    leak = np.concatenate([np.zeros(n, np.int64), st.leak])
    out = Stage(st.name, st.index, st.shape, st.base, row_ptr, cols, q, chan, lq, st.sources,
                True, st.conv, np.concatenate([st.tw, st.tw]), thr, leak,
                np.ones(2 * n, np.int64), np.concatenate([st.s, st.s]),
                np.concatenate([np.arange(n), np.arange(n)]),
                np.concatenate([delta_s * 2 ** k, delta_s]))
    return out


def _dense_index(q: np.ndarray, base_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows of the nonzero levels q [O, F]: (row_ptr, global source of each synapse,
    each synapse's flat index into q)."""
    nz = q != 0
    rows, cols = np.nonzero(nz)
    row_ptr = np.concatenate([[0], np.cumsum(nz.sum(axis=1))]).astype(np.int64)
    return row_ptr, cols.astype(np.int64) + base_in, rows * q.shape[1] + cols


def _conv_index(layer: Conv2d, q: np.ndarray, in_shape: tuple[int, int, int], base_in: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows (one per output neuron) of the nonzero levels q [O, C, kh, kw]: (row_ptr,
    global source of each synapse, each synapse's flat index into q)."""
    c, h, w = in_shape
    o, ci, kh, kw = q.shape
    _, ho, wo = layer.output_shape([in_shape])
    pt, pl = layer.padding[0], layer.padding[1]
    sh, sw = layer.stride
    y, x = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
    y, x = y.reshape(-1), x.reshape(-1)  # [P]
    cc, ky, kx = np.meshgrid(np.arange(ci), np.arange(kh), np.arange(kw), indexing="ij")
    cc, ky, kx = cc.reshape(-1), ky.reshape(-1), kx.reshape(-1)  # [F]
    iy = y[:, None] * sh - pt + ky[None, :]
    ix = x[:, None] * sw - pl + kx[None, :]
    valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)  # [P, F]
    src = (cc[None, :] * h * w + iy * w + ix).astype(np.int64) + base_in  # [P, F]
    group_off = (np.arange(o) // (o // layer.groups)) * ci * h * w  # [O] first input channel
    n_f = ci * kh * kw
    keep = valid[None, :, :] & (q.reshape(o, 1, n_f) != 0)  # [O, P, F]
    counts = keep.sum(axis=2).reshape(-1)
    row_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cols = (src[None] + group_off[:, None, None])[keep]
    flat = np.broadcast_to((np.arange(o)[:, None] * n_f + np.arange(n_f))[:, None, :],
                           keep.shape)[keep]
    # within a row, F order is (c, ky, kx): sources ascend (c*h*w + iy*w + ix) - keep sorted
    return row_ptr, cols, flat


def _layer_rows(layer: Dense | Conv2d, lq: LayerQuant, shapes: dict[str, tuple[int, ...]],
                base_of: dict[str, int]) -> tuple[np.ndarray, ...]:
    """Rows of a Dense/Conv2d layer (or Add term): (row_ptr, cols, levels, type masks,
    float targets or None), the last three gathered through one synapse index."""
    (src,) = layer.inputs
    qq = lq.q if lq.mask is None else lq.wu
    if isinstance(layer, Dense):
        row_ptr, cols, flat = _dense_index(qq.reshape(qq.shape[0], -1), base_of[src])
    else:
        row_ptr, cols, flat = _conv_index(layer, qq, shapes[src], base_of[src])
    vals = qq.reshape(-1)[flat].astype(np.int64)
    if lq.mask is not None:
        m = lq.mask.reshape(-1)[flat]
    else:
        sig = lq.sigma.reshape(-1, *([1] * (qq.ndim - 1)))
        m = codes(qq, sig, lq.bits).reshape(-1)[flat]
    tgt = None if lq.target is None else lq.target.reshape(-1)[flat].astype(np.float64)
    return row_ptr, cols, vals, m.astype(np.int64), tgt


def _merge_rows(name: str, parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """One row per neuron from the rows of several terms (columns ascending)."""
    n = len(parts[0][0]) - 1
    rows = np.concatenate([np.repeat(np.arange(n), np.diff(p[0])) for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    vals = np.concatenate([p[2] for p in parts])
    masks = np.concatenate([p[3] for p in parts])
    order = np.lexsort((cols, rows))
    rows, cols, vals, masks = rows[order], cols[order], vals[order], masks[order]
    target = (None if any(p[4] is None for p in parts)
              else np.concatenate([p[4] for p in parts])[order])
    if np.any((np.diff(rows) == 0) & (np.diff(cols) == 0)):
        raise CompileError(f"layer {name!r}: two of its terms read the same neuron; on cores "
                           "an input reaches a neuron once - merge the two paths into one "
                           "layer")
    row_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    return row_ptr, cols, vals, masks, target


def lower(net: SpikingNetwork, quants: dict[str, LayerQuant]) -> tuple[list[Stage], int]:
    """Stages of a folded, quantised network, and the number of input elements."""
    shapes = net.shapes()
    n_in = int(np.prod(net.input_shape))
    base_of: dict[str, int] = {INPUT: 0}
    stage_of: dict[str, str] = {INPUT: INPUT}
    nxt = n_in
    stages: list[Stage] = []
    readout = net.layers[-1]
    terms = {s for layer in net.layers if isinstance(layer, Add) for s in layer.inputs}
    by_name = {layer.name: layer for layer in net.layers}
    for layer in net.layers:
        if layer.name in terms:
            continue  # lowered with its Add
        if isinstance(layer, Add):
            if layer is readout:
                raise CompileError(f"layer {layer.name!r}: the readout must be a dense or "
                                   "convolution layer, not an addition")
            lq = quants[layer.name]
            parts = [_layer_rows(by_name[t], quants[t], shapes, base_of) for t in layer.inputs]
            row_ptr, cols, vals, mc, target = _merge_rows(layer.name, parts)
            shape = shapes[layer.name]
            chan = (np.repeat(np.arange(shape[0], dtype=np.int64), shape[1] * shape[2])
                    if len(shape) == 3 else np.arange(shape[0], dtype=np.int64))
            srcs = tuple(dict.fromkeys(stage_of[by_name[t].inputs[0]] for t in layer.inputs))
            st = Stage(layer.name, len(stages), shape, nxt, row_ptr, cols, vals, chan, lq,
                       srcs, False, len(shape) == 3)
            st.mcodes, st.target = mc, target
            stages.append(st)
            base_of[layer.name] = nxt
            stage_of[layer.name] = layer.name
            nxt += st.n
            continue
        if isinstance(layer, Flatten):
            (src,) = layer.inputs
            base_of[layer.name] = base_of[src]
            stage_of[layer.name] = stage_of[src]
            continue
        if not isinstance(layer, (Dense, Conv2d)):
            raise CompileError(f"layer {layer.name!r}: {layer.kind} layers are not supported "
                               "by the core compiler (supported: dense, conv2d, flatten, and "
                               "average pooling folded into the next layer)")
        if len(layer.inputs) != 1:
            raise CompileError(f"layer {layer.name!r}: reads {len(layer.inputs)} inputs; "
                               "dense and conv layers read one")
        (src,) = layer.inputs
        lq = quants[layer.name]
        row_ptr, cols, vals, m, target = _layer_rows(layer, lq, shapes, base_of)
        o = lq.q.shape[0]
        chan = (np.arange(o, dtype=np.int64) if isinstance(layer, Dense)
                else np.repeat(np.arange(o, dtype=np.int64), np.prod(shapes[layer.name][1:])))
        mc = m if lq.mask is not None else None  # else Stage.masks derives them from q
        n = len(row_ptr) - 1
        st = Stage(layer.name, len(stages), shapes[layer.name], nxt, row_ptr, cols, vals, chan,
                   lq, (stage_of[src],), layer is readout, isinstance(layer, Conv2d))
        st.mcodes, st.target = mc, target
        if st.readout:
            if lq.terms == 2:
                st = _split_terms(st)
            else:
                st.term_class = np.arange(n)
                st.term_weight = lq.delta[chan] / lq.s[chan]
        stages.append(st)
        base_of[layer.name] = nxt
        stage_of[layer.name] = layer.name
        nxt += n
    return stages, n_in
