"""Fold pass-through layers into their consumers, exactly, before mapping onto cores.

Cores only hold integrate-and-fire neurons, so every pass-through (non-spiking) layer except
``Flatten`` and the final readout is folded into the layer that reads it:

- average pooling followed by ``Dense`` (directly or through ``Flatten``): the dense weight
  becomes ``W @ P`` over the un-pooled input (always exact);
- average pooling (kernel = stride, no padding, input divisible by the kernel) followed by
  ``Conv2d``: an equivalent convolution with kernel ``kc * kp``, stride ``sc * kp`` and
  padding ``pc * kp`` whose weights are the pooled weights spread over each window (exact);
- a pass-through ``Dense`` followed by a ``Dense``: the product of the two (exact);
- a *spiking* average pool becomes the equal depthwise convolution (weights 1/(kh*kw)).

Max pooling is first replaced by its tree of IF neurons (``snn.maxpool.expand_maxpool``).
A spiking ``Add`` keeps its pass-through ``Dense``/``Conv2d`` inputs as *terms* (their
synapses end on the Add's neurons; a spiking input gets an identity term). Anything else that
is not spiking (pass-through convolutions read by other layers, ``Add`` of pass-through
values that are not terms) raises :class:`snn.errors.CompileError` naming the layer and the
fix. The result is a new SpikingNetwork of spiking ``Dense``/``Conv2d``/``Add`` layers, Add
terms, ``Flatten`` and the readout; the simulator gives it the same outputs as the
original (max pools as ``simulate(..., maxpool="tree")``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from snn.errors import CompileError
from snn.maxpool import expand_maxpool
from snn.network import INPUT, Add, Conv2d, Dense, Flatten, Layer, Pool2d, SpikingNetwork


def _pool_matrix_fold(weight: np.ndarray, pool: Pool2d, in_shape: tuple[int, int, int]
                      ) -> np.ndarray:
    """Dense weight [O, C*Hp*Wp] on pooled values -> [O, C*H*W] on the pool's input."""
    c, h, w = in_shape
    _, hp, wp = pool.output_shape([in_shape])
    kh, kw = pool.kernel
    sh, sw = pool.stride
    pt, pl = pool.padding[0], pool.padding[1]
    o = weight.shape[0]
    wpool = weight.reshape(o, c, hp, wp).astype(np.float64) / (kh * kw)
    out = np.zeros((o, c, h, w), np.float64)
    for dy in range(kh):
        for dx in range(kw):
            ys = np.arange(hp) * sh - pt + dy
            xs = np.arange(wp) * sw - pl + dx
            vy, vx = (ys >= 0) & (ys < h), (xs >= 0) & (xs < w)
            sub = wpool[:, :, vy][:, :, :, vx]
            _add_block(out, sub, ys[vy], xs[vx])
    return out.reshape(o, c * h * w).astype(np.float32)


