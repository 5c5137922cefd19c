"""Saves that a crash or a ``SIGKILL`` never leaves half-written: one file, or a set of files as a whole.

One file (:func:`atomic_write`): written under a random temporary name beside the target, flushed, then renamed
onto it. A set of files (:func:`write_directory`, read back with :func:`read_directory`), e.g. a model's
weights, config and assets or an index's vectors and ids:

1. every file of the new version is written into a fresh folder ``directory/.unibind-stage.<random>.tmp`` and
   flushed to disk (files and folders);
2. that folder is renamed to ``directory/.unibind-pending``: this one rename commits the new version;
3. each entry is put in place at the top of ``directory`` (hard-linked, or copied where links are not
   possible, under a temporary name, then renamed); names the save owns that the new version lacks are
   removed;
4. ``.unibind-pending`` is renamed away and deleted.

:func:`read_directory` reads ``.unibind-pending`` while it exists, else ``directory`` itself, so a load sees
exactly the previous version (a kill before step 2) or exactly the new one (a kill after it). The next save
first finishes an interrupted step 3 and removes temporary folders and files that killed saves left behind.
The top of ``directory`` keeps the usual files (``model.safetensors`` ...), so older readers, file copies
and tools that open a file directly keep working; only what the save owns is touched, other files in
``directory`` stay. One writer at a time per directory; a load that runs while another process saves may
still see the two halves of a step 3.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

PENDING_NAME = ".unibind-pending"
STAGE_PREFIX = ".unibind-stage."
TRASH_PREFIX = ".unibind-trash."

T = TypeVar("T")


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entry to disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    handle = os.open(path, flags)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` (``root`` included), deepest first."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            fsync_path(Path(folder, name))
        fsync_path(Path(folder))


def atomic_write(target: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` for a temporary file beside ``target``, flush it, then rename it to ``target``.

    Readers see the old file or the new one, never a part; on an error the temporary file is removed. The
    temporary name is ``.<name>.<random>.tmp``; the file gets the usual permissions (``0o666`` less the umask).
    """
    target = Path(target)
    temporary = _fresh_file(target.parent, f".{target.name}.")
    try:
        write(temporary)
        fsync_path(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_path(target.parent)
    return target


def atomic_write_text(target: str | Path, text: str) -> Path:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    return atomic_write(target, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def replace_atomically(temporary: Path, target: Path) -> None:
    """Move a finished ``temporary`` file or folder to ``target`` in one rename, flushed to disk first.

    A folder that already sits at ``target`` is removed first (a folder cannot be swapped in one rename).
    """
    fsync_path(temporary)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(temporary, target)
    fsync_path(target.parent)


def write_directory(directory: str | Path, write: Callable[[Path], object], owned: Iterable[str]) -> Path:
    """Save a set of files into ``directory`` as a whole: ``write(folder)`` writes the new version into ``folder``.

    ``owned``: the top-level names this kind of save writes (``model.safetensors``, ``assets`` ...); those the
    new version lacks are removed, every other entry of ``directory`` is left alone. A kill at any moment
    leaves :func:`read_directory` the previous version or the new one; an error in ``write`` leaves the
    previous version and no temporary folder. Returns ``directory``.
    """
    directory = Path(directory)
    owned = tuple(owned)
    directory.mkdir(parents=True, exist_ok=True)
    settle_directory(directory, owned)
    stage = _fresh_folder(directory, STAGE_PREFIX)
    try:
        write(stage)
        fsync_tree(stage)
        os.rename(stage, directory / PENDING_NAME)  # the commit
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    fsync_path(directory)
    _roll_forward(directory, owned)
    return directory


def read_directory(directory: str | Path, read: Callable[[Path], T]) -> T:
    """``read(folder)`` on the folder holding ``directory``'s last complete save (see :func:`write_directory`).

    That is ``directory/.unibind-pending`` while a committed save is not yet in place, else ``directory``.
    If the pending folder is put in place and deleted while ``read`` runs (another process finishing a save),
    the read starts again from ``directory``.
    """
    directory = Path(directory)
    pending = directory / PENDING_NAME
    for _ in range(3):
        if not pending.is_dir():
            break
        try:
            return read(pending)
        except Exception:
            if pending.is_dir():
                raise
    return read(directory)


def settle_directory(directory: Path, owned: Iterable[str]) -> None:
    """Finish a save that was killed after its commit, then remove what killed saves left behind.

    Left behind: ``.unibind-stage.*.tmp`` / ``.unibind-trash.*.tmp`` folders and temporary files of the
    ``owned`` names (``.<name>.*tmp``, which includes the fixed names older versions used).
    """
    owned = tuple(owned)
    if (directory / PENDING_NAME).is_dir():
        _roll_forward(directory, owned)
    patterns = [f"{STAGE_PREFIX}*.tmp", f"{TRASH_PREFIX}*.tmp", *(f".{name}.*tmp" for name in owned)]
    for entry in directory.iterdir():
        if any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in patterns):
            _remove(entry)


def _roll_forward(directory: Path, owned: tuple[str, ...]) -> None:
    """Put every entry of ``directory/.unibind-pending`` in place and remove owned names it lacks; then retire it.

    Safe to repeat after a kill at any point: until the pending folder is renamed away it is the version loads
    read, and it stays complete (entries are linked or copied out of it, never moved).
    """
    pending = directory / PENDING_NAME
    new = {entry.name: entry for entry in pending.iterdir()}
    for name in dict.fromkeys([*owned, *new]):
        if name in new:
            _place(new[name], directory / name)
        else:
            _remove(directory / name)
    fsync_path(directory)
    trash = directory / f"{TRASH_PREFIX}{secrets.token_hex(8)}.tmp"
    os.rename(pending, trash)
    fsync_path(directory)
    shutil.rmtree(trash, ignore_errors=True)


def _place(source: Path, target: Path) -> None:
    """Put a copy of ``source`` (hard links where possible) at ``target``, through a temporary name."""
    temporary = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    try:
        if source.is_dir():
            shutil.copytree(source, temporary, copy_function=_link_or_copy)
            fsync_tree(temporary)
            _remove(target)  # a folder cannot replace a folder in one rename; the pending copy covers the gap
        else:
            _link_or_copy(source, temporary)
            fsync_path(temporary)
            if target.is_dir() and not target.is_symlink():
                _remove(target)
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def _remove(path: Path) -> None:
    """Delete a file, link or folder if present; a folder is renamed to a trash name first, then deleted."""
    if path.is_dir() and not path.is_symlink():
        trash = path.parent / f"{TRASH_PREFIX}{secrets.token_hex(8)}.tmp"
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fresh_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder ``parent/<prefix><random>.tmp`` with the usual permissions (not ``mkdtemp``'s 0700)."""
    while True:
        folder = parent / f"{prefix}{secrets.token_hex(8)}.tmp"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder


def _fresh_file(parent: Path, prefix: str) -> Path:
    """A new empty file ``parent/<prefix><random>.tmp`` with the usual permissions (not ``mkstemp``'s 0600)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(8)}.tmp"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path
