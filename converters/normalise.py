"""Data-based weight/threshold normalisation: AnnGraph + calibration -> SpikingNetwork.

Every tensor of the graph gets a scale s (scalar or one per channel): a spike (or value 1)
in the SNN stands for the activation s in the ANN. The input's scale is
``255 * pixel_scale`` (encoders emit r = pixel / 255). A layer followed by ReLU becomes IF
neurons with threshold 1 and s_out = lambda, the ``percentile`` of its positive calibration
activations (per channel with ``channel_wise``; "max" = 100th percentile), or, when the
activation is a trained clip ``clamp(x, 0, lambda)`` (a QCFS layer saved by ``snn finetune``,
graph op ``relu`` with ``clip``), that lambda: the SNN then counts in steps of lambda / T, which
is the QCFS ANN's own quantisation at T = L (with ``v_init`` 0.5, its shift). Its weights and
bias become ``W' = W * s_in / s_out`` and ``b' = b / s_out`` (Rueckauer et al. 2017).
The last layer (the logits) is a spiking readout normalised the same way; decoding is by
spike count. Linear layers without ReLU that feed an addition are pass-through (their
values are summed by the addition's IF neurons, so they take the addition's scale).
Average pooling of spikes is an IF layer (threshold 1, same scale as its input); max
pooling is the rate-gated spiking max pool of ``snn.simulate`` (pass-through).
"""

from __future__ import annotations

import numpy as np

from snn.converters.graph import AnnGraph, Node, forward
from snn.errors import ConversionError
from snn.network import INPUT, Add, Conv2d, Dense, Flatten, Layer, Pool2d, SpikingNetwork


def activation_scale(acts: np.ndarray, percentile: float, channel_wise: bool) -> np.ndarray:
    """lambda: the percentile of the positive activations [N, C, ...] (per channel or one)."""
    def pct(a: np.ndarray) -> float:
        pos = a[a > 0]
        return float(np.percentile(pos, percentile)) if pos.size else 0.0

    if channel_wise and acts.ndim >= 2:
        lam = np.array([pct(acts[:, c]) for c in range(acts.shape[1])])
        fallback = pct(acts) or 1.0
        return np.where(lam > 0, lam, fallback).astype(np.float64)
    return np.array([pct(acts) or 1.0])