def _add_block(out: np.ndarray, sub: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> None:
    # ys, xs are strictly increasing (one tap of a pooling grid): no repeated indices
    out[:, :, ys[:, None], xs[None, :]] += sub


def _fold_pool_into_conv(conv: Conv2d, pool: Pool2d, in_shape: tuple[int, int, int]
                         ) -> Conv2d:
    c, h, w = in_shape
    kh, kw = pool.kernel
    exact = (tuple(pool.kernel) == tuple(pool.stride) and not any(pool.padding)
             and h % kh == 0 and w % kw == 0 and conv.groups == 1)
    if not exact:
        raise CompileError(
            f"layer {pool.name!r}: average pooling (kernel {pool.kernel}, stride {pool.stride}, "
            f"padding {pool.padding}) on a {h}x{w} map cannot be folded exactly into "
            f"convolution {conv.name!r}; use pooling with kernel = stride, no padding and a "
            "map size divisible by the kernel, or make the pooling spiking")
    wt = np.repeat(np.repeat(conv.weight.astype(np.float64), kh, axis=2), kw, axis=3)
    wt /= kh * kw
    pt, pl, pb, pr = conv.padding
    return replace(conv, inputs=pool.inputs, weight=wt.astype(np.float32),
                   stride=(conv.stride[0] * kh, conv.stride[1] * kw),
                   padding=(pt * kh, pl * kw, pb * kh, pr * kw))


def fold_network(net: SpikingNetwork) -> SpikingNetwork:
    """The network with every foldable pass-through layer folded into its consumer."""
    net = expand_maxpool(net)
    shapes = net.shapes()
    cons = net.consumers()
    last = net.layers[-1].name
    terms = add_terms(net)
    layers: dict[str, Layer] = {}
    order: list[str] = []
    alias: dict[str, str] = {}  # reserved: renamed inputs
    pending: dict[str, Layer] = {}  # folded pass-through layers by name (for consumers)
    for layer in net.layers:
        srcs = tuple(alias.get(s, s) for s in layer.inputs)
        if isinstance(layer, Flatten) and srcs[0] in pending:
            if len(cons[layer.name]) != 1:
                raise CompileError(f"layer {layer.name!r}: flattens a pass-through value read "
                                   "by several layers; cannot fold it")
            pending[layer.name] = pending[srcs[0]]  # Flatten is the identity on values
            continue
        if any(s in pending for s in srcs):
            (src,) = srcs if len(srcs) == 1 else (None,)
            if src is None:
                raise CompileError(f"layer {layer.name!r}: adds a pass-through value; only "
                                   "spiking inputs can be added on cores")
            prev = pending[src]
            layer = _fold_into(layer, prev, shapes)
            srcs = layer.inputs
        else:
            layer = replace(layer, inputs=srcs)
        if isinstance(layer, Pool2d) and layer.spiking:
            layer = _pool_as_conv(layer, shapes[srcs[0]][0])
        if isinstance(layer, Add):
            if layer.name == last or not layer.spiking:
                raise CompileError(f"layer {layer.name!r}: an addition must be spiking and "
                                   "not the readout on cores; end the network with a dense "
                                   "or convolution layer")
            for i, src in enumerate(srcs):
                if src not in terms:  # a spiking input: an identity term
                    feeder = None if src == INPUT else net.layer(src)
                    if feeder is not None and not feeder.spiking and \
                            not isinstance(feeder, Flatten):
                        raise CompileError(
                            f"layer {layer.name!r}: adds pass-through {feeder.kind} "
                            f"{src!r}, which other layers also read; on cores an addition "
                            "reads spiking layers or dense/conv paths that only it reads")
                    ident = _identity_term(f"{layer.name}.id{i}", src, shapes[src])
                    layers[ident.name] = ident
                    order.append(ident.name)
                    srcs = srcs[:i] + (ident.name,) + srcs[i + 1:]
            layer = replace(layer, inputs=srcs)
        if layer.spiking or layer.name == last or layer.name in terms:
            layers[layer.name] = layer
            order.append(layer.name)
            continue
        if isinstance(layer, Flatten):
            layers[layer.name] = layer
            order.append(layer.name)
            continue
        if isinstance(layer, (Pool2d, Dense)) and len(cons[layer.name]) == 1:
            pending[layer.name] = layer
            continue
        raise CompileError(
            f"layer {layer.name!r}: a pass-through {layer.kind} layer can only be mapped onto "
            "cores when folded into a single consumer (average pooling or dense before a dense "
            "or convolution layer) or read only by one spiking addition (a residual branch); "
            "make it spiking or remove it")
    out = [layers[n] for n in order]
    folded = SpikingNetwork(net.input_shape, out, dict(net.meta))
    return folded


def add_terms(net: SpikingNetwork) -> set[str]:
    """Pass-through Dense/Conv2d layers read only by one spiking ``Add``: the Add's neurons
    sum them (their synapses share the Add's neurons, see ``snn.cores.compiler.quantise``)."""
    cons = net.consumers()
    return {layer.name for layer in net.layers
            if isinstance(layer, (Dense, Conv2d)) and not layer.spiking
            and len(cons[layer.name]) == 1 and isinstance(cons[layer.name][0], Add)
            and cons[layer.name][0].spiking}


def _identity_term(name: str, src: str, shape: tuple[int, ...]) -> Layer:
    """A pass-through identity (1x1 depthwise convolution or identity dense) of ``src``."""
    one = np.ones(1, np.float32)
    if len(shape) == 3:
        c = shape[0]
        return Conv2d(name, (src,), False, one, weight=np.ones((c, 1, 1, 1), np.float32),
                      bias=np.zeros(c, np.float32), groups=c)
    n = int(np.prod(shape))
    return Dense(name, (src,), False, one, weight=np.eye(n, dtype=np.float32),
                 bias=np.zeros(n, np.float32))


def _pool_as_conv(pool: Pool2d, channels: int) -> Conv2d:
    """A spiking average pool as the equal depthwise convolution (weights 1/(kh*kw),
    zero padding counted, as the simulator's count_include_pad)."""
    kh, kw = pool.kernel
    w = np.full((channels, 1, kh, kw), 1.0 / (kh * kw), np.float32)
    return Conv2d(pool.name, pool.inputs, True, pool.threshold, weight=w,
                  bias=np.zeros(0, np.float32), stride=tuple(pool.stride),
                  padding=tuple(pool.padding), groups=channels)


def _fold_into(layer: Layer, prev: Layer, shapes: dict[str, tuple[int, ...]]) -> Layer:
    """``layer`` reading pass-through ``prev`` -> one layer reading prev's input."""
    in_shape = shapes[prev.inputs[0]]
    if isinstance(layer, Flatten):
        raise CompileError(f"layer {prev.name!r}: pass-through {prev.kind} before Flatten "
                           f"{layer.name!r}; flatten first, then pool is not supported")
    if isinstance(prev, Pool2d):
        if isinstance(layer, Dense):
            w = _pool_matrix_fold(layer.weight, prev, in_shape)
            return replace(layer, inputs=prev.inputs, weight=w)
        if isinstance(layer, Conv2d):
            return _fold_pool_into_conv(layer, prev, in_shape)
    if isinstance(prev, Dense) and isinstance(layer, Dense):
        w = layer.weight.astype(np.float64) @ prev.weight.astype(np.float64)
        b = layer.bias.astype(np.float64) if layer.bias.size else np.zeros(len(w))
        if prev.bias.size:
            b = b + layer.weight.astype(np.float64) @ prev.bias.astype(np.float64)
        return replace(layer, inputs=prev.inputs, weight=w.astype(np.float32),
                       bias=b.astype(np.float32))
    if isinstance(layer, Add):
        raise CompileError(f"layer {layer.name!r}: adds a pass-through value of {prev.name!r}; "
                           "only spiking inputs can be added on cores")
    raise CompileError(f"layer {prev.name!r}: a pass-through {prev.kind} cannot be folded into "
                       f"{layer.kind} layer {layer.name!r}; make it spiking or remove it")
