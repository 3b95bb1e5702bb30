"""Graph rewrites before normalisation: BatchNorm folding and ReLU clean-up."""

from __future__ import annotations

import numpy as np

from snn.converters.graph import AnnGraph, Node
from snn.errors import ConversionError
from snn.network import INPUT


def _rename(nodes: list[Node], old: str, new: str) -> None:
    for n in nodes:
        n.inputs = [new if s == old else s for s in n.inputs]


def fold_batchnorm(graph: AnnGraph) -> AnnGraph:
    """Fold every ``bn`` into the dense/conv that feeds it (that layer's only consumer).

    conv: W' = W * scale[o], b' = b * scale + shift. A BatchNorm after anything else (input,
    pooling, addition, ReLU) has no linear layer to absorb it and is refused.
    """
    cons = graph.consumers()
    nodes: list[Node] = []
    by_name = {n.name: n for n in graph.nodes}
    for i, n in enumerate(graph.nodes):
        if n.op != "bn":
            nodes.append(n)
            continue
        src = by_name.get(n.inputs[0])
        if src is None or src.op not in ("dense", "conv") or len(cons[src.name]) != 1:
            what = "the input" if src is None else f"{src.op} {src.name!r}"
            raise ConversionError(
                f"{graph.source}: BatchNorm {n.name!r} (node {i}) follows {what}; only a "
                "BatchNorm right after a Linear/Conv (whose output feeds nothing else) can "
                "be folded. Move it after a Linear/Conv layer or fold it before export.")
        scale = n.params["scale"].astype(np.float64)
        shift = n.params["shift"].astype(np.float64)
        w = src.params["weight"].astype(np.float64)
        if len(scale) != w.shape[0]:
            raise ConversionError(f"BatchNorm {n.name!r} has {len(scale)} channels, "
                                  f"{src.name!r} makes {w.shape[0]}")
        src.params["weight"] = (w * scale.reshape(-1, *([1] * (w.ndim - 1)))).astype(np.float32)
        src.params["bias"] = (src.params["bias"] * scale + shift).astype(np.float32)
        _rename(graph.nodes[i + 1:], n.name, src.name)
    return AnnGraph(graph.input_shape, nodes, graph.source)


def _nonneg(graph: AnnGraph, name: str, by_name: dict[str, Node], input_nonneg: bool) -> bool:
    if name == INPUT:
        return input_nonneg
    n = by_name[name]
    if n.op == "relu":
        return True
    if n.op in ("pool", "flatten"):
        return _nonneg(graph, n.inputs[0], by_name, input_nonneg)
    return False


def simplify(graph: AnnGraph, input_nonneg: bool = True) -> AnnGraph:
    """Drop ReLUs whose input is already >= 0 (not clips: they also cap) and move ReLU or
    clip before max pooling (both monotone: relu(maxpool(x)) == maxpool(relu(x))), so that
    every ReLU follows a linear op."""
    nodes = list(graph.nodes)
    changed = True
    while changed:
        changed = False
        by_name = {n.name: n for n in nodes}
        cons: dict[str, list[Node]] = {}
        for n in nodes:
            for s in n.inputs:
                cons.setdefault(s, []).append(n)
        for i, n in enumerate(nodes):
            if n.op != "relu":
                continue
            src = n.inputs[0]
            if n.params.get("clip") is None and _nonneg(graph, src, by_name, input_nonneg):
                _rename(nodes, n.name, src)
                del nodes[i]
                changed = True
                break
            p = by_name.get(src)
            if p is not None and p.op == "pool" and p.params["mode"] == "max" \
                    and len(cons[p.name]) == 1:
                # x -> maxpool p -> relu n   becomes   x -> relu n -> maxpool p
                j = nodes.index(p)
                n.inputs, p.inputs = [p.inputs[0]], [n.name]
                _rename(nodes[i + 1:], n.name, p.name)
                nodes[j], nodes[i] = n, p
                changed = True
                break
    return AnnGraph(graph.input_shape, nodes, graph.source)
