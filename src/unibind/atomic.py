"""One way to write files that a crash never leaves half-written: a temporary name, then one rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entry to disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    handle = os.open(path, flags)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def atomic_write(target: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` for a temporary file beside ``target``, flush it, then rename it to ``target``.

    Readers see the old file or the new one, never a part; on an error the temporary file is removed.
    """
    target = Path(target)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        fsync_path(Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_path(target.parent)
    return target


def replace_atomically(temporary: Path, target: Path) -> None:
    """Move a finished ``temporary`` file or folder to ``target`` in one rename, flushed to disk first.

    A folder that already sits at ``target`` is removed first (a folder cannot be swapped in one rename).
    """
    fsync_path(temporary)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(temporary, target)
    fsync_path(target.parent)
