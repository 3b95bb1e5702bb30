"""snn.cores: core specs, core programs, the compiler, placement, the engine and energy."""

from __future__ import annotations

from snn.cores.program import FORMAT, CoreProgram
from snn.cores.spec import CoreSpec

__all__ = ["FORMAT", "CoreProgram", "CoreSpec"]
