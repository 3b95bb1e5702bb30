"""snn.cores: networks on TrueNorth-like cores, laid out as the flow (docs/design.md §2).

``compiler`` (SpikingNetwork -> ``CoreProgram``), ``program`` (the core-program file every
part reads), ``engine`` (runs a program tick by tick, exactly), ``hardware`` (core spec,
mesh, placement, energy), and the evaluator on top (``evaluate``, ``evaluate_events``,
``readout``)."""

from __future__ import annotations

from snn.cores.hardware.spec import CoreSpec
from snn.cores.program import FORMAT, CoreProgram

__all__ = ["FORMAT", "CoreProgram", "CoreSpec"]
