"""snn: trained ANNs -> spiking networks -> TrueNorth-like cores, with accuracy, SOPs and energy."""

from __future__ import annotations

__version__ = "0.1.0"

from snn.errors import (  # noqa: F401
    CompileError,
    ConfigError,
    ConversionError,
    DatasetError,
    FormatError,
    ProgramError,
    SnnError,
    UnsupportedOpError,
)
from snn.report import Report  # noqa: E402,F401  (energy helper: snn.Report)
