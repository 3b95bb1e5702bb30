"""NIR graphs (``nir`` 1.0.x, ``.nir`` files or ``nir.NIRGraph`` objects) -> SpikingNetwork.

NIR is continuous-time; a graph is read as the Euler step of its equations with time step
``dt`` (the graph's ``metadata["dt"]`` when present, as ``snn export`` writes it, else
1e-4 s, the step snnTorch's exporter assumes; Norse exports assume 1e-3: pass ``dt``).

Mapping (linear nodes become layers, a neuron node turns the layer feeding it into IF
neurons; several edges into one node are summed, through an ``Add`` layer):

- Affine / Linear -> Dense; Conv2d -> Conv2d (dilation 1; "same"/"valid"/int padding);
  SumPool2d -> depthwise Conv2d of ones (exact); AvgPool2d -> avg Pool2d; Flatten -> Flatten;
  Scale -> folded into the Dense/Conv2d before it, else a diagonal (1x1 depthwise) layer.
- IF (v += dt*r*I, spike at v > v_threshold, reset to v_reset = 0) -> IF layer with threshold
  v_threshold / (dt*r): exact except that our neurons fire at v >= threshold and reset by
  subtraction (reset to zero unless ``metadata["reset"] == "subtract"``, which ``snn
  export`` writes; with reset to zero the overshoot above threshold is kept: measured in
  tests/converters/test_nir.py).
- LIF (tau dv/dt = v_leak - v + r I): the decay (-v dt/tau) is dropped (integer IF cores have
  no multiplicative leak), the input gain dt*r/tau kept, v_leak becomes a constant bias
  current dt*v_leak/tau. CubaLIF: the synaptic filter is replaced by its DC gain w_in (the
  current arrives in the tick of the spike instead of spread over ~tau_syn), then as LIF.
- Integrator (I) / LI as the last neuron node: the non-spiking readout (its integrated input
  is the "potential" decoding); elsewhere refused.
- Delay: a uniform delay on a path is dropped (it shifts spike times by that many ticks, not
  counts); per-neuron different delays are refused.
- Input / Output: exactly one each. Nested graphs, Threshold, recurrent edges and anything
  else are refused naming the node and primitive.

Every approximation taken is listed in ``net.meta["nir_approximations"]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from snn.errors import ConversionError, UnsupportedOpError
from snn.network import INPUT, Add, Conv2d, Dense, Flatten, Layer, Pool2d, SpikingNetwork

DEFAULT_DT = 1e-4
LINEAR = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale", "Delay")
NEURONS = ("IF", "LIF", "CubaLIF", "I", "LI")
SUPPORTED = LINEAR + NEURONS + ("Input", "Output")
# network meta that `snn export` stores in the graph and the import restores
KEPT_META = ("v_init", "integer_v_init", "encoding", "decode", "pixel_scale")


def _arr(v: Any) -> np.ndarray:
    return np.asarray(v, np.float64)


def _pair(v: Any) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def load_nir(path_or_graph: Any):
    """A ``nir.NIRGraph`` from a path (``nir.read``) or the graph itself."""
    import nir

    if isinstance(path_or_graph, nir.NIRGraph):
        return path_or_graph, "nir graph"
    path = Path(path_or_graph)
    if not path.exists():
        raise ConversionError(f"{path}: no such NIR file")
    try:
        return nir.read(str(path)), str(path)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})"
                              ) from exc


def _node(edge_end: str, nodes: dict) -> str:
    """The node an edge end names ("node" or "node.port" of a subgraph)."""
    return edge_end if edge_end in nodes else edge_end.split(".")[0]


def _order(graph, source: str) -> list[str]:
    """Topological order of the node names; refuses cycles (recurrence)."""
    preds: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        a, b = _node(a, preds), _node(b, preds)
        if a not in preds or b not in preds:
            raise ConversionError(f"{source}: edge {a!r} -> {b!r} names an unknown node")
        preds[b].append(a)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise UnsupportedOpError(f"{source}: node {n!r} is part of a recurrent loop; "
                                     "recurrent NIR graphs are not supported")
        state[n] = 1
        for p in preds[n]:
            visit(p)
        state[n] = 2
        order.append(n)

    for n in graph.nodes:
        visit(n)
    return order


def import_nir(path_or_graph: Any, frame_shape: tuple[int, ...] | None = None, *,
               dt: float | None = None) -> SpikingNetwork:
    """Read an NIR graph into a SpikingNetwork (see the module docstring for the mapping)."""
    graph, source = load_nir(path_or_graph)
    if dt is None:
        dt = float(np.asarray((graph.metadata or {}).get("dt", DEFAULT_DT)))
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED:
            why = ("nested graphs (subgraphs) are not flattened" if kind == "NIRGraph" else
                   "no equivalent on integrate-and-fire cores")
            raise UnsupportedOpError(f"{source}: node {name!r}: NIR primitive {kind!r} is not "
                                     f"supported ({why}); supported: {', '.join(SUPPORTED)}")
    order = _order(graph, source)
    preds: dict[str, list[str]] = {k: [] for k in graph.nodes}
    succ: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        preds[_node(b, preds)].append(_node(a, preds))
        succ[_node(a, preds)].append(_node(b, preds))
    inputs = [n for n, v in graph.nodes.items() if type(v).__name__ == "Input"]
    outputs = [n for n, v in graph.nodes.items() if type(v).__name__ == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConversionError(f"{source}: the graph has {len(inputs)} Input and {len(outputs)} "
                              "Output nodes; exactly one of each is needed")
    in_shape = tuple(int(v) for v in np.asarray(
        graph.nodes[inputs[0]].input_type["input"]).reshape(-1))
    if frame_shape and int(np.prod(frame_shape)) == int(np.prod(in_shape)) and \
            len(in_shape) == 1 and len(frame_shape) == 3:
        in_shape = tuple(frame_shape)

    layers: list[Layer] = []
    shapes: dict[str, tuple[int, ...]] = {INPUT: in_shape}
    produced: dict[str, str] = {}  # NIR node -> our layer (or INPUT)
    approx: set[str] = set()
    delay_dropped = 0

    def add(layer: Layer) -> str:
        layers.append(layer)
        shapes[layer.name] = layer.output_shape([shapes[s] for s in layer.inputs])
        return layer.name

    def source_of(name: str, where: str) -> str:
        """Our layer carrying the (summed) input of NIR node ``name``."""
        ps = preds[name]
        if not ps:
            raise ConversionError(f"{where}: the node has no input edge")
        srcs = [produced[p] for p in ps]
        if len(srcs) == 1:
            return srcs[0]
        if len({shapes[s] for s in srcs}) != 1:
            raise ConversionError(f"{where}: edges of shapes {[shapes[s] for s in srcs]} "
                                  "cannot be summed")
        return add(Add(name=f"{name}__sum", inputs=tuple(srcs), spiking=False))

    def own(layer_name: str) -> Layer | None:
        """The pass-through layer ``layer_name`` if it feeds nothing else yet."""
        if layer_name == INPUT:
            return None
        lay = next(x for x in layers if x.name == layer_name)
        used = any(layer_name in x.inputs for x in layers)
        return None if used or lay.spiking else lay

    readout_kind = "spiking"
    for name in order:
        node = graph.nodes[name]
        kind = type(node).__name__
        where = f"{source}: node {name!r} ({kind})"
        if kind == "Input":
            produced[name] = INPUT
            continue
        if kind == "Output":
            produced[name] = source_of(name, where)
            continue
        src = source_of(name, where)
        shp = shapes[src]
        if kind in ("Affine", "Linear"):
            w = _arr(node.weight)
            b = _arr(node.bias) if kind == "Affine" else np.zeros(w.shape[0])
            if w.ndim != 2 or w.shape[1] != int(np.prod(shp)):
                raise ConversionError(f"{where}: weight {w.shape} does not take the input of "
                                      f"shape {shp}")
            produced[name] = add(Dense(name=name, inputs=(src,), spiking=False,
                                       weight=w.astype(np.float32),
                                       bias=np.broadcast_to(b, (w.shape[0],)).astype(np.float32)))
        elif kind == "Conv2d":
            w = _arr(node.weight)
            if w.ndim != 4 or len(shp) != 3:
                raise UnsupportedOpError(f"{where}: only 2-D convolutions on (C, H, W) inputs")
            if any(d != 1 for d in _pair(node.dilation)):
                raise UnsupportedOpError(f"{where}: dilation {node.dilation} is not supported")
            k, s = w.shape[2:], _pair(node.stride)
            pad = node.padding
            if isinstance(pad, str):
                if pad == "valid":
                    p4 = (0, 0, 0, 0)
                else:  # "same" (stride 1): torch's rule, extra row/column at the end
                    ph, pw = k[0] - 1, k[1] - 1
                    p4 = (ph // 2, pw // 2, ph - ph // 2, pw - pw // 2)
            else:
                ph, pw = _pair(pad)
                p4 = (ph, pw, ph, pw)
            b = _arr(node.bias) if node.bias is not None else np.zeros(w.shape[0])
            produced[name] = add(Conv2d(name=name, inputs=(src,), spiking=False,
                                        weight=w.astype(np.float32),
                                        bias=np.broadcast_to(b, (w.shape[0],)).astype(np.float32),
                                        stride=s, padding=p4, groups=int(node.groups)))
        elif kind in ("SumPool2d", "AvgPool2d"):
            if len(shp) != 3:
                raise UnsupportedOpError(f"{where}: pooling needs a (C, H, W) input, got {shp}")
            k, s = _pair(node.kernel_size), _pair(node.stride)
            ph, pw = _pair(node.padding)
            if kind == "SumPool2d":
                c = shp[0]
                produced[name] = add(Conv2d(
                    name=name, inputs=(src,), spiking=False,
                    weight=np.ones((c, 1, *k), np.float32), bias=np.zeros(c, np.float32),
                    stride=s, padding=(ph, pw, ph, pw), groups=c))
            else:
                produced[name] = add(Pool2d(name=name, inputs=(src,), spiking=False, mode="avg",
                                            kernel=k, stride=s, padding=(ph, pw, ph, pw)))
        elif kind == "Flatten":
            out = np.asarray(node.output_type.get("output") if node.output_type else None)
            if out.ndim and out.size > 1 and int(np.sum(out > 1)) > 1:
                raise UnsupportedOpError(f"{where}: a partial flatten to {out.tolist()}")
            produced[name] = src if len(shp) == 1 else add(Flatten(name=name, inputs=(src,)))
        elif kind == "Scale":
            sc = _arr(node.scale)
            lay = own(src)
            if np.all(sc == 1):  # identity (snn export writes an Add as Scale(1) of a sum)
                produced[name] = src
            elif isinstance(lay, (Dense, Conv2d)) and (sc.size == 1 or sc.size == len(lay.bias) or
                                                     np.ptp(sc.reshape(len(lay.bias), -1),
                                                            axis=1).max() == 0):
                per = np.broadcast_to(sc.reshape(-1)[:1] if sc.size == 1 else
                                      sc.reshape(len(lay.bias), -1)[:, 0], lay.bias.shape)
                lay.weight = (lay.weight * per.reshape(-1, *([1] * (lay.weight.ndim - 1)))
                              ).astype(np.float32)
                lay.bias = (lay.bias * per).astype(np.float32)
                produced[name] = src
            elif len(shp) == 1:
                vec = np.broadcast_to(sc.reshape(-1), shp)
                produced[name] = add(Dense(name=name, inputs=(src,), spiking=False,
                                           weight=np.diag(vec).astype(np.float32),
                                           bias=np.zeros(shp[0], np.float32)))
            else:
                per = np.broadcast_to(sc, shp) if sc.size != shp[0] else \
                    sc.reshape(-1, 1, 1) * np.ones(shp)
                if np.ptp(per.reshape(shp[0], -1), axis=1).max() != 0:
                    raise UnsupportedOpError(f"{where}: a Scale that differs within a channel "
                                             "after spikes or the input")
                c = shp[0]
                produced[name] = add(Conv2d(
                    name=name, inputs=(src,), spiking=False,
                    weight=per.reshape(c, -1)[:, 0].reshape(c, 1, 1, 1).astype(np.float32),
                    bias=np.zeros(c, np.float32), groups=c))
        elif kind == "Delay":
            d = _arr(node.delay)
            if d.size and np.ptp(d) != 0:
                raise UnsupportedOpError(f"{where}: per-neuron different delays (from "
                                         f"{d.min()} to {d.max()}) have no equivalent here")
            ticks = int(round(float(d.reshape(-1)[0]) / dt)) if d.size else 0
            if ticks:
                delay_dropped += ticks
                approx.add(f"Delay dropped: spikes arrive {ticks} tick(s) earlier (counts "
                           "over a run are unchanged up to the last ticks)")
            produced[name] = src
        else:  # neuron nodes
            lay = own(src)
            if lay is None or not isinstance(lay, (Dense, Conv2d, Pool2d, Add)):
                raise UnsupportedOpError(f"{where}: a neuron node must follow an Affine, "
                                         "Linear, Conv2d, pooling or a sum of edges (it "
                                         f"follows {src!r} here)")
            out_shape = shapes[src]
            r = np.broadcast_to(_arr(node.r), out_shape)
            gain, bias_cur = dt * r, np.zeros(out_shape)
            if kind in ("LIF", "CubaLIF", "LI"):
                tau = np.broadcast_to(_arr(node.tau_mem if kind == "CubaLIF" else node.tau),
                                      out_shape)
                gain = dt * r / tau
                bias_cur = dt * np.broadcast_to(_arr(node.v_leak), out_shape) / tau
                approx.add(f"{kind}: membrane decay dropped (leak-free integer IF), input gain "
                           "dt*r/tau kept, v_leak as a constant current")
                if kind == "CubaLIF":
                    gain = gain * np.broadcast_to(_arr(node.w_in), out_shape)
                    approx.add("CubaLIF: synaptic filter replaced by its DC gain w_in (current "
                               "delivered in the spike's tick)")
            if np.any(gain <= 0):
                raise ConversionError(f"{where}: r, tau and dt must be positive")
            if kind in ("I", "LI"):
                if succ[name] != outputs:
                    raise UnsupportedOpError(f"{where}: a non-spiking {kind} node is only "
                                             "supported as the readout (feeding Output)")
                _scale_layer(lay, gain, bias_cur, where)
                readout_kind = "potential"
                produced[name] = src
                continue
            thr = np.broadcast_to(_arr(node.v_threshold), out_shape)
            v_reset = np.broadcast_to(_arr(node.v_reset), out_shape) \
                if getattr(node, "v_reset", None) is not None else np.zeros(out_shape)
            if np.any(v_reset != 0):
                raise UnsupportedOpError(f"{where}: reset to a non-zero potential (v_reset "
                                         "!= 0) is not supported; export with v_reset = 0")
            if np.any(thr <= 0):
                raise ConversionError(f"{where}: v_threshold must be positive")
            if (node.metadata or {}).get("reset") != "subtract":
                approx.add(f"{kind}: reset to zero replaced by reset by subtraction (the "
                           "overshoot above threshold is kept)")
            # v_nir = gain * v_ours: fold a per-neuron gain into the weights when it is not
            # uniform per channel, else into the threshold
            _scale_layer(lay, np.ones(out_shape), bias_cur / gain, where)
            eff = thr / gain
            lay.threshold = _per_channel(eff, out_shape, where)
            lay.spiking = True
            produced[name] = src
    final = produced[outputs[0]]
    if final == INPUT or not layers:
        raise ConversionError(f"{source}: the graph computes nothing")
    if layers[-1].name != final:
        raise ConversionError(f"{source}: the Output is not fed by the last layer")
    meta = {"source": source, "nir_dt": dt, "encoding": "rate",
            "decode": "potential" if readout_kind == "potential" or not layers[-1].spiking
            else "count", "pixel_scale": 1 / 255,
            "nir_approximations": sorted(approx), "nir_delay_ticks_dropped": delay_dropped}
    extra = (graph.metadata or {}).get("snn_meta")
    if extra is not None:  # written by `snn export`: the simulation settings travel along
        import json
        try:
            saved = json.loads(str(np.asarray(extra)))
        except ValueError:
            saved = {}
        meta.update({k: saved[k] for k in KEPT_META if k in saved})
    return SpikingNetwork(in_shape, layers, meta)


def _per_channel(v: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    flat = np.asarray(v, np.float64).reshape(shape[0], -1)
    if np.ptp(flat, axis=1).max() > 1e-9 * max(1.0, float(np.abs(flat).max())):
        raise UnsupportedOpError(f"{where}: thresholds differ within a channel; only one "
                                 "threshold per output channel is supported")
    ch = flat[:, 0]
    return np.array([ch[0]], np.float32) if np.ptp(ch) == 0 else ch.astype(np.float32)


def _scale_layer(lay: Layer, gain: np.ndarray, extra_bias: np.ndarray, where: str) -> None:
    """Multiply a layer's output by a per-channel gain and add a constant current."""
    if not np.any(gain != 1) and not np.any(extra_bias):
        return
    c = gain.shape[0]
    g = _per_channel(gain, gain.shape, where)
    eb = _per_channel(extra_bias, extra_bias.shape, where)
    g = np.broadcast_to(g, (c,)).astype(np.float64)
    eb = np.broadcast_to(eb, (c,)).astype(np.float64)
    if not isinstance(lay, (Dense, Conv2d)):
        if np.any(g != 1) or np.any(eb):
            raise UnsupportedOpError(f"{where}: a neuron gain or leak current after pooling or "
                                     "a sum; put the neuron after an Affine/Conv2d")
        return
    lay.weight = (lay.weight * g.reshape(-1, *([1] * (lay.weight.ndim - 1)))).astype(np.float32)
    lay.bias = (lay.bias * g + eb).astype(np.float32)


def is_nir(model: Any) -> bool:
    """True for a ``.nir`` path or a ``nir`` object."""
    if isinstance(model, (str, os.PathLike)):
        return Path(model).suffix.lower() == ".nir"
    return type(model).__module__.startswith("nir")