def _expand(s: np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(s, (n,)).astype(np.float64) if s.size == 1 else s


def identity_shortcuts(graph: AnnGraph) -> AnnGraph:
    """Give every addition input that is not a linear layer (conv/dense without ReLU) read
    only by that addition - an identity shortcut: a ReLU, pooling or the input - an identity
    node before it (a 1x1 depthwise convolution of ones, or an identity dense), so that
    normalisation can scale it into the addition's units like a projection shortcut."""
    from snn.converters.graph import shapes as graph_shapes

    cons = graph.consumers()
    by_name = {n.name: n for n in graph.nodes}
    relu_in = {n.inputs[0] for n in graph.nodes if n.op == "relu"}
    nodes: list[Node] = []
    sh = None
    for n in graph.nodes:
        if n.op == "add":
            ins = []
            for i, s in enumerate(n.inputs):
                src = by_name.get(s)
                linear = (src is not None and src.op in ("dense", "conv") and s not in relu_in
                          and len(cons[s]) == 1)
                if not linear:
                    sh = sh or graph_shapes(graph)
                    shape = sh[s]
                    name = f"{n.name}.id{i}"
                    if len(shape) == 3:
                        c = shape[0]
                        ident = Node("conv", name, [s], {
                            "weight": np.ones((c, 1, 1, 1), np.float32),
                            "bias": np.zeros(c, np.float32), "stride": (1, 1),
                            "padding": (0, 0, 0, 0), "groups": c})
                    else:
                        f = int(np.prod(shape))
                        ident = Node("dense", name, [s], {
                            "weight": np.eye(f, dtype=np.float32),
                            "bias": np.zeros(f, np.float32)})
                    nodes.append(ident)
                    s = name
                ins.append(s)
            n = Node(n.op, n.name, ins, dict(n.params))
        nodes.append(n)
    return AnnGraph(graph.input_shape, nodes, graph.source)


CHANNEL_WISE = ("dense", "all", "none")


def channel_wise_mode(channel_wise: bool | str) -> str:
    """"dense", "all" or "none" from the option (True = "all", False = "none")."""
    if channel_wise is True or channel_wise is False:
        return "all" if channel_wise else "none"
    if channel_wise not in CHANNEL_WISE:
        raise ConversionError(f"channel_wise must be one of {CHANNEL_WISE} (or a bool), got "
                              f"{channel_wise!r}")
    return str(channel_wise)


def build_network(graph: AnnGraph, calib: np.ndarray, *, pixel_scale: float,
                  percentile: float = 99.99, channel_wise: bool | str = False,
                  maxpool: str = "gate", avgpool: str = "spiking", v_init: float = 0.0,
                  decode: str = "potential", readout_percentile: float | None = None,
                  meta: dict | None = None) -> SpikingNetwork:
    """Normalise ``graph`` (BatchNorm folded, simplified) on ``calib`` (model units).

    readout_percentile: if given, the readout's scale is this percentile of the per-frame
    largest logit (e.g. 50: the winning class of a typical frame fires about every tick),
    which sharpens spike-count decoding; default: like the hidden layers.
    channel_wise: "dense" (a scale per neuron of dense layers, one per conv layer), "all" or
    True (a scale per channel everywhere), "none" or False; the readout keeps one scale.
    """
    mode = channel_wise_mode(channel_wise)
    if maxpool not in ("gate", "avg"):
        raise ConversionError(f"maxpool must be 'gate' or 'avg', got {maxpool!r}")
    if avgpool not in ("spiking", "linear"):
        raise ConversionError(f"avgpool must be 'spiking' or 'linear', got {avgpool!r}")
    graph = identity_shortcuts(graph)
    nodes = graph.nodes
    cons = graph.consumers()
    by_name = {n.name: n for n in nodes}
    out_name = nodes[-1].name
    # which node's output each ReLU belongs to
    relu_of: dict[str, Node] = {}
    for n in nodes:
        if n.op == "relu":
            src = by_name.get(n.inputs[0])
            if src is None or src.op not in ("dense", "conv", "add", "pool"):
                raise ConversionError(f"{graph.source}: ReLU {n.name!r} follows "
                                      f"{n.inputs[0]!r}, which is not a linear layer")
            if len(cons[src.name]) != 1:
                raise ConversionError(f"{graph.source}: the pre-activation of {src.name!r} "
                                      "is used by more than its ReLU; not convertible")
            relu_of[src.name] = n
    acts = forward(graph, calib, keep={n.name for n in nodes if n.op != "relu"}
                   | {n.name for n in relu_of.values()})

    scale: dict[str, np.ndarray] = {INPUT: np.array([255.0 * pixel_scale])}
    alias: dict[str, str] = {INPUT: INPUT}  # ann node name -> snn layer name
    layers: list[Layer] = []
    lambdas: dict[str, list[float]] = {}

    def per_channel(name: str) -> bool:
        return mode == "all" or (mode == "dense" and by_name[name].op == "dense")

    def lam_of(name: str) -> np.ndarray:
        clip = relu_of[name].params.get("clip") if name in relu_of else None
        if clip is not None:  # a trained clip (QCFS): its level is the threshold
            return np.array([float(clip)])
        a = acts[relu_of[name].name] if name in relu_of else acts[name]
        return activation_scale(a, percentile, per_channel(name))

    # pass-through producers of an Add take the Add's scale
    forced: dict[str, np.ndarray] = {}
    for n in nodes:
        if n.op == "add":
            lam = lam_of(n.name)
            for s in n.inputs:
                src = by_name.get(s)
                if src is None or src.op not in ("dense", "conv") or s in relu_of:
                    raise ConversionError(
                        f"{graph.source}: addition {n.name!r} reads {s!r}; only residual "
                        "additions of linear (conv/dense without ReLU) paths are supported")
                forced[s] = lam

    for n in nodes:
        if n.op == "relu":
            alias[n.name] = alias[n.inputs[0]]
            scale[n.name] = scale[n.inputs[0]]
            continue
        ins = [alias[s] for s in n.inputs]
        s_in = scale[n.inputs[0]]
        if n.op in ("dense", "conv"):
            spiking = n.name in relu_of or n.name == out_name
            if n.name in forced:
                s_out, spiking = forced[n.name], False
            elif spiking and n.name == out_name and readout_percentile is not None:
                top = acts[n.name].reshape(len(acts[n.name]), -1).max(axis=1)
                top = top[top > 0]
                s_out = np.array([float(np.percentile(top, readout_percentile))
                                  if top.size else 1.0])
            elif spiking and n.name == out_name:
                a = acts[relu_of[n.name].name] if n.name in relu_of else acts[n.name]
                s_out = lam_of(n.name) if n.name in relu_of and relu_of[n.name].params.get(
                    "clip") is not None else activation_scale(a, percentile, False)
            elif spiking:
                s_out = lam_of(n.name)
            else:
                s_out = activation_scale(np.abs(acts[n.name]), percentile, per_channel(n.name))
            w = n.params["weight"].astype(np.float64)
            o = w.shape[0]
            so = _expand(s_out, o)
            if n.op == "dense":
                si = _expand(s_in, w.shape[1]) if s_in.size in (1, w.shape[1]) else None
                if si is None:
                    raise ConversionError(f"dense {n.name!r}: input scale has {s_in.size} "
                                          f"entries for {w.shape[1]} inputs")
                w2 = w * si[None, :] / so[:, None]
                layer: Layer = Dense(n.name, tuple(ins), spiking, np.ones(1, np.float32),
                                     weight=w2.astype(np.float32),
                                     bias=(n.params["bias"] / so).astype(np.float32))
            else:
                g = int(n.params["groups"])
                cg = w.shape[1]
                og = o // g
                si_c = _expand(s_in, cg * g)
                si = np.stack([si_c[(oo // og) * cg:(oo // og + 1) * cg] for oo in range(o)])
                w2 = w * si[:, :, None, None] / so[:, None, None, None]
                layer = Conv2d(n.name, tuple(ins), spiking, np.ones(1, np.float32),
                               weight=w2.astype(np.float32),
                               bias=(n.params["bias"] / so).astype(np.float32),
                               stride=tuple(n.params["stride"]),
                               padding=tuple(n.params["padding"]), groups=g)
            scale[n.name] = s_out
            lambdas[n.name] = np.atleast_1d(s_out).tolist()
        elif n.op == "add":
            s_out = lam_of(n.name)
            spiking = n.name in relu_of or n.name == out_name
            if not spiking:
                raise ConversionError(f"{graph.source}: addition {n.name!r} has no ReLU "
                                      "after it; add a ReLU or end the network there")
            layer = Add(n.name, tuple(ins), True, np.ones(1, np.float32))
            scale[n.name] = s_out
            lambdas[n.name] = np.atleast_1d(s_out).tolist()
        elif n.op == "pool":
            mode = n.params["mode"]
            if mode == "max" and maxpool == "avg":
                mode = "avg"
            kw = dict(kernel=tuple(n.params["kernel"]), stride=tuple(n.params["stride"]),
                      padding=tuple(n.params["padding"]))
            if mode == "max":
                layer = Pool2d(n.name, tuple(ins), False, np.ones(1, np.float32), mode="max",
                               **kw)
                scale[n.name] = s_in
            elif _is_spiking_src(layers, ins[0]):
                # mean of spike trains: IF neurons at threshold 1 keep the input's scale
                layer = Pool2d(n.name, tuple(ins), avgpool == "spiking",
                               np.ones(1, np.float32), mode="avg", **kw)
                scale[n.name] = s_in
            elif n.name in relu_of:
                # mean of analog values, then ReLU: IF neurons with threshold s_out / s_in
                s_out = lam_of(n.name)
                c = acts[n.name].shape[1]
                thr = _expand(s_out, c) / _expand(s_in, c)
                layer = Pool2d(n.name, tuple(ins), True, thr.astype(np.float32), mode="avg",
                               **kw)
                scale[n.name] = s_out
            else:
                layer = Pool2d(n.name, tuple(ins), False, np.ones(1, np.float32), mode="avg",
                               **kw)
                scale[n.name] = s_in
        elif n.op == "flatten":
            layer = Flatten(n.name, tuple(ins))
            c = acts[n.inputs[0]].shape[1] if n.inputs[0] != INPUT else graph.input_shape[0]
            per = int(np.prod(acts[n.name].shape[1:])) // max(c, 1)
            scale[n.name] = s_in if s_in.size == 1 else np.repeat(_expand(s_in, c), per)
        else:
            raise ConversionError(f"{graph.source}: node {n.name!r}: op {n.op!r} must be "
                                  "folded before normalisation")
        layers.append(layer)
        alias[n.name] = n.name
    if not layers[-1].spiking and not isinstance(layers[-1], (Dense, Conv2d)):
        raise ConversionError(f"{graph.source}: the network must end with a linear layer "
                              "(the logits); it ends with " + layers[-1].kind)
    m = dict(meta or {})
    m.update({"pixel_scale": float(pixel_scale), "normalisation": {
        "method": "max" if percentile >= 100 else "percentile", "percentile": percentile,
        "channel_wise": mode, "lambda": lambdas},
        "maxpool": maxpool, "avgpool": avgpool, "v_init": float(v_init), "decode": decode,
        "readout_percentile": readout_percentile,
        "reset": "subtract"})
    m.setdefault("encoding", "current")
    return SpikingNetwork(tuple(graph.input_shape), layers, m)


def _is_spiking_src(layers: list[Layer], name: str) -> bool:
    """True when the SNN tensor ``name`` carries spikes (or the encoded input)."""
    for layer in layers:
        if layer.name == name:
            if layer.spiking:
                return True
            if isinstance(layer, (Flatten, Pool2d)) and not (
                    isinstance(layer, Pool2d) and layer.mode == "avg"):
                return _is_spiking_src(layers, layer.inputs[0])
            return False
    return True  # the network input
