"""Quantise a (folded) SpikingNetwork to the integers a core holds (docs/design.md §6).

Weight code. A core neuron has one signed weight per axon type (4 types, 9 bits on
TrueNorth), so per-synapse weights come from giving each input ``k`` axons, of types
0..k-1, and per neuron the type weights ``sigma * s * pattern`` with the two's complement
pattern ``(1, 2, ..., 2^(k-2), -2^(k-1))`` (k = 1: ``(-1,)``). The crossbar connects input
i to neuron n on the axons of the bits of ``c = sigma * q[n, i]`` (k-bit two's complement),
so the synapse adds ``s * q``. ``sigma = +-1`` (per neuron) picks which side gets the extra
level: q in [-2^(k-1), 2^(k-1) - 1] or [-(2^(k-1) - 1), 2^(k-1)]. ``s >= 1`` (per neuron)
gives the threshold and leak their resolution. k is limited by the axon types (4).

Scale. Per output channel (per neuron of a dense layer), the weight step ``delta`` and
sigma minimise the squared error over a grid of clipping ratios.

Readout. Its levels have 2k bits, ``q = 2^k * hi + lo`` with hi and lo k-bit two's
complement: two neurons per class on the same k axons per input, combined when decoding
(value = delta / s * (2^k * potential_hi + potential_lo), the integrated input in the
model's units), so the most sensitive layer gets twice the precision at no axon cost.

Units: one unit = ``delta / s``; ``threshold_u = round(theta * s / delta)``,
``bias_u = round(bias * s / delta)`` (leak per tick). A layer whose weights, bias and
threshold are already integers that the code can hold is mapped with delta = s = 1 and no
approximation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from snn.cores.hardware.spec import CoreSpec
from snn.errors import CompileError
from snn.network import Add, Conv2d, Dense, Layer, SpikingNetwork

THRESHOLD_TARGET = 4096  # preferred threshold in units (resolution of thresholds and leaks)
RATIOS = np.linspace(0.3, 1.0, 15)  # clipping ratios tried per neuron


@dataclass
class LayerQuant:
    """Integer form of one Dense/Conv2d layer; O = output channels."""

    name: str
    bits: int  # k: axons (and axon types) per input
    q: np.ndarray  # int32, the weight's shape: levels, weight ~= q * delta
    sigma: np.ndarray  # int8 [O]: +1 or -1, polarity of the type-weight pattern
    s: np.ndarray  # int32 [O]: multiplier of the pattern; a synapse adds s * q units
    delta: np.ndarray  # float64 [O]: float weight of one level
    threshold: np.ndarray  # int64 [O]: threshold in units
    bias: np.ndarray  # int64 [O]: leak per tick in units
    exact: bool  # True: weights mapped without approximation
    terms: int = 1  # 2: readout levels of 2k bits, split as 2^k * hi + lo over two neurons
    # codebook (refined type weights): per-channel type weights [O, k] in units, the synapse
    # type masks (weight shape) and the synapse weights in units (weight shape)
    tw: np.ndarray | None = None
    mask: np.ndarray | None = None
    wu: np.ndarray | None = None
    # codebook layers: the float weights in units (weight shape), which per-block codebooks
    # of split layers refine against (snn.cores.compiler.unit_codebooks)
    target: np.ndarray | None = None

    def type_weights(self, o: np.ndarray | int) -> np.ndarray:
        """Type weights [.., k] of output channel(s) o."""
        if self.tw is not None:
            return np.asarray(self.tw[o], np.int64)
        pat = pattern(self.bits)
        return (np.asarray(self.sigma[o])[..., None] * np.asarray(self.s[o])[..., None]
                * pat).astype(np.int64)

    def weight_units(self) -> np.ndarray:
        """Integer synapse weights in units (the weight's shape)."""
        if self.wu is not None:
            return self.wu
        shape = (-1,) + (1,) * (self.q.ndim - 1)
        return self.q.astype(np.int64) * self.s.astype(np.int64).reshape(shape)


def pattern(k: int) -> np.ndarray:
    """Two's complement weights of the k bit positions: (1, 2, ..., -2^(k-1))."""
    if k == 1:
        return np.array([-1], np.int64)
    return np.array([2 ** t for t in range(k - 1)] + [-(2 ** (k - 1))], np.int64)


def level_range(k: int, sigma: int) -> tuple[int, int]:
    """Inclusive range of q for k bits and polarity sigma."""
    lo, hi = -(2 ** (k - 1)), 2 ** (k - 1) - 1
    return (lo, hi) if sigma > 0 else (-hi, -lo)


def codes(q: np.ndarray, sigma: np.ndarray, k: int) -> np.ndarray:
    """k-bit two's complement code (as unsigned bit mask) of sigma * q."""
    c = np.asarray(q, np.int64) * np.asarray(sigma, np.int64)
    return np.mod(c, 2 ** k).astype(np.int64)


def mask_bits(masks: np.ndarray, k: int) -> np.ndarray:
    """int64 [..., k]: bit t of each type mask (1 where the synapse uses axon type t)."""
    return (np.asarray(masks, np.int64)[..., None] >> np.arange(k)) & 1


def synapse_weights(masks: np.ndarray, type_weights: np.ndarray) -> np.ndarray:
    """Each synapse's weight in units: the sum of its row's type weights [S, k] over the
    types its mask [S] uses."""
    return (mask_bits(masks, type_weights.shape[1]) * type_weights).sum(axis=1)


def s_max(spec: CoreSpec, k: int) -> int:
    """Largest pattern multiplier whose type weights (either polarity) fit the spec."""
    return max(1, min(spec.weight_max, -spec.weight_min) // 2 ** (k - 1))


def _is_int(x: np.ndarray) -> bool:
    x = np.asarray(x, np.float64)
    return bool(np.all(np.isfinite(x)) and np.all(x == np.round(x)))


def _fit_sigma(w: np.ndarray, k: int) -> np.ndarray | None:
    """Per row: a polarity under which integer rows w fit k bits, or None if one does not."""
    lo_p, hi_p = level_range(k, 1)
    lo_m, hi_m = level_range(k, -1)
    mn, mx = w.min(axis=1), w.max(axis=1)
    ok_p = (mn >= lo_p) & (mx <= hi_p)
    ok_m = (mn >= lo_m) & (mx <= hi_m)
    if not np.all(ok_p | ok_m):
        return None
    return np.where(ok_p, 1, -1).astype(np.int8)


def _search(w: np.ndarray, k: int, common: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MSE-best (delta [O], sigma [O], q [O, F]) for float rows w [O, F]."""
    o = w.shape[0]
    pos = np.maximum(w, 0).max(axis=1) if w.size else np.zeros(o)
    neg = np.maximum(-w, 0).max(axis=1) if w.size else np.zeros(o)
    if common:
        pos = np.full(o, pos.max() if o else 0.0)
        neg = np.full(o, neg.max() if o else 0.0)
    best_err = np.full(o, np.inf)
    best_d = np.ones(o)
    best_sig = np.ones(o, np.int8)
    cands = []
    for sig in (1, -1):
        lo, hi = level_range(k, sig)
        base = np.zeros(o)
        if hi > 0:
            base = np.maximum(base, pos / hi)
        if lo < 0:
            base = np.maximum(base, neg / -lo)
        cands.append((sig, lo, hi, base))
    if common:  # one delta for the layer: candidate deltas from the stronger polarity
        base = min(c[3][0] for c in cands) if o else 1.0
        deltas = [base * r for r in RATIOS]
        tot_best, choice = np.inf, None
        for d in deltas:
            if d <= 0:
                continue
            errs = []
            for _sig, lo, hi, _ in cands:
                q = np.clip(np.rint(w / d), lo, hi)
                errs.append(((w - q * d) ** 2).sum(axis=1))
            errs = np.stack(errs)
            tot = errs.min(axis=0).sum()
            if tot < tot_best:
                tot_best, choice = tot, (d, np.where(errs[0] <= errs[1], 1, -1))
        if choice is None:
            return np.ones(o), np.ones(o, np.int8), np.zeros_like(w, np.int32)
        d, sig = choice
        best_d[:] = d
        best_sig = sig.astype(np.int8)
    else:
        for sig, lo, hi, base in cands:
            for r in RATIOS:
                d = base * r
                safe = np.where(d > 0, d, 1.0)
                q = np.clip(np.rint(w / safe[:, None]), lo, hi)
                err = ((w - q * safe[:, None]) ** 2).sum(axis=1)
                better = (err < best_err - 1e-18) & (d > 0)
                best_err = np.where(better, err, best_err)
                best_d = np.where(better, d, best_d)
                best_sig = np.where(better, sig, best_sig).astype(np.int8)
    q = np.empty(w.shape, np.int32)
    for sig in (1, -1):
        lo, hi = level_range(k, sig)
        rows = best_sig == sig
        q[rows] = np.clip(np.rint(w[rows] / best_d[rows, None]), lo, hi)
    return best_d, best_sig, q


def quantise_layer(layer: Dense | Conv2d, k: int, spec: CoreSpec, *, common: bool = False,
                   terms: int = 1, codebook: bool = True) -> LayerQuant:
    """Integer form of a Dense or Conv2d layer with k axons per input (see module doc)."""
    if not 1 <= k <= spec.axon_types:
        raise CompileError(f"layer {layer.name!r}: {k}-bit weights need {k} axon types, spec "
                           f"{spec.name!r} has {spec.axon_types}; choose --weight-bits "
                           f"1..{spec.axon_types}")
    o = layer.weight.shape[0]
    w = layer.weight.reshape(o, -1).astype(np.float64)
    theta = np.broadcast_to(np.asarray(layer.threshold, np.float64).reshape(-1), (o,)).copy()
    bias = (layer.bias.astype(np.float64).reshape(-1) if layer.bias.size
            else np.zeros(o))
    if np.any(theta <= 0) or not np.all(np.isfinite(theta)):
        raise CompileError(f"layer {layer.name!r}: thresholds must be positive and finite")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(bias))):
        raise CompileError(f"layer {layer.name!r}: weights or biases hold NaN or inf")
    smax = s_max(spec, k)
    nzw = np.abs(w[w != 0])
    step = 1.0 if _is_int(w) else (float(nzw[0]) if nzw.size and np.all(nzw == nzw[0])
                                   else None)
    if step is not None:  # integer weights (or one magnitude): exact levels
        wi = np.rint(w / step)
        kmin = next((kk for kk in range(1, spec.axon_types + 1)
                     if _fit_sigma(wi, kk) is not None), None)
        if kmin is not None:
            sig = _fit_sigma(wi, kmin)
            s = np.ones(o, np.int64)
            exact = step == 1.0 and _is_int(theta) and _is_int(bias)
            if not exact:  # fractional threshold/bias in levels: refine the units
                s[:] = np.clip(np.floor(THRESHOLD_TARGET * step / theta), 1, s_max(spec, kmin))
            th = np.rint(theta * s / step).astype(np.int64)
            if np.any(th > spec.threshold_max):
                raise CompileError(f"layer {layer.name!r}: integer threshold {int(th.max())} "
                                   f"exceeds the spec's {spec.threshold_max}")
            lq = LayerQuant(layer.name, kmin, wi.reshape(layer.weight.shape).astype(np.int32),
                            sig, s.astype(np.int32), np.full(o, step), np.maximum(th, 1),
                            np.rint(bias * s / step).astype(np.int64), True)
            if kmin == 2 and np.abs(wi).max(initial=0) == 1:
                # levels -1, 0, +1: type 0 = +s, type 1 = -s, so every synapse uses one
                # axon (two's complement would give -1 two: 1 - 2)
                lq.tw = np.stack([s, -s], axis=1).astype(np.int64)
                lq.mask = np.where(wi > 0, 1, np.where(wi < 0, 2, 0)).reshape(
                    layer.weight.shape).astype(np.int64)
                lq.wu = (wi * s[:, None]).reshape(layer.weight.shape).astype(np.int64)
            return lq
    delta, sig, q = _search(w, k * terms, common)
    if terms == 2:
        sig[:] = 1  # the hi/lo split below needs the two's complement range
    s = np.clip(np.floor(THRESHOLD_TARGET * delta / theta), 1, smax).astype(np.int64)
    if common:
        s[:] = s.min() if o else 1
    th = np.rint(theta * s / delta).astype(np.int64)
    if np.any(th > spec.threshold_max):
        i = int(np.argmax(th))
        raise CompileError(
            f"layer {layer.name!r}: neuron {i} needs threshold {int(th[i])} units (threshold "
            f"{theta[i]:.4g} / weight step {delta[i]:.4g}) but the spec allows "
            f"{spec.threshold_max}; its weights are tiny next to its threshold - renormalise "
            "the network or use more weight bits")
    if terms == 1 and codebook:
        lq = _refine(layer.name, k, w, q, sig, s, delta, th, bias, spec)
        lq.q = lq.q.reshape(layer.weight.shape)
        lq.mask = lq.mask.reshape(layer.weight.shape)
        lq.wu = lq.wu.reshape(layer.weight.shape)
        lq.target = lq.target.reshape(layer.weight.shape)
        return lq
    if terms == 2:
        lo1, hi1 = level_range(k, 1)  # q = 2^k * hi + lo, hi and lo both in lo1..hi1
        lo_r, hi_r = lo1 * (2 ** k + 1), hi1 * (2 ** k + 1)
        q = np.clip(np.rint(w / delta[:, None]), lo_r, hi_r).astype(np.int32)
    return LayerQuant(layer.name, k, q.reshape(layer.weight.shape), sig, s.astype(np.int32),
                      delta, np.maximum(th, 1), np.rint(bias * s / delta).astype(np.int64),
                      False, terms)


def _refine(name: str, k: int, w: np.ndarray, q: np.ndarray, sig: np.ndarray, s: np.ndarray,
            delta: np.ndarray, th: np.ndarray, bias: np.ndarray, spec: CoreSpec) -> LayerQuant:
    """Refine each neuron's k type weights (free integers, not a power-of-two pattern) and
    its synapses' type subsets by coordinate descent on the squared error in units; start
    from the uniform code, so the error never grows."""
    o = w.shape[0]
    target = w * (s / delta)[:, None]  # float weights in units
    bits = mask_bits(np.arange(2 ** k), k)
    lim = min(spec.weight_max, -spec.weight_min)  # relays negate type weights
    tw = (sig[:, None] * s[:, None] * pattern(k)[None, :]).astype(np.int64)

    def assign(twc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        levels = twc @ bits.T  # [O, 2^k]
        idx = np.abs(target[:, :, None] - levels[:, None, :]).argmin(axis=2)
        err = ((target - np.take_along_axis(levels, idx, axis=1)) ** 2).sum(axis=1)
        return idx, err

    idx, err = assign(tw)
    step = max(1, int(np.abs(tw).max(initial=1)) // 8)
    while step >= 1:
        improved = True
        while improved:
            improved = False
            for t in range(k):
                for d in (step, -step):
                    cand = tw.copy()
                    cand[:, t] = np.clip(cand[:, t] + d, -lim, lim)
                    i2, e2 = assign(cand)
                    better = e2 < err - 1e-9
                    if better.any():
                        tw[better], idx[better], err[better] = cand[better], i2[better], \
                            e2[better]
                        improved = True
        step //= 2
    wu = (tw @ bits.T)[np.arange(o)[:, None], idx]
    return LayerQuant(name, k, q, sig, s.astype(np.int32), delta, np.maximum(th, 1),
                      np.rint(bias * s / delta).astype(np.int64), False, 1, tw,
                      idx.astype(np.int64), wu.astype(np.int64), target)


def quantise_network(net: SpikingNetwork, spec: CoreSpec, weight_bits: int,
                     readout_bits: int | None = None
                     ) -> tuple[SpikingNetwork, dict[str, LayerQuant]]:
    """Quantise every Dense/Conv2d layer of a folded network (the readout with
    ``readout_bits`` axons per input when given, else ``weight_bits``).

    Returns the integer network (weights ``s * q``, thresholds and biases in units; the
    ideal simulator runs it as the "quantised SNN") and the per-layer codes.
    """
    readout = net.layers[-1]
    quants: dict[str, LayerQuant] = {}
    by_name = {layer.name: layer for layer in net.layers}
    term_of: dict[str, str] = {}  # term layer -> its Add
    for layer in net.layers:
        if isinstance(layer, Add):
            for src in layer.inputs:
                t = by_name.get(src)
                if not (isinstance(t, (Dense, Conv2d)) and not t.spiking):
                    raise CompileError(f"layer {layer.name!r}: adds {src!r}, which is not a "
                                       "pass-through dense or convolution term (fold the "
                                       "network first: snn.cores.compiler."
                                       "fold_passthrough.fold_network)")
                term_of[src] = layer.name
    done: dict[str, Layer] = {}
    for layer in net.layers:
        if isinstance(layer, Add):
            terms = [by_name[s] for s in layer.inputs]
            lq, parts = quantise_add(layer, terms, weight_bits, spec)
            quants[layer.name] = lq
            for i, (t, tq) in enumerate(zip(terms, parts, strict=True)):
                quants[t.name] = tq
                bias = lq.bias if i == 0 else np.zeros_like(lq.bias)
                done[t.name] = replace(t, weight=tq.weight_units().astype(np.float32),
                                       bias=bias.astype(np.float32))
            done[layer.name] = replace(layer, threshold=lq.threshold.astype(np.float32))
        elif isinstance(layer, (Dense, Conv2d)) and layer.name not in term_of:
            k = readout_bits if layer is readout and readout_bits else weight_bits
            lq = quantise_layer(layer, k, spec, terms=2 if layer is readout else 1)
            quants[layer.name] = lq
            w_int = lq.weight_units().reshape(layer.weight.shape).astype(np.float32)
            done[layer.name] = replace(layer, weight=w_int, bias=lq.bias.astype(np.float32),
                                       threshold=lq.threshold.astype(np.float32))
        elif layer.name not in term_of:
            done[layer.name] = layer
    layers = [done[layer.name] for layer in net.layers]
    meta = dict(net.meta)
    meta["quantised"] = {"weight_bits": int(weight_bits), "spec": spec.name}
    # cores start spiking neurons at v_initial = round(v_init * threshold in units)
    meta["v_init"] = float(net.meta.get("v_init", 0.0))
    meta["integer_v_init"] = True
    return SpikingNetwork(net.input_shape, layers, meta), quants


def quantise_add(add: Add, terms: list[Dense | Conv2d], k: int, spec: CoreSpec
                 ) -> tuple[LayerQuant, list[LayerQuant]]:
    """Integer form of a spiking Add and its pass-through terms: one neuron per output
    reads the synapses of every term, so the terms share its threshold, type weights and
    units. Quantised as one dense layer whose row o concatenates the terms' rows of output
    channel o (bias: the sum of the terms' biases); returns that code (weights [O, F]) and
    each term's slice of it (the term's weight shape)."""
    o = terms[0].weight.shape[0]
    if any(t.weight.shape[0] != o for t in terms):
        raise CompileError(f"layer {add.name!r}: its terms have different output channels "
                           f"{[t.weight.shape[0] for t in terms]}")
    rows = [t.weight.reshape(o, -1).astype(np.float32) for t in terms]
    bias = np.zeros(o, np.float64)
    for t in terms:
        if t.bias.size:
            bias += t.bias.astype(np.float64).reshape(-1)
    virtual = Dense(add.name, add.inputs, True, add.threshold,
                    weight=np.concatenate(rows, axis=1), bias=bias.astype(np.float32))
    lq = quantise_layer(virtual, k, spec)
    parts, lo = [], 0
    for t, r in zip(terms, rows, strict=True):
        hi = lo + r.shape[1]

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[:, lo:hi].reshape(t.weight.shape)  # noqa: B023

        parts.append(replace(lq, name=t.name, q=cut(lq.q), mask=cut(lq.mask), wu=cut(lq.wu),
                             target=cut(lq.target)))
        lo = hi
    return lq, parts
