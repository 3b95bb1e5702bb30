"""SpikingNetwork: the layer-level integrate-and-fire network (the converter's output).

Semantics, per tick t, layer by layer in the stored (topological) order:

    z_l(t) = op_l(x_{inputs}(t))            # linear op of the inputs' outputs at tick t
    if spiking:  V_l += z_l(t) + bias_l      # bias is a constant input current
                 s_l(t) = V_l >= threshold_l # spike (amplitude 1)
                 V_l -= threshold_l * s_l(t) # reset by subtraction
                 x_l(t) = s_l(t)
    else:        x_l(t) = z_l(t) + bias_l    # pass-through (Flatten, folded pooling, readout)

The network input x_input(t) is the encoded frame (see ``snn.encoding``). Layers keep the
names of the source model. Shapes are channel-first without the batch dimension:
(C, H, W) for images, (F,) for vectors. Saved as ``.npz`` with format tag ``snn-net/1``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from snn.errors import ConversionError

NET_FORMAT = "snn-net/1"
INPUT = "input"  # name of the network input in ``Layer.inputs``


@dataclass
class Layer:
    """Common fields of every layer.

    name: unique name (kept from the source model).
    inputs: names of the layers (or ``"input"``) whose outputs feed this one.
    spiking: True: IF neurons with reset by subtraction; False: pass-through value.
    threshold: firing threshold, scalar or one per output channel (after normalisation).
    """

    name: str
    inputs: tuple[str, ...] = (INPUT,)
    spiking: bool = True
    threshold: np.ndarray = field(default_factory=lambda: np.ones(1, np.float32))

    kind: ClassVar[str] = "layer"
    array_fields: ClassVar[tuple[str, ...]] = ()

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """Non-array attributes, JSON-serialisable."""
        out = {}
        for f in fields(self):
            if f.name in self.array_fields or f.name == "threshold":
                continue
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass
class Dense(Layer):
    """y = weight @ x + bias; weight [out, in], bias [out]."""

    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    kind: ClassVar[str] = "dense"
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        (shape,) = input_shapes
        if int(np.prod(shape)) != self.weight.shape[1]:
            raise ConversionError(f"layer {self.name!r}: dense weight takes "
                                  f"{self.weight.shape[1]} inputs, input has shape {shape}")
        return (self.weight.shape[0],)


@dataclass
class Conv2d(Layer):
    """2-D convolution (cross-correlation, as torch): weight [O, I/groups, kh, kw], bias [O].

    padding is (top, left, bottom, right) so that ONNX SAME_UPPER asymmetry is exact.
    """

    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 1, 1), np.float32))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1

    kind: ClassVar[str] = "conv2d"
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        (shape,) = input_shapes
        c, h, w = shape
        o, ig, kh, kw = self.weight.shape
        if ig * self.groups != c:
            raise ConversionError(f"layer {self.name!r}: conv expects {ig * self.groups} "
                                  f"input channels, got {c}")
        pt, pl, pb, pr = self.padding
        return (o, (h + pt + pb - kh) // self.stride[0] + 1,
                (w + pl + pr - kw) // self.stride[1] + 1)


@dataclass
class Pool2d(Layer):
    """Pooling over kernel windows; ``mode`` is "avg" or "max".

    avg: the mean of the window (count_include_pad as torch's default: padded zeros count).
    max: spiking max pooling; see ``snn.simulate`` for the rate-gated implementation.
    padding is (top, left, bottom, right).
    """

    mode: str = "avg"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)

    kind: ClassVar[str] = "pool2d"

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        (shape,) = input_shapes
        c, h, w = shape
        pt, pl, pb, pr = self.padding
        return (c, (h + pt + pb - self.kernel[0]) // self.stride[0] + 1,
                (w + pl + pr - self.kernel[1]) // self.stride[1] + 1)


@dataclass
class Flatten(Layer):
    """(C, H, W) -> (C*H*W,) in channel-first order; never spiking."""

    spiking: bool = False
    kind: ClassVar[str] = "flatten"

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        (shape,) = input_shapes
        return (int(np.prod(shape)),)


@dataclass
class Add(Layer):
    """Sum of all inputs (residual connections); same shapes required."""

    kind: ClassVar[str] = "add"

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        if len(set(input_shapes)) != 1:
            raise ConversionError(f"layer {self.name!r}: add of unequal shapes {input_shapes}")
        return input_shapes[0]


LAYER_KINDS: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Dense, Conv2d, Pool2d, Flatten, Add)}


@dataclass
class SpikingNetwork:
    """A layer-level IF network.

    input_shape: shape of one frame, channel-first, no batch dimension.
    layers: in topological order; the last is the readout.
    meta: free metadata kept in the file: ``pixel_scale`` (multiplies raw 0..255 pixels),
        ``encoding``, ``source``, ``normalisation``, ``decode`` ("count" or "potential")...
    calibration: a few of the frames the converter calibrated on (raw pixels, [n,
        *input_shape]), kept so that ``compile`` can set its relay parameters from data.
    """

    input_shape: tuple[int, ...]
    layers: list[Layer]
    meta: dict[str, Any] = field(default_factory=dict)
    calibration: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.shapes()  # validates names, order and shapes

    # -- structure -------------------------------------------------------------------------
    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; layers: {[x.name for x in self.layers]}")

    def consumers(self) -> dict[str, list[Layer]]:
        """The layers that read each layer's output (and ``"input"``), by name."""
        out: dict[str, list[Layer]] = {INPUT: []}
        for layer in self.layers:
            out.setdefault(layer.name, [])
            for src in layer.inputs:
                out.setdefault(src, []).append(layer)
        return out

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every layer (and of ``"input"``)."""
        shapes: dict[str, tuple[int, ...]] = {INPUT: self.input_shape}
        for i, layer in enumerate(self.layers):
            if layer.name in shapes:
                raise ConversionError(f"layer {i} name {layer.name!r} is used twice")
            for src in layer.inputs:
                if src not in shapes:
                    raise ConversionError(f"layer {layer.name!r} reads {src!r}, which is not an "
                                          "earlier layer; layers must be in topological order")
            shapes[layer.name] = layer.output_shape([shapes[s] for s in layer.inputs])
        return shapes

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shapes()[self.layers[-1].name]

    @property
    def n_classes(self) -> int:
        return int(np.prod(self.output_shape))

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``snn-net/1`` atomically."""
        from snn.cores.program import atomic_savez

        header = {"format": NET_FORMAT, "input_shape": list(self.input_shape),
                  "meta": self.meta, "layers": []}
        payload: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            header["layers"].append({"kind": layer.kind, **layer.params()})
            payload[f"L{i}.threshold"] = np.asarray(layer.threshold, np.float32)
            for name in layer.array_fields:
                payload[f"L{i}.{name}"] = np.asarray(getattr(layer, name))
        if self.calibration is not None:
            payload["calibration"] = np.asarray(self.calibration)
        payload["format"] = np.array(NET_FORMAT)
        payload["header"] = np.array(json.dumps(header, default=_json_default))
        return atomic_savez(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpikingNetwork:
        """Read ``snn-net/1``, every field checked before use (``snn.validate``)."""
        from snn.validate import load_npz, network_from_arrays

        arrays = load_npz(path, "spiking network",
                          "give a spiking network written by `snn convert` (snn-net/1)")
        return network_from_arrays(arrays, str(path))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} in network metadata")
