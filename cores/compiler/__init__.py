"""snn.cores.compiler: SpikingNetwork -> CoreProgram (docs/compiler.md).

The stages, in the order ``compile`` runs them: ``fold_passthrough`` (pass-through layers
into their consumers), ``quantise`` (weights, thresholds and biases to the spec's integers),
``lower`` (layers to sparse integer rows), ``tiling`` and ``build`` (rows onto cores, fan-in
splits through ``relays``); ``binarized_map`` is the compiler of binarized networks. ``io``
holds what a compiled program needs around the engine (input encoding, the layer table).
"""

from __future__ import annotations

from snn.cores.compiler.build import Compiled, compile, compile_network
from snn.cores.compiler.io import check_compiled, encode_frames, format_table, layer_table

__all__ = ["Compiled", "check_compiled", "compile", "compile_network", "encode_frames",
           "format_table", "layer_table"]
