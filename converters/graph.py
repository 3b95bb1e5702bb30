"""AnnGraph: the importers' common output, a small typed ANN graph with a numpy forward pass.

Ops (``Node.op``) and their fields in ``Node.params``:

- ``dense``: weight [O, I], bias [O]              y = W x + b (x flattened channel-first)
- ``conv``: weight [O, I/g, kh, kw], bias [O], stride (sh, sw), padding (t, l, b, r), groups
- ``bn``: scale [C], shift [C]                    y = scale * x + shift (per channel, axis 0)
- ``relu``: optional ``clip`` (float lambda)     y = max(x, 0), or clamp(x, 0, clip):
                                                   the SNN's threshold for that layer
- ``pool``: mode "avg" | "max", kernel, stride, padding (t, l, b, r)   (avg: pads count)
- ``flatten``                                     (C, H, W) -> C*H*W, channel-first order
- ``add``                                         sum of the inputs

Shapes are channel-first without batch. The graph input is named ``"input"``; nodes are in
topological order and the last one is the output (the logits; a final softmax is dropped by
the importers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snn.errors import ConversionError
from snn.network import INPUT, Pool2d
from snn.simulate import avg_pool, conv2d, max_pool

OPS = ("dense", "conv", "bn", "relu", "pool", "flatten", "add")


@dataclass
class Node:
    """One ANN operation; ``inputs`` name earlier nodes or ``"input"``."""

    op: str
    name: str
    inputs: list[str]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnnGraph:
    """A feed-forward ANN: input shape (channel-first, no batch) and nodes in order."""

    input_shape: tuple[int, ...]
    nodes: list[Node]
    source: str = ""

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {INPUT: []}
        for n in self.nodes:
            out.setdefault(n.name, [])
            for s in n.inputs:
                out.setdefault(s, []).append(n)
        return out

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def validate(self) -> None:
        """Check names, order and finite parameters."""
        seen = {INPUT}
        if not self.nodes:
            raise ConversionError(f"{self.source}: the model has no operations")
        for i, n in enumerate(self.nodes):
            if n.op not in OPS:
                raise ConversionError(f"node {i} {n.name!r}: unknown op {n.op!r}")
            if n.name in seen:
                raise ConversionError(f"node {i}: name {n.name!r} is used twice")
            for s in n.inputs:
                if s not in seen:
                    raise ConversionError(f"node {i} {n.name!r} reads {s!r} before it is made")
            for k, v in n.params.items():
                if isinstance(v, np.ndarray) and v.dtype.kind == "f" and not np.isfinite(v).all():
                    raise ConversionError(
                        f"{self.source}: node {i} {n.name!r}: parameter {k!r} holds NaN or "
                        "inf values; the trained model is broken (retrain or re-export it)")
            seen.add(n.name)


def pool_layer(node: Node) -> Pool2d:
    p = node.params
    return Pool2d(node.name, mode=p["mode"], kernel=tuple(p["kernel"]),
                  stride=tuple(p["stride"]), padding=tuple(p["padding"]))


def apply(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    """The node's op on batched inputs [N, ...]."""
    p = node.params
    x = xs[0]
    if node.op == "dense":
        y = x.reshape(len(x), -1) @ p["weight"].T.astype(x.dtype)
        return y + p["bias"].astype(x.dtype)
    if node.op == "conv":
        y = conv2d(x, p["weight"].astype(x.dtype), tuple(p["stride"]), tuple(p["padding"]),
                   int(p["groups"]))
        return y + p["bias"].astype(x.dtype).reshape(-1, *([1] * (y.ndim - 2)))
    if node.op == "bn":
        shape = (-1,) + (1,) * (x.ndim - 2)
        return x * p["scale"].astype(x.dtype).reshape(shape) + p["shift"].astype(
            x.dtype).reshape(shape)
    if node.op == "relu":
        clip = p.get("clip")
        return np.maximum(x, 0) if clip is None else np.clip(x, 0, np.float32(clip))
    if node.op == "pool":
        layer = pool_layer(node)
        return avg_pool(x, layer) if p["mode"] == "avg" else max_pool(x, layer)
    if node.op == "flatten":
        return x.reshape(len(x), -1)
    if node.op == "add":
        return sum(xs[1:], xs[0])
    raise ConversionError(f"node {node.name!r}: unknown op {node.op!r}")


def forward(graph: AnnGraph, x: np.ndarray, keep: set[str] | None = None,
            batch_size: int = 500) -> dict[str, np.ndarray]:
    """Activations of the nodes in ``keep`` (default: all) for inputs x [N, *input_shape]
    in model units (already multiplied by the pixel scale)."""
    x = np.asarray(x, np.float32)
    if x.shape[1:] != tuple(graph.input_shape):
        if int(np.prod(x.shape[1:])) != int(np.prod(graph.input_shape)):
            raise ConversionError(f"calibration frames have shape {x.shape[1:]}, the model "
                                  f"takes {tuple(graph.input_shape)}")
        x = x.reshape(len(x), *graph.input_shape)
    want = {n.name for n in graph.nodes} if keep is None else set(keep)
    last: dict[str, int] = {}
    for i, n in enumerate(graph.nodes):
        for s in n.inputs:
            last[s] = i
    outs: dict[str, list[np.ndarray]] = {k: [] for k in want}
    for s in range(0, len(x), batch_size):
        vals = {INPUT: x[s:s + batch_size]}
        for i, n in enumerate(graph.nodes):
            vals[n.name] = apply(n, [vals[k] for k in n.inputs])
            if n.name in want:
                outs[n.name].append(vals[n.name])
            for k in n.inputs:
                if last.get(k) == i and k not in want:
                    vals.pop(k, None)
    return {k: np.concatenate(v) for k, v in outs.items()}


def shapes(graph: AnnGraph) -> dict[str, tuple[int, ...]]:
    """Output shape of every node (a forward pass of one zero frame)."""
    acts = forward(graph, np.zeros((1, *graph.input_shape), np.float32))
    out = {k: tuple(v.shape[1:]) for k, v in acts.items()}
    out[INPUT] = tuple(graph.input_shape)
    return out
