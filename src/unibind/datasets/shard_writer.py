"""Writing WebDataset tar shards from a manifest (``unibind data shard``); the format is in :mod:`.shards`."""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from unibind.atomic import atomic_write_text, replace_atomically
from unibind.checksums import sha256_file
from unibind.datasets.manifest import ManifestItem, OnError, read_manifest
from unibind.datasets.shard_index import FORMAT, SHARD_INDEX, SHARDABLE, VERSION, ShardInfo, ShardSet, is_url
from unibind.datasets.shards import KEY_DIGITS, SUFFIX
from unibind.datasets.text_files import ManifestError
from unibind.modalities import Modality

log = logging.getLogger(__name__)


def write_shards(
    manifest: str | Path,
    out: str | Path,
    modalities: Sequence[str],
    samples_per_shard: int = 1000,
    on_error: OnError = "raise",
    progress: bool = True,
) -> ShardSet:
    """Pack a manifest and its files into WebDataset tar shards in the local folder ``out``.

    The manifest is read with :func:`~unibind.datasets.manifest.read_manifest` (so every manifest check
    applies); files are copied byte for byte, not decoded. The same manifest and files give byte-identical
    shards (fixed member order, mtime 0, uid/gid 0). Each tar is written under a temporary name and renamed
    when complete; ``shards.json`` is written last, atomically, so the folder is usable only once complete
    (rewriting a folder first removes its old ``shards.json``).

    ``out`` is a local folder: to train from an object store, copy the finished folder there
    (``aws s3 sync``, ``gsutil rsync``, ``rclone``...) and pass its URL to :func:`open_shards`.

    Args:
        manifest: a JSONL/CSV/TSV manifest.
        out: the local output folder (created if needed).
        modalities: the modalities to pack (text, image, audio, motion; graphs cannot be sharded).
        samples_per_shard: samples per tar file; the last one may hold fewer.
        on_error: ``raise`` at the first bad row or unreadable file (naming manifest, row, id and file), or
            ``skip`` it and count it in :attr:`ShardSet.skipped`.
        progress: show a progress bar.
    Returns:
        The written :class:`ShardSet` (``location`` is ``out``).
    """
    manifest = Path(manifest)
    wanted = _check_modalities(modalities)
    _check_options(out, samples_per_shard, on_error)
    out = Path(out)
    items, report = read_manifest(manifest, wanted, on_error)
    groups = sorted({item.group or item.id for item in items})  # as ManifestDataset numbers them

    out.mkdir(parents=True, exist_ok=True)
    (out / SHARD_INDEX).unlink(missing_ok=True)  # the folder is not usable while its shards are rewritten
    bar = tqdm(items, desc=f"sharding {manifest.name}", unit="sample", disable=not progress)
    shards, unreadable = _write_tars(manifest, out, bar, groups, samples_per_shard, on_error)
    skipped = report.count + unreadable
    if not shards:
        raise ManifestError(f"{manifest}: no sample could be written ({skipped} rows skipped)")
    shard_set = ShardSet(str(out), shards, [str(m) for m in wanted], groups, skipped)
    _write_index(out, shard_set, manifest.name)
    _warn_stale(out, shards)
    return shard_set


def _check_options(out: str | Path, samples_per_shard: int, on_error: str) -> None:
    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be at least 1, got {samples_per_shard}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be raise or skip, got {on_error!r}")
    if is_url(out):
        raise ValueError(f"write_shards writes to a local folder, got {out}; copy the folder to the object store")


def _write_tars(
    manifest: Path,
    out: Path,
    items: Iterable[ManifestItem],
    groups: list[str],
    samples_per_shard: int,
    on_error: OnError,
) -> tuple[list[ShardInfo], int]:
    """Pack ``items`` into ``shard-000000.tar``... in ``out``; returns the tars and the count of items skipped.

    A tar is complete at ``samples_per_shard`` samples or at the end of ``items``; on an error, the tar being
    written is removed.
    """
    group_index = {name: i for i, name in enumerate(groups)}
    shards: list[ShardInfo] = []
    skipped = 0
    writer: _ShardWriter | None = None
    try:
        for index, item in enumerate(items):
            members = _sample_or_skip(manifest, item, index, group_index[item.group or item.id], on_error)
            if members is None:
                skipped += 1
                continue
            if writer is None:
                writer = _ShardWriter(out, f"shard-{len(shards):06d}.tar")
            writer.add(members)
            if writer.count == samples_per_shard:
                shards.append(writer.finish())
                writer = None
        if writer is not None:
            shards.append(writer.finish())
            writer = None
    finally:
        if writer is not None:
            writer.abandon()
    return shards, skipped


