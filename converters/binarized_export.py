"""Export trained binarized networks (``snn.converters.binarized``) to a ``SpikingNetwork``.

Weights become integers (+1/-1/0, stored as float32 holding exact integers), thresholds
integers, and ``meta["binarized"] = True`` selects ``snn.cores.compiler.binarized_map`` in the
compiler. Semantics recorded in the meta (see docs/binarized.md):

frame mode  (``binarized_mode = "frame"``): each spiking layer is evaluated once per frame,
    s = [W x >= threshold] (threshold may be <= 0: such a neuron fires without input);
    input = thermometer code of the raw pixels (``thermometer_levels``: channel k is
    pixel >= level k); the last layer is a non-spiking Dense whose integer output z is the
    class score (``readout_pop`` rows per class, row = class * pop + j, summed); decision
    argmax, ties to the lowest class index.
temporal mode (``binarized_mode = "temporal"``): per tick, V += W x(t) + bias (bias = the
    integer leak), V clamped to 20 bits, s = V >= threshold, reset (``reset``: "subtract" or
    "zero"), V = max(V, -floor) (``floor`` per layer); layer l at tick t integrates layer
    l-1's spikes of tick t-1 (one tick of delay per layer). The last layer has
    ``readout_groups`` neurons per class (rows class * groups + g); class score = their total
    spike count; decision argmax, ties to the lowest class index.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from snn.converters.binarized import (
    BlockReadout,
    ChannelShuffle,
    FrameNet,
    SpikeBlock,
    TemporalBSNN,
    TemporalLayer,
)
from snn.errors import ConversionError
from snn.network import INPUT, Conv2d, Dense, Flatten, Layer, SpikingNetwork


def _int_weight(op: nn.Module) -> np.ndarray:
    w = op.qweight().detach().cpu().double().numpy()
    if not np.array_equal(w, np.round(w)):
        raise ConversionError(f"{type(op).__name__}: weights are not integers (float flavour?)")
    return w


def _conv(name: str, src: str, op: nn.Conv2d, w: np.ndarray, theta: np.ndarray,
          bias: np.ndarray | None = None) -> Conv2d:
    p = op.padding
    return Conv2d(name=name, inputs=(src,), spiking=True,
                  threshold=theta.astype(np.float32), weight=w.astype(np.float32),
                  bias=(np.zeros(w.shape[0]) if bias is None else bias).astype(np.float32),
                  stride=tuple(op.stride), padding=(p[0], p[1], p[0], p[1]), groups=op.groups)


def _permute_last(layers: list[Layer], perm: np.ndarray, extra: dict) -> None:
    """Reorder the output channels of the last exported layer (a channel shuffle)."""
    if not layers or not isinstance(layers[-1], (Conv2d, Dense)):
        raise ConversionError("a channel shuffle must follow a conv or dense layer")
    last = layers[-1]
    if isinstance(last, Conv2d) and last.groups > 1:  # permuted groups: dense zero-filled form
        o, cg = last.weight.shape[:2]
        full = np.zeros((o, cg * last.groups, *last.weight.shape[2:]), last.weight.dtype)
        for oc in range(o):
            g = oc // (o // last.groups)
            full[oc, g * cg:(g + 1) * cg] = last.weight[oc]
        last.weight, last.groups = full, 1
    last.weight = last.weight[perm]
    last.bias = last.bias[perm]
    last.threshold = np.asarray(last.threshold)[perm]
    for key in extra:
        extra[key] = extra[key][perm]


@torch.no_grad()
def export_frame(model: FrameNet) -> SpikingNetwork:
    """A frozen frame-mode BSNN -> SpikingNetwork (integer weights and thresholds)."""
    if model.kind != "bsnn":
        raise ConversionError(f"only the 'bsnn' flavour exports to cores, got {model.kind!r}")
    if not all(m.frozen for m in model.layers if isinstance(m, SpikeBlock)):
        raise ConversionError("call model.freeze() before export (folds BatchNorm)")
    layers: list[Layer] = []
    src = INPUT
    readout_block, readout_pop = None, 1
    for i, m in enumerate(model.layers):
        name = f"L{i}"
        if isinstance(m, SpikeBlock):
            w = _int_weight(m.op)
            flip = m.flip.cpu().double().numpy()
            w = w * flip.reshape((-1,) + (1,) * (w.ndim - 1))
            theta = m.theta.cpu().double().numpy()
            if isinstance(m.op, nn.Conv2d):
                layers.append(_conv(name, src, m.op, w, theta))
            else:
                layers.append(Dense(name=name, inputs=(src,), spiking=True,
                                    threshold=theta.astype(np.float32),
                                    weight=w.astype(np.float32),
                                    bias=np.zeros(w.shape[0], np.float32)))
        elif isinstance(m, ChannelShuffle):
            _permute_last(layers, m.permutation(layers[-1].weight.shape[0]), {})
            continue
        elif isinstance(m, nn.Flatten):
            layers.append(Flatten(name=name, inputs=(src,)))
        elif isinstance(m, BlockReadout):
            w = _int_weight(m.op)
            layers.append(Dense(name=name, inputs=(src,), spiking=False,
                                threshold=np.ones(1, np.float32), weight=w.astype(np.float32),
                                bias=np.zeros(w.shape[0], np.float32)))
            readout_block, readout_pop = m.block, m.pop
        else:
            raise ConversionError(f"layer {i}: {type(m).__name__} has no binarized export")
        src = name
    if readout_block is None:
        raise ConversionError("the network must end with a BlockReadout")
    meta = {"binarized": True, "binarized_mode": "frame", "encoding": "thermometer",
            "thermometer_levels": [int(v) for v in model.levels], "readout_block": readout_block,
            "readout_pop": readout_pop,
            "decode": "argmax-integer", "ties": "lowest-index",
            "source": "snn.converters.binarized"}
    return SpikingNetwork((len(model.levels), *model.input_shape[1:]), layers, meta)


@torch.no_grad()
def export_temporal(model: TemporalBSNN) -> SpikingNetwork:
    """A temporal BSNN -> SpikingNetwork (integer weights, thresholds, leaks as biases)."""
    layers: list[Layer] = []
    src = INPUT
    floors: list[int] = []
    resets: set[str] = set()
    spiking = model.spiking_layers()
    for i, m in enumerate(model.layers):
        name = f"L{i}"
        if isinstance(m, TemporalLayer):
            theta = m.int_theta().cpu().double().numpy()
            leak = m.int_leak().cpu().double().numpy()
            resets.add(m.reset)
            floors.append(int(m.floor))
            w = _int_weight(m.op)
            if m is spiking[-1]:  # block readout: rows class * n_blocks + block
                nb, blk = model.n_blocks, model.block
                rows = np.zeros((w.shape[0] * nb, w.shape[1]))
                for c in range(w.shape[0]):
                    for k in range(nb):
                        sl = slice(k * blk, min((k + 1) * blk, w.shape[1]))
                        rows[c * nb + k, sl] = w[c, sl]
                layers.append(Dense(name=name, inputs=(src,), spiking=True,
                                    threshold=theta.astype(np.float32),
                                    weight=rows.astype(np.float32), bias=leak.astype(np.float32)))
            elif isinstance(m.op, nn.Conv2d):
                layers.append(_conv(name, src, m.op, w, theta, leak))
            else:
                layers.append(Dense(name=name, inputs=(src,), spiking=True,
                                    threshold=theta.astype(np.float32),
                                    weight=w.astype(np.float32), bias=leak.astype(np.float32)))
        elif isinstance(m, ChannelShuffle):
            _permute_last(layers, m.permutation(layers[-1].weight.shape[0]), {})
            continue
        elif isinstance(m, nn.Flatten):
            layers.append(Flatten(name=name, inputs=(src,)))
        else:
            raise ConversionError(f"layer {i}: {type(m).__name__} has no binarized export")
        src = name
    if len(resets) != 1:
        raise ConversionError("all temporal layers must share one reset mode")
    meta = {"binarized": True, "binarized_mode": "temporal", "encoding": "events",
            "reset": resets.pop(), "floor": floors, "readout_groups": model.n_blocks,
            "decode": "count", "ties": "lowest-index", "source": "snn.converters.binarized"}
    return SpikingNetwork(model.input_shape, layers, meta)
