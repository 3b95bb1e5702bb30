"""Ideal (float) simulator of a SpikingNetwork: batched, layer by layer, all ticks at once.

The network is feed-forward, so running layer l over all T ticks before layer l+1 gives the
same spikes as running tick by tick (the order of ``snn.network``'s docstring); it lets one
convolution call cover T x B frames. Per layer and tick::

    z(t) = op(x_in(t));  spiking: V += z(t) + bias; s = V >= thr; V -= thr * s; x(t) = s
                         pass-through: x(t) = z(t) + bias

Initial membrane: ``V(0) = meta["v_init"] * threshold`` (default 0), rounded to an integer
when ``meta["integer_v_init"]`` (a quantised network: the cores' ``v_initial``).

Max pooling (``Pool2d(mode="max")``, pass-through) is *rate-gated* by default (``simulate(...,
maxpool="tree")`` runs the cores' IF-neuron tree instead, ``snn.maxpool``): per window it forwards
at tick t the input spike of the element with the highest spike count over ticks 0..t
(including t; ties -> first element in row-major window order). Its output rate converges to
the largest input rate of the window. Average pooling is the window mean (count_include_pad).

Counting (per frame, cumulative up to each requested tick count):
- ``spikes[layer]``: spikes emitted by the IF neurons of spiking layers.
- ``sops[layer]``: synaptic operations = sum over ticks of (input element != 0) x (its
  fan-out: number of nonzero weights it drives in this layer). Dense, Conv2d, avg Pool2d and
  Add count (an Add counts only its spiking inputs: the synapses of a pass-through input
  are counted in that layer); Flatten and max-pool gating count 0. With ``current``
  encoding the first layer's "events" are the nonzero analog inputs.

Decoding: ``counts`` are the readout's spike counts, ``potential`` the readout's integrated
input (count * thr + V - V(0), i.e. the sum of z + bias over ticks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from snn.encoding import encode, to_unit
from snn.errors import ConfigError
from snn.network import INPUT, Add, Conv2d, Dense, Flatten, Layer, Pool2d, SpikingNetwork

# torch is an optional extra: it makes convolutions fast; numpy is the fallback. It is
# imported on the first convolution, not with this module: the core compiler uses this
# simulator (relay calibration) and must not load torch to compile a network.
_torch_state: list = []  # [torch, torch.nn.functional] once tried ([None, None]: absent)


def _torch() -> tuple:
    """(torch, torch.nn.functional), or (None, None) when torch is not installed."""
    if not _torch_state:
        try:
            import torch
            import torch.nn.functional as functional
            _torch_state.extend([torch, functional])
        except ImportError:  # pragma: no cover
            _torch_state.extend([None, None])
    return _torch_state[0], _torch_state[1]


# ---------------------------------------------------------------------------------------------
# linear ops on [N, ...] arrays (N = frames, or ticks x frames)
# ---------------------------------------------------------------------------------------------
def conv2d(x: np.ndarray, weight: np.ndarray, stride: tuple[int, int],
           padding: tuple[int, int, int, int], groups: int = 1, backend: str = "auto"
           ) -> np.ndarray:
    """Cross-correlation of x [N, C, H, W] with weight [O, C/g, kh, kw], no bias."""
    pt, pl, pb, pr = padding
    torch, _F = _torch() if backend != "numpy" else (None, None)
    if torch is not None:
        with torch.no_grad():
            xt = torch.from_numpy(np.require(x, requirements=["C", "W"]))
            wt = torch.from_numpy(np.ascontiguousarray(weight, dtype=x.dtype))
            if (pt, pl) != (pb, pr):
                xt = _F.pad(xt, (pl, pr, pt, pb))
                pad = (0, 0)
            else:
                pad = (pt, pl)
            return _F.conv2d(xt, wt, None, tuple(stride), pad, 1, groups).numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    o, cg, kh, kw = weight.shape
    sh, sw = stride
    n, c = x.shape[:2]
    ho = (xp.shape[2] - kh) // sh + 1
    wo = (xp.shape[3] - kw) // sw + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    win = win[:, :, ::sh, ::sw][:, :, :ho, :wo]  # [N, C, Ho, Wo, kh, kw]
    og = o // groups
    out = np.empty((n, o, ho, wo), x.dtype)
    for g in range(groups):
        cols = win[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1, 4, 5).reshape(
            n * ho * wo, cg * kh * kw)
        wg = weight[g * og:(g + 1) * og].reshape(og, -1).astype(x.dtype)
        out[:, g * og:(g + 1) * og] = (cols @ wg.T).reshape(n, ho, wo, og).transpose(0, 3, 1, 2)
    return out


def _pool_offsets(x: np.ndarray, layer: Pool2d, fill: float):
    """Yield the strided [N, C, Ho, Wo] views of x for each kernel offset (row-major)."""
    pt, pl, pb, pr = layer.padding
    if any(layer.padding):
        x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    kh, kw = layer.kernel
    sh, sw = layer.stride
    ho = (x.shape[2] - kh) // sh + 1
    wo = (x.shape[3] - kw) // sw + 1
    for dy in range(kh):
        for dx in range(kw):
            yield x[:, :, dy:dy + sh * (ho - 1) + 1:sh, dx:dx + sw * (wo - 1) + 1:sw]


def _pool_windows(x: np.ndarray, layer: Pool2d, fill: float) -> np.ndarray:
    """[N, C, Ho, Wo, kh*kw]: every window's elements in row-major order."""
    return np.stack(list(_pool_offsets(x, layer, fill)), axis=-1)