def _sample_or_skip(
    manifest: Path, item: ManifestItem, index: int, group: int, on_error: OnError
) -> list[tuple[str, bytes]] | None:
    """:func:`_sample_members`, or None (logged) when a file cannot be read and ``on_error`` is ``skip``."""
    try:
        return _sample_members(manifest, item, index, group)
    except ManifestError as err:
        if on_error == "raise":
            raise
        log.warning("skipping: %s", err)
        return None


def _check_modalities(modalities: Sequence[str]) -> list[Modality]:
    if isinstance(modalities, str):
        raise TypeError(f"modalities must be a list of names, got the string {modalities!r}")
    wanted: list[Modality] = []
    for name in modalities:
        try:
            modality = Modality(name)
        except ValueError:
            raise ValueError(f"unknown modality {name!r}; shards hold {[str(m) for m in SHARDABLE]}") from None
        if modality == Modality.GRAPH:
            raise ValueError(
                "graph inputs cannot be sharded: a graph input is a GraphBatch cut from a whole graph file "
                "(unibind.graphs), not a per-item file; shards hold text, image, audio and motion"
            )
        if modality not in wanted:
            wanted.append(modality)
    if not wanted:
        raise ValueError("no modalities given")
    return wanted


def _sample_members(manifest: Path, item: ManifestItem, index: int, group: int) -> list[tuple[str, bytes]]:
    """``(member name, bytes)`` of one sample: the ``.json`` first, then the files by modality name."""
    key = f"{index:0{KEY_DIGITS}d}"
    meta: dict[str, Any] = {"id": item.id, "index": index, "group": group}
    files = []
    for modality in sorted(item.fields):
        value = item.fields[modality]
        if modality == Modality.TEXT:
            meta["text"] = list(value)
            continue
        path = Path(value)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ManifestError(
                f"{manifest}, row {item.row} (id {item.id}), field '{modality}': cannot read {path}: {err}"
            ) from err
        suffix = path.suffix.lower()
        if not SUFFIX.fullmatch(suffix):
            suffix = ""  # an odd suffix (spaces, dots, non-ASCII) would confuse readers splitting member names
        files.append((f"{key}.{modality}{suffix}", data))
    meta_bytes = json.dumps(meta, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return [(f"{key}.json", meta_bytes), *files]


class _ShardWriter:
    """One tar file written under a temporary name in ``out``, renamed to ``name`` by :meth:`finish`."""

    def __init__(self, out: Path, name: str) -> None:
        self.out, self.name, self.count = out, name, 0
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
        self.temporary = Path(temporary)
        self.file = os.fdopen(handle, "wb")
        self.tar = tarfile.open(fileobj=self.file, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def add(self, members: list[tuple[str, bytes]]) -> None:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self.tar.addfile(info, io.BytesIO(data))
        self.count += 1

    def finish(self) -> ShardInfo:
        self.tar.close()
        self.file.close()
        sha256, nbytes = sha256_file(self.temporary), self.temporary.stat().st_size
        replace_atomically(self.temporary, self.out / self.name)
        return ShardInfo(self.name, self.count, sha256, nbytes)

    def abandon(self) -> None:
        self.tar.close()
        self.file.close()
        self.temporary.unlink(missing_ok=True)


def _write_index(out: Path, shard_set: ShardSet, source: str) -> None:
    index = {
        "format": FORMAT,
        "version": VERSION,
        "modalities": shard_set.modalities,
        "groups": shard_set.groups,
        "skipped": shard_set.skipped,
        "shards": [
            {"name": s.name, "count": s.count, "sha256": s.sha256, "nbytes": s.nbytes} for s in shard_set.shards
        ],
        "source": source,
    }
    text = json.dumps(index, ensure_ascii=False, indent=1) + "\n"
    atomic_write_text(out / SHARD_INDEX, text)


def _warn_stale(out: Path, shards: list[ShardInfo]) -> None:
    current = {s.name for s in shards}
    stale = sorted(p.name for p in out.glob("shard-*.tar") if p.name not in current)
    if stale:
        log.warning("%s: %d shard files are not in %s (left from an earlier run): %s", out, len(stale), SHARD_INDEX,
                    ", ".join(stale[:5]))  # fmt: skip
