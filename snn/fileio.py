"""Safe outputs: checks before the work, atomic writes after it.

:func:`check_outputs` runs at the start of every command, before any computing: it refuses
an output that is one of the inputs (after resolving links), two flags naming the same
output, an output in a folder that cannot be written, an existing output that is a folder or
read-only. :func:`atomic_open` writes a temp file in the target's folder, then renames it: a
reader never sees a half-written file and an interrupted write leaves the old file in place.
An existing file keeps its mode; a symlink keeps pointing at its target, which is replaced.
New files get the usual permissions (0666 less the umask), not mkstemp's 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from snn.errors import ConfigError

PathLike = str | os.PathLike


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def resolve_target(path: PathLike) -> Path:
    """The file a write to ``path`` should replace: symlinks followed (even dangling ones)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _same_file(a: PathLike, b: PathLike) -> bool:
    if resolve_target(a) == resolve_target(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def _nearest_existing_dir(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(flag: str, path: PathLike) -> None:
    """Raise ConfigError unless ``path`` can be written (tried with a temp file)."""
    target = resolve_target(path)
    if target.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder; give a file path")
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(f"{flag} {path}: the existing file is read-only; make it writable "
                          "(chmod u+w) or choose another path")
    folder = _nearest_existing_dir(target.parent)
    if not folder.is_dir():
        raise ConfigError(f"{flag} {path}: {folder} is not a folder, so the file cannot be "
                          "created there")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".snn-write-test.", dir=folder)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write in {folder} ({exc.strerror or exc}); "
                          "choose a writable folder") from exc
    os.close(fd)
    os.unlink(tmp)


def check_outputs(inputs: Mapping[str, PathLike | None],
                  outputs: Mapping[str, PathLike | None]) -> None:
    """Refuse unsafe outputs before any work; ``inputs``/``outputs`` map a flag (as the user
    typed it, e.g. ``"NET.npz"`` or ``"--out"``) to its path or None (not given).

    Raises ConfigError naming both flags when an output is an input (same file after
    resolving links, or a hard link of it) or when two outputs are the same file, and
    naming the flag when an output cannot be written.
    """
    ins = [(f, p) for f, p in inputs.items() if p is not None and os.fspath(p) != ""]
    outs = [(f, p) for f, p in outputs.items() if p is not None and os.fspath(p) != ""]
    for oflag, opath in outs:
        for iflag, ipath in ins:
            if _same_file(opath, ipath):
                raise ConfigError(f"{oflag} {opath} is the input {iflag} {ipath}: writing it "
                                  f"would destroy the input; give {oflag} another path")
    for i, (aflag, apath) in enumerate(outs):
        for bflag, bpath in outs[i + 1:]:
            if _same_file(apath, bpath):
                raise ConfigError(f"{aflag} {apath} and {bflag} {bpath} are the same file: one "
                                  "would overwrite the other; give them different paths")
    for oflag, opath in outs:
        check_writable(oflag, opath)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open ``path`` for writing ("w" or "wb"); it appears only when the block succeeds.

    A symlink's target is replaced (the link stays); an existing file keeps its mode.
    """
    target = resolve_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        keep_mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        keep_mode = None
    fd, tmp = tempfile.mkstemp(prefix="." + target.name + ".", suffix=".tmp",
                               dir=target.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.chmod(tmp, keep_mode if keep_mode is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write text atomically; return the path."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def atomic_write_json(path: PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write JSON atomically (with a final newline); return the path."""
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def check_output_dir(flag: str, path: PathLike,
                     inputs: Mapping[str, PathLike | None] | None = None) -> None:
    """Refuse, before any work, an output folder that is a file, is (or holds) one of the
    inputs' paths, or cannot be written in (tried with a temp file)."""
    target = resolve_target(path)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{flag} {path}: is a file, not a folder; give a folder for the "
                          "results")
    for iflag, ipath in (inputs or {}).items():
        if ipath is not None and resolve_target(ipath) == target:
            raise ConfigError(f"{flag} {path} is the input {iflag} {ipath}; give another "
                              "folder")
    check_writable(flag, target / ".snn-results")
