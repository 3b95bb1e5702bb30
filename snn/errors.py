"""Exceptions of the snn package.

Every error says what is wrong, where (key, index, layer, file) and how to fix it.
"""

from __future__ import annotations


class SnnError(Exception):
    """Base class of every error the package raises on purpose."""


class ProgramError(SnnError, ValueError):
    """A core program (``snn-cores/1``) breaks a rule of the format.

    Attributes: ``key`` (the array), ``index`` (first offending index or None), ``rule``.
    """

    def __init__(self, key: str, rule: str, index: tuple[int, ...] | int | None = None,
                 fix: str | None = None, path: str | None = None):
        self.key, self.rule, self.index, self.fix, self.path = key, rule, index, fix, path
        where = f"{key}" if index is None else f"{key}[{_fmt_index(index)}]"
        msg = f"core program{' ' + str(path) if path else ''}: {where}: {rule}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class FormatError(SnnError, ValueError):
    """A file is not in the expected format (wrong tag, version, missing key)."""


class ConversionError(SnnError, ValueError):
    """A model cannot be converted (unsupported op, bad weights, unknown shapes)."""


class UnsupportedOpError(ConversionError):
    """An operation of the source model has no spiking equivalent here."""


class CompileError(SnnError, ValueError):
    """A spiking network cannot be mapped onto the chosen core spec."""


class DatasetError(SnnError, FileNotFoundError):
    """A dataset directory or file is missing or malformed."""


class ConfigError(SnnError, ValueError):
    """A user-given option or preset is invalid."""


def _fmt_index(index: tuple[int, ...] | int) -> str:
    if isinstance(index, tuple):
        return ", ".join(str(int(i)) for i in index)
    return str(int(index))