def avg_pool(x: np.ndarray, layer: Pool2d) -> np.ndarray:
    """Window mean (padded zeros count, as torch's default count_include_pad=True)."""
    out = None
    for v in _pool_offsets(x, layer, 0.0):
        out = v.astype(np.result_type(x.dtype, np.float32)) if out is None else out + v
    return (out / (layer.kernel[0] * layer.kernel[1])).astype(
        np.result_type(x.dtype, np.float32), copy=False)


def max_pool(x: np.ndarray, layer: Pool2d) -> np.ndarray:
    """ANN max pooling (padding never wins)."""
    out = None
    for v in _pool_offsets(x, layer, -np.inf):
        out = v.copy() if out is None else np.maximum(out, v)
    return out


def gated_max_pool(x: np.ndarray, layer: Pool2d) -> np.ndarray:
    """Rate-gated spiking max pool of x [T, B, C, H, W] (see the module docstring)."""
    t, b = x.shape[:2]
    cum = np.empty(x.shape, np.int32)
    np.copyto(cum[0], x[0], casting="unsafe")
    for k in range(1, t):
        np.add(cum[k - 1], x[k], out=cum[k], casting="unsafe")
    flat = x.reshape(t * b, *x.shape[2:])
    cum = cum.reshape(flat.shape)
    best = out = None
    for c, v in zip(_pool_offsets(cum, layer, -1), _pool_offsets(flat, layer, 0), strict=True):
        if best is None:
            best, out = c.copy(), v.copy()
        else:
            win = c > best  # strict: ties keep the earlier element
            np.copyto(best, c, where=win)
            np.copyto(out, v, where=win)
    return out.reshape(t, b, *out.shape[1:])


def linear_op(layer: Layer, xs: list[np.ndarray], backend: str = "auto") -> np.ndarray:
    """The layer's op (without bias) on inputs shaped [N, ...] (ANN semantics for max pool)."""
    x = xs[0]
    if isinstance(layer, Dense):
        return x.reshape(len(x), -1) @ layer.weight.T.astype(x.dtype)
    if isinstance(layer, Conv2d):
        return conv2d(x, layer.weight, layer.stride, layer.padding, layer.groups, backend)
    if isinstance(layer, Pool2d):
        return avg_pool(x, layer) if layer.mode == "avg" else max_pool(x, layer)
    if isinstance(layer, Flatten):
        return x.reshape(len(x), -1)
    if isinstance(layer, Add):
        out = xs[0].copy()
        for other in xs[1:]:
            out += other
        return out
    raise ConfigError(f"layer {layer.name!r}: unknown layer kind {layer.kind!r}")


def bias_of(layer: Layer) -> np.ndarray | None:
    """Bias broadcastable to the layer's output [N, ...], or None."""
    b = getattr(layer, "bias", None)
    if b is None or b.size == 0:
        return None
    return b.reshape(-1, 1, 1) if isinstance(layer, Conv2d) else b


