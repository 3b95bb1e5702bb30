"""Arguments several commands parse the same way: tick lists and the format tag of a file."""

from __future__ import annotations

import os
from pathlib import Path

from snn.errors import ConfigError, FormatError


def parse_ticks(text: str) -> list[int]:
    try:
        ticks = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError as exc:
        raise ConfigError(f"--ticks {text!r}: give comma-separated integers, e.g. 8,16,32") from exc
    if not ticks or ticks[0] < 1:
        raise ConfigError(f"--ticks {text!r}: tick counts must be >= 1")
    return ticks


def file_format(path: str | os.PathLike) -> str:
    """The ``format`` tag of an .npz file (a FormatError for anything else)."""
    from snn.validate import npz_format
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    return npz_format(path)
