"""SpikingNetwork -> NIR graph (``nir`` 1.0.x), written by ``snn export NET --nir out.nir``.

Per layer: Dense -> Affine, Conv2d -> Conv2d (symmetric padding only), avg Pool2d ->
AvgPool2d, Flatten -> Flatten, Add -> the sum of its incoming edges; a spiking layer adds an
IF node ``<layer>__if`` after it. The IF node holds r = 1/dt and v_threshold = our threshold
(so that dt*r = 1: v += I per tick, snnTorch's convention with dt = 1e-4), v_reset = 0, and
``metadata = {"reset": "subtract", "fire": "v >= v_threshold"}``: our neurons reset by
subtraction and fire at equality, which NIR's IF (reset to v_reset, v > threshold) cannot
say; ``import_nir`` reads the metadata back, so a round trip gives identical spikes. A
non-spiking readout is an Affine straight into Output (its integrated current is the
"potential" decoding). The graph's metadata holds ``dt`` and the network's meta.

Refused: max pooling (NIR 1.0 has no max pool), asymmetric padding, binarized networks
(their per-layer delay, clamp and floor are not NIR IF semantics).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from snn.errors import ConversionError
from snn.network import INPUT, Add, Conv2d, Dense, Flatten, Pool2d, SpikingNetwork

DT = 1e-4


def to_nir(net: SpikingNetwork, dt: float = DT):
    """The NIRGraph of a SpikingNetwork."""
    import nir

    if net.meta.get("binarized"):
        raise ConversionError("binarized networks (per-layer tick delay, 20-bit clamp, floors) "
                              "have no NIR IF equivalent; export a converted network")
    shapes = net.shapes()
    nodes: dict = {"input": nir.Input(input_type={"input": np.array(net.input_shape)})}
    edges: list[tuple[str, str]] = []
    out_of = {INPUT: "input"}
    for layer in net.layers:
        name = layer.name
        shp = shapes[name]
        in_shp = shapes[layer.inputs[0]]
        if name in ("input", "output") or name.endswith("__if"):
            raise ConversionError(f"layer {name!r}: the name clashes with the NIR node names")
        if isinstance(layer, Dense):
            nodes[name] = nir.Affine(weight=np.asarray(layer.weight, np.float32),
                                     bias=np.asarray(layer.bias, np.float32))
        elif isinstance(layer, Conv2d):
            pt, pl, pb, pr = layer.padding
            if (pt, pl) != (pb, pr):
                raise ConversionError(f"layer {name!r}: asymmetric padding {layer.padding} has no "
                                      "NIR Conv2d equivalent")
            nodes[name] = nir.Conv2d(input_shape=tuple(in_shp[1:]),
                                     weight=np.asarray(layer.weight, np.float32),
                                     stride=tuple(layer.stride), padding=(pt, pl),
                                     dilation=(1, 1), groups=int(layer.groups),
                                     bias=np.asarray(layer.bias, np.float32))
        elif isinstance(layer, Pool2d):
            pt, pl, pb, pr = layer.padding
            if layer.mode != "avg" or (pt, pl) != (pb, pr):
                raise ConversionError(f"layer {name!r}: {layer.mode} pooling with padding "
                                      f"{layer.padding} has no NIR equivalent (NIR 1.0 has no "
                                      "max pooling); convert with --maxpool avg")
            nodes[name] = nir.AvgPool2d(kernel_size=np.array(layer.kernel),
                                        stride=np.array(layer.stride), padding=np.array((pt, pl)))
        elif isinstance(layer, Flatten):
            nodes[name] = nir.Flatten(input_type={"input": np.array(in_shp)}, start_dim=0,
                                      end_dim=-1)
        elif isinstance(layer, Add):
            nodes[name] = nir.Scale(scale=np.ones(shp, np.float32))  # the sum of its edges
        else:
            raise ConversionError(f"layer {name!r}: kind {layer.kind!r} has no NIR export")
        for src in layer.inputs:
            edges.append((out_of[src], name))
        out_of[name] = name
        if layer.spiking and not isinstance(layer, Flatten):
            thr = np.broadcast_to(np.asarray(layer.threshold, np.float32).reshape(
                (-1,) + (1,) * (len(shp) - 1)), shp).astype(np.float32)
            nodes[f"{name}__if"] = nir.IF(r=np.full(shp, 1 / dt, np.float32), v_threshold=thr,
                                         v_reset=np.zeros(shp, np.float32),
                                         metadata={"reset": "subtract",
                                                   "fire": "v >= v_threshold"})
            edges.append((name, f"{name}__if"))
            out_of[name] = f"{name}__if"
    last = net.layers[-1].name
    nodes["output"] = nir.Output(output_type={"output": np.array(shapes[last])})
    edges.append((out_of[last], "output"))
    meta = {"dt": dt, "producer": "snn export",
            "snn_meta": json.dumps(net.meta, default=lambda o: getattr(o, "tolist", str)())}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def export_nir(net: SpikingNetwork, path: str | os.PathLike, dt: float = DT) -> Path:
    """Write ``net`` as an NIR file (HDF5 through ``nir.write``)."""
    import nir

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    nir.write(str(tmp), to_nir(net, dt))
    os.replace(tmp, path)
    return path