def _thr(layer: Layer, shape: tuple[int, ...]) -> np.ndarray:
    t = np.asarray(layer.threshold, np.float64).reshape(-1)
    if t.size == 1:
        return t.reshape(())
    if len(shape) == 3:
        return t.reshape(-1, 1, 1)
    return t


def fanout(layer: Layer, in_shape: tuple[int, ...]) -> np.ndarray | None:
    """Per input element: number of nonzero synapses it drives in this layer (None: 0 SOPs)."""
    if isinstance(layer, Dense):
        return (layer.weight != 0).sum(axis=0).reshape(in_shape).astype(np.float64)
    if isinstance(layer, Conv2d):
        c, h, w = in_shape
        o, cg, kh, kw = layer.weight.shape
        og = o // layer.groups
        nz = (layer.weight != 0).reshape(layer.groups, og, cg, kh, kw).sum(axis=1)
        nz = nz.reshape(c, kh, kw).astype(np.float64)  # per input channel
        out_shape = layer.output_shape([in_shape])
        pt, pl = layer.padding[0], layer.padding[1]
        fan = np.zeros(in_shape)
        oy = np.arange(out_shape[1]) * layer.stride[0] - pt
        ox = np.arange(out_shape[2]) * layer.stride[1] - pl
        for dy in range(kh):
            for dx in range(kw):
                iy, ix = oy + dy, ox + dx
                iy, ix = iy[(iy >= 0) & (iy < h)], ix[(ix >= 0) & (ix < w)]
                fan[:, iy[:, None], ix[None, :]] += nz[:, dy, dx][:, None, None]
        return fan
    if isinstance(layer, Pool2d) and layer.mode == "avg":
        ones = np.ones((1, *in_shape))
        win = _pool_windows(np.arange(ones.size, dtype=np.float64).reshape(ones.shape),
                            layer, -1.0)
        idx = win[win >= 0].astype(np.int64)
        return np.bincount(idx, minlength=ones.size).reshape(in_shape).astype(np.float64)
    if isinstance(layer, Add):
        return np.ones(in_shape)
    return None


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass
class SimResult:
    """Outcome of :func:`simulate` for B frames at K requested tick counts.

    ticks: the K tick counts (ascending).
    counts: int64 [K, B, n_out] readout spike counts after ticks[k] ticks.
    potential: float64 [K, B, n_out] readout integrated input after ticks[k] ticks.
    spikes, sops: per layer name, float64 [K, B] cumulative spikes / SOPs per frame.
    trains: record_layers=True: per layer (and "input") the per-tick outputs [T, B, ...]
        (bool for spikes, float for pass-through values), T = max(ticks).
    """

    ticks: list[int]
    counts: np.ndarray
    potential: np.ndarray
    spikes: dict[str, np.ndarray]
    sops: dict[str, np.ndarray]
    trains: dict[str, np.ndarray] | None = None
    wall_s: float = 0.0
    encoding: str = "current"
    meta: dict = field(default_factory=dict)

    def predictions(self, decode: str | None = None) -> np.ndarray:
        """int64 [K, B] predicted class: argmax of spike counts (ties: lowest index) or of
        the integrated potential (default: the network's ``meta["decode"]``, else count)."""
        decode = decode or self.meta.get("decode", "count")
        if decode == "count":
            return np.argmax(self.counts, axis=-1)
        if decode == "potential":
            return np.argmax(self.potential, axis=-1)
        raise ConfigError(f"decode must be 'count' or 'potential', got {decode!r}")

    def accuracy(self, labels: np.ndarray, decode: str | None = None) -> dict[int, float]:
        """Fraction correct at every requested tick count."""
        pred = self.predictions(decode)
        labels = np.asarray(labels)
        return {t: float((pred[k] == labels).mean()) for k, t in enumerate(self.ticks)}

    def total_sops(self) -> np.ndarray:
        """float64 [K, B]: SOPs of all layers."""
        return sum(self.sops.values()) if self.sops else np.zeros(self.counts.shape[:2])

    def total_spikes(self) -> np.ndarray:
        return sum(self.spikes.values()) if self.spikes else np.zeros(self.counts.shape[:2])

    def sops_per_frame(self) -> dict[int, float]:
        tot = self.total_sops()
        return {t: float(tot[k].mean()) for k, t in enumerate(self.ticks)}

    def spikes_per_frame(self) -> dict[int, float]:
        tot = self.total_spikes()
        return {t: float(tot[k].mean()) for k, t in enumerate(self.ticks)}


def _concat(parts: list[SimResult], ticks: list[int], wall: float, encoding: str) -> SimResult:
    cat = np.concatenate
    trains = None
    if parts[0].trains is not None:
        trains = {k: cat([p.trains[k] for p in parts], axis=1) for k in parts[0].trains}
    return SimResult(ticks, cat([p.counts for p in parts], axis=1),
                     cat([p.potential for p in parts], axis=1),
                     {k: cat([p.spikes[k] for p in parts], axis=1) for k in parts[0].spikes},
                     {k: cat([p.sops[k] for p in parts], axis=1) for k in parts[0].sops},
                     trains, wall, encoding)


# ---------------------------------------------------------------------------------------------
# simulation
# ---------------------------------------------------------------------------------------------
def _parse_ticks(ticks: int | list[int]) -> list[int]:
    ts = sorted({int(t) for t in ([ticks] if np.isscalar(ticks) else ticks)})
    if not ts or ts[0] < 1:
        raise ConfigError(f"ticks must be positive integers, got {ticks!r}")
    return ts


def _images_to_unit(network: SpikingNetwork, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        r = to_unit(images)
    else:
        r = images.astype(np.float32, copy=False)
    shape = tuple(network.input_shape)
    if r.shape[1:] != shape:
        if int(np.prod(r.shape[1:])) == int(np.prod(shape)):
            r = r.reshape(len(r), *shape)
        else:
            raise ConfigError(f"images have frame shape {r.shape[1:]}, the network takes "
                              f"{shape}")
    return r


def _run_chunk(network: SpikingNetwork, r: np.ndarray, ticks: list[int], encoding: str,
               seed: int, first_frame: int, record: bool, dtype: np.dtype, backend: str
               ) -> SimResult:
    T = ticks[-1]
    sel = np.asarray(ticks) - 1
    b = len(r)
    shapes = network.shapes()
    v_init = float(network.meta.get("v_init", 0.0))
    integer_v0 = bool(network.meta.get("integer_v_init", False))  # rounded, as on cores
    last_use: dict[str, int] = {}
    for i, layer in enumerate(network.layers):
        for s in layer.inputs:
            last_use[s] = i
    enc = encode(r, T, encoding, seed, first_frame)
    if enc.dtype != bool:  # current: keep the broadcast (constant over ticks) view
        enc = np.broadcast_to(np.asarray(r, dtype), enc.shape)
    x: dict[str, np.ndarray] = {INPUT: enc}
    trains: dict[str, np.ndarray] | None = {INPUT: enc} if record else None
    spikes: dict[str, np.ndarray] = {}
    sops: dict[str, np.ndarray] = {}
    readout = network.layers[-1]
    counts = potential = None
    for i, layer in enumerate(network.layers):
        ins = [x[s] for s in layer.inputs]
        const = all(a.strides[0] == 0 for a in ins)  # input identical at every tick
        fan = fanout(layer, shapes[layer.inputs[0]])
        if fan is not None:
            per_tick = np.zeros((T, b))
            fan32 = fan.reshape(-1).astype(np.float32)
            counted = ins
            if isinstance(layer, Add):  # pass-through inputs: their synapses counted there
                counted = [a for src, a in zip(layer.inputs, ins, strict=True)
                           if src == INPUT or network.layer(src).spiking]
            for a in counted:
                a0 = a[:1] if const else a
                nz = (a0 != 0).reshape(len(a0) * b, -1).astype(np.float32)
                per_tick += (nz @ fan32).reshape(len(a0), b).astype(np.float64)
            sops[layer.name] = np.cumsum(per_tick, axis=0)[sel]
        # z over all ticks, [T, B, ...]
        if isinstance(layer, Pool2d) and layer.mode == "max":
            z = (np.broadcast_to(max_pool(ins[0][0], layer), (T, b, *shapes[layer.name]))
                 if const else gated_max_pool(ins[0], layer))
        elif const:
            z0 = linear_op(layer, [a[0].astype(dtype, copy=False) for a in ins], backend)
            z = np.broadcast_to(z0, (T, *z0.shape))
        else:
            flat = [a.reshape(T * b, *a.shape[2:]).astype(dtype, copy=False) for a in ins]
            z = linear_op(layer, flat, backend)
            z = z.reshape(T, b, *z.shape[1:])
        bias = bias_of(layer)
        if layer.spiking:
            thr = _thr(layer, shapes[layer.name]).astype(dtype)
            drive = z[0] + bias if bias is not None else z[0]
            v0 = np.rint(v_init * thr) if integer_v0 else v_init * thr
            v = np.broadcast_to(v0, z.shape[1:]).astype(dtype)
            out = np.empty(z.shape, bool)
            for t in range(T):
                if not const:
                    drive = z[t] + bias if bias is not None else z[t]
                v += drive
                s = v >= thr
                v -= thr * s
                out[t] = s
            spikes[layer.name] = np.cumsum(out.reshape(T, b, -1).sum(-1), axis=0)[sel]
            if layer is readout:
                c = np.cumsum(out.reshape(T, b, -1), axis=0, dtype=np.int64)[sel]
                counts = c
                inp = z.reshape(T, b, -1)
                if bias is not None:
                    inp = inp + np.broadcast_to(bias, z.shape[1:]).reshape(1, b, -1)
                potential = np.cumsum(inp, axis=0, dtype=np.float64)[sel]
        else:
            out = z + bias if bias is not None else z
            if layer is readout:
                potential = np.cumsum(out.reshape(T, b, -1), axis=0, dtype=np.float64)[sel]
                counts = np.zeros(potential.shape, np.int64)
        x[layer.name] = out
        if record:
            trains[layer.name] = np.array(out)
        for s in layer.inputs:
            if last_use.get(s) == i:
                del x[s]
    return SimResult(ticks, counts, potential, spikes, sops, trains, 0.0, encoding)


def simulate(network: SpikingNetwork, images: np.ndarray, ticks: int | list[int], *,
             encoding: str | None = None, seed: int = 0, batch_size: int = 256,
             record_layers: bool = False, dtype: type = np.float32, backend: str = "auto",
             progress: bool = False, memory_mb: float = 512.0, first_frame: int = 0,
             maxpool: str = "gate") -> SimResult:
    """Run ``network`` on ``images`` for max(ticks) ticks; results at every requested count.

    images: raw uint8 pixels [B, ...] (divided by 255) or float intensities in [0, 1].
    encoding: "current" | "rate" | "poisson" (default: ``network.meta["encoding"]`` or
        "current"). seed: for poisson. batch_size: frames per chunk (lowered to keep the
        per-chunk arrays under ``memory_mb``). record_layers: keep per-tick outputs of every
        layer (memory: T x B x layer size). backend: "auto" (torch convolutions when torch is
        installed), "numpy". first_frame: index of images[0] in the whole data set (poisson
        streams are seeded per frame). maxpool: "gate" (rate-gated max pool, above) or
        "tree" (each max pool replaced by the IF-neuron tree of pairwise maxima that the
        core compiler maps, ``snn.maxpool``; extra layers ``{pool}.r{j}`` appear in the
        per-layer results).
    """
    from snn.maxpool import check_mode, expand_maxpool

    if check_mode(maxpool) == "tree":
        network = expand_maxpool(network)
    ts = _parse_ticks(ticks)
    encoding = encoding or network.meta.get("encoding", "current")
    r = _images_to_unit(network, images)
    per_frame = max(int(np.prod(s)) for s in network.shapes().values()) * ts[-1] * 4 * 3
    chunk = int(max(1, min(batch_size, memory_mb * 2**20 // per_frame)))
    t0 = time.perf_counter()
    parts = []
    starts = range(0, len(r), chunk)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc="simulate", unit="chunk", leave=False)
    for s in starts:
        parts.append(_run_chunk(network, r[s:s + chunk], ts, encoding, seed, first_frame + s,
                                record_layers,
                                np.dtype(dtype), backend))
    if not parts:
        raise ConfigError("no images to simulate")
    res = _concat(parts, ts, time.perf_counter() - t0, encoding)
    res.meta = dict(network.meta)
    return res
