"""Paired data as WebDataset tar shards, for corpora larger than one disk or streamed from an object store.

Why WebDataset: it is the shard format that open_clip, img2dataset and DataComp train from. A shard is a plain
tar file, readable by ``tar``, by the ``webdataset`` package and by one streaming GET from any object store
(no seeking, no random access, no per-file requests). One sample is the run of consecutive members that share
a key, the member name up to its first dot.

Layout of a shard folder (a local folder, or the same files copied to ``s3://``, ``gs://``, ``https://``...)::

    shards.json            # the index, written last: a folder without it is incomplete
    shard-000000.tar       # samples_per_shard samples each, the last one possibly fewer
    shard-000001.tar
    ...

Members of one sample, in this order (``key`` is the item's position in the manifest, zero-padded to 12
digits, so keys never contain dots)::

    000000000012.json          # {"id": "cat-1", "index": 12, "group": 3, "text": ["a cat", ...]}
    000000000012.audio.wav     # {key}.{modality}{original suffix, lower-cased}, for each file modality
    000000000012.image.png
    000000000012.motion.npy

Captions live in the ``.json`` member only; ``group`` indexes the ``groups`` list of ``shards.json`` (names
sorted, as :class:`~unibind.datasets.manifest.ManifestDataset` numbers them). ``shards.json`` holds
``{"format": "unibind-webdataset", "version": 1, "modalities", "groups", "skipped", "shards": [{"name",
"count", "sha256", "nbytes"}, ...], "source"}``.

Graphs are not sharded: a graph input is a :class:`~unibind.modalities.GraphBatch` cut from a whole graph
file by :mod:`unibind.graphs.sampling`, not a per-item file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import re
import tarfile
import tempfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import soundfile
from PIL import Image
from tqdm import tqdm

from unibind.datasets.manifest import ManifestError, ManifestItem, OnError, read_manifest
from unibind.modalities import InputError, Modality, ModalitySpec

log = logging.getLogger(__name__)

SHARD_INDEX = "shards.json"
FORMAT = "unibind-webdataset"
VERSION = 1
KEY_DIGITS = 12
SHARDABLE = (Modality.TEXT, Modality.IMAGE, Modality.AUDIO, Modality.MOTION)

_SHARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SUFFIX = re.compile(r"\.[a-z0-9_+-]{1,16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class ShardInfo:
    """One tar file of a shard folder: its file ``name``, ``count`` samples, ``sha256`` and size ``nbytes``."""

    name: str
    count: int
    sha256: str
    nbytes: int


@dataclass
class ShardSet:
    """A shard folder, as described by its ``shards.json``.

    Attributes:
        location: the folder: a local path or an fsspec URL (``file://``, ``s3://``, ``gs://``, ``https://``,
            ``memory://``).
        shards: the tar files in order.
        modalities: the modalities the shards were written with (a sample carries any subset of them).
        groups: group names; a sample's ``"group"`` int indexes this list.
        skipped: manifest rows left out when the shards were written (``on_error="skip"``).
    """

    location: str
    shards: list[ShardInfo]
    modalities: list[str]
    groups: list[str]
    skipped: int

    @property
    def total(self) -> int:
        """Samples in all shards."""
        return sum(shard.count for shard in self.shards)

    def url(self, shard: int) -> str:
        """The path or URL of ``shards[shard]``: ``location`` joined with its name."""
        return _join(self.location, self.shards[shard].name)


@dataclass
class ShardRecord:
    """One sample as stored, not yet decoded.

    Attributes:
        source: the shard's path or URL, for error messages.
        position: the sample's position within the shard (0-based).
        key: the WebDataset key (member name before the first dot), e.g. ``"000000000012"``.
        meta: the decoded ``.json`` member: ``{"id": str, "index": int, "group": int, "text": list[str]}``
            (``text`` only when the item has captions).
        files: modality -> ``(suffix, raw bytes)``, the suffix being the original file's (``".png"``) or ``""``.
    """

    source: str
    position: int
    key: str
    meta: dict[str, Any]
    files: dict[str, tuple[str, bytes]]


def _is_url(location: str | Path) -> bool:
    return "://" in str(location)


def _join(location: str | Path, name: str) -> str:
    if _is_url(location):
        return str(location).rstrip("/") + "/" + name
    return os.path.join(str(location), name)


@contextmanager
def _open_binary(path_or_url: str) -> Iterator[IO[bytes]]:
    """A readable binary file: through ``fsspec.open`` for URLs, a plain file for local paths."""
    if _is_url(path_or_url):
        import fsspec

        with fsspec.open(path_or_url, "rb") as handle:
            yield handle
    else:
        with open(path_or_url, "rb") as handle:
            yield handle


def is_shard_location(location: str | Path) -> bool:
    """True for a URL (anything with ``://``; not checked over the network) or a local folder holding ``shards.json``.

    Lets readers tell a shard folder from a manifest file.
    """
    return _is_url(location) or (Path(location) / SHARD_INDEX).is_file()


# writing


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
    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be at least 1, got {samples_per_shard}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be raise or skip, got {on_error!r}")
    if _is_url(out):
        raise ValueError(f"write_shards writes to a local folder, got {out}; copy the folder to the object store")
    out = Path(out)
    items, report = read_manifest(manifest, wanted, on_error)
    groups = sorted({item.group or item.id for item in items})  # as ManifestDataset numbers them
    group_index = {name: i for i, name in enumerate(groups)}

    out.mkdir(parents=True, exist_ok=True)
    (out / SHARD_INDEX).unlink(missing_ok=True)  # the folder is not usable while its shards are rewritten
    shards: list[ShardInfo] = []
    skipped = report.count
    writer: _ShardWriter | None = None
    bar = tqdm(items, desc=f"sharding {manifest.name}", unit="sample", disable=not progress)
    try:
        for index, item in enumerate(bar):
            try:
                members = _sample_members(manifest, item, index, group_index[item.group or item.id])
            except ManifestError as err:
                if on_error == "raise":
                    raise
                skipped += 1
                log.warning("skipping: %s", err)
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
    if not shards:
        raise ManifestError(f"{manifest}: no sample could be written ({skipped} rows skipped)")
    shard_set = ShardSet(str(out), shards, [str(m) for m in wanted], groups, skipped)
    _write_index(out, shard_set, manifest.name)
    _warn_stale(out, shards)
    return shard_set


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
        if not _SUFFIX.fullmatch(suffix):
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
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        sha256, nbytes = _file_digest(self.temporary)
        os.replace(self.temporary, self.out / self.name)
        return ShardInfo(self.name, self.count, sha256, nbytes)

    def abandon(self) -> None:
        self.tar.close()
        self.file.close()
        self.temporary.unlink(missing_ok=True)


def _file_digest(path: Path) -> tuple[str, int]:
    digest, nbytes = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            nbytes += len(chunk)
    return digest.hexdigest(), nbytes


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
    handle, temporary = tempfile.mkstemp(prefix=f".{SHARD_INDEX}.", suffix=".tmp", dir=out)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(index, file, ensure_ascii=False, indent=1)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, out / SHARD_INDEX)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _warn_stale(out: Path, shards: list[ShardInfo]) -> None:
    current = {s.name for s in shards}
    stale = sorted(p.name for p in out.glob("shard-*.tar") if p.name not in current)
    if stale:
        log.warning("%s: %d shard files are not in %s (left from an earlier run): %s", out, len(stale), SHARD_INDEX,
                    ", ".join(stale[:5]))  # fmt: skip


# reading


def open_shards(location: str | Path) -> ShardSet:
    """Read and check the ``shards.json`` of a shard folder: a local path or an fsspec URL.

    Raises:
        FileNotFoundError: no ``shards.json`` at ``location`` (not a shard folder, or its writing did not finish).
        ValueError: ``shards.json`` is not valid; the message names the file and the field.
    """
    location = str(location)
    index_path = _join(location, SHARD_INDEX)
    missing = f"{location}: no {SHARD_INDEX} (not a shard folder, or writing its shards did not finish)"
    if not _is_url(location) and not Path(index_path).is_file():
        raise FileNotFoundError(missing)
    try:
        with _open_binary(index_path) as handle:
            text = handle.read()
    except FileNotFoundError as err:
        raise FileNotFoundError(missing) from err
    try:
        index = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{index_path}: not valid JSON ({err})") from err
    return _parse_index(index, index_path, location)


def _parse_index(index: Any, where: str, location: str) -> ShardSet:
    def bad(field: str, expected: str, value: Any = None) -> ValueError:
        return ValueError(f"{where}: field '{field}' must be {expected}, got {value!r}")

    if not isinstance(index, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(index).__name__}")
    for field in ("format", "version", "modalities", "groups", "skipped", "shards"):
        if field not in index:
            raise ValueError(f"{where}: missing field '{field}'")
    if index["format"] != FORMAT:
        raise bad("format", repr(FORMAT), index["format"])
    if index["version"] != VERSION or isinstance(index["version"], bool):
        raise bad("version", f"{VERSION} (this unibind reads version {VERSION})", index["version"])
    modalities = index["modalities"]
    shardable = [str(m) for m in SHARDABLE]
    if not isinstance(modalities, list) or not modalities or not all(m in shardable for m in modalities):
        raise bad("modalities", f"a non-empty list of {shardable}", modalities)
    groups = index["groups"]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise bad("groups", "a list of strings", groups)
    if not _count(index["skipped"]):
        raise bad("skipped", "a non-negative integer", index["skipped"])
    if not isinstance(index["shards"], list) or not index["shards"]:
        raise bad("shards", "a non-empty list", index["shards"])
    shards = []
    for number, entry in enumerate(index["shards"]):
        field = f"shards[{number}]"
        if not isinstance(entry, dict):
            raise bad(field, "an object", entry)
        for key in ("name", "count", "sha256", "nbytes"):
            if key not in entry:
                raise ValueError(f"{where}: missing field '{field}.{key}'")
        name = entry["name"]
        if not isinstance(name, str) or not _SHARD_NAME.fullmatch(name):
            raise bad(f"{field}.name", "a plain file name (letters, digits, '.', '_', '-')", name)
        for key in ("count", "nbytes"):
            if not _count(entry[key]):
                raise bad(f"{field}.{key}", "a non-negative integer", entry[key])
        if not isinstance(entry["sha256"], str) or not _SHA256.fullmatch(entry["sha256"]):
            raise bad(f"{field}.sha256", "64 lower-case hex digits", entry["sha256"])
        shards.append(ShardInfo(name, entry["count"], entry["sha256"], entry["nbytes"]))
    return ShardSet(location, shards, list(modalities), list(groups), index["skipped"])


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _HashingReader:
    """A read-only stream that hashes and counts what passes through it (for the shard's sha256 and size)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.digest, self.nbytes = raw, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        self.nbytes += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def iter_records(shards: ShardSet, shard: int, start: int = 0, stop: int | None = None) -> Iterator[ShardRecord]:
    """Stream the samples ``start <= position < stop`` of ``shards.shards[shard]`` in order, undecoded.

    The tar is read front to back (``tarfile`` stream mode, no seeking), so this works over any fsspec
    URL; the bytes of samples before ``start`` stream past without being extracted or parsed. Members are
    never written to disk. When the shard is read to its end, its sample count, size and sha256 are
    checked against ``shards.json`` (a failure there is raised after the last sample was yielded).

    Raises:
        ManifestError: the tar is truncated or corrupt, or does not match ``shards.json``; a member has an
            unexpected name or is not a regular file; a sample has no ``.json`` or a malformed one. The
            message names the shard and the member or key.
    """
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    info = shards.shards[shard]
    source = shards.url(shard)
    if stop is not None and stop <= start:
        return
    file_modalities = {m for m in shards.modalities if m != Modality.TEXT}
    with _open_binary(source) as raw:
        reader = _HashingReader(raw)
        position, key, last = -1, None, None
        members: dict[str, tuple[str, bytes]] = {}
        seen: set[str] = set()
        try:
            with tarfile.open(fileobj=reader, mode="r|*") as tar:
                for member in tar:
                    last = member.name
                    if not member.isfile():
                        raise ManifestError(f"{source}: member {member.name!r} is not a regular file")
                    member_key, extension = _split_member(member.name, source, file_modalities)
                    if member_key != key:
                        if key is not None and position >= start:
                            yield _record(source, position, key, members)
                        if member_key in seen:
                            raise ManifestError(f"{source}: sample {member_key} is split by another sample's members")
                        seen.add(member_key)
                        position, key, members = position + 1, member_key, {}
                        if stop is not None and position >= stop:
                            return
                    if position < start:
                        continue  # not read: tarfile passes over the member's data
                    if extension in members:
                        raise ManifestError(f"{source}: sample {key} has two members {member.name!r}")
                    handle = tar.extractfile(member)
                    assert handle is not None  # a regular file always has data
                    members[extension] = (member.name, handle.read())
                if key is not None and position >= start:
                    yield _record(source, position, key, members)
        except (tarfile.TarError, EOFError, zlib.error) as err:
            after = f" after member {last!r}" if last else ""
            raise ManifestError(f"{source}: truncated or corrupt tar{after}: {err}") from err
        count = position + 1
        if count != info.count:
            raise ManifestError(
                f"{source}: holds {count} samples but {SHARD_INDEX} says {info.count} (truncated, or rewritten?)"
            )
        reader.drain()
        if reader.nbytes < info.nbytes:
            raise ManifestError(f"{source}: truncated: {reader.nbytes} bytes, {SHARD_INDEX} says {info.nbytes}")
        if reader.nbytes != info.nbytes or reader.digest.hexdigest() != info.sha256:
            raise ManifestError(
                f"{source}: {reader.nbytes} bytes with sha256 {reader.digest.hexdigest()}, but {SHARD_INDEX} says "
                f"{info.nbytes} bytes with sha256 {info.sha256} (damaged, or changed after it was indexed)"
            )


def _split_member(name: str, source: str, file_modalities: set[str]) -> tuple[str, str]:
    """``(key, extension)`` of a member name ``{key}.json`` or ``{key}.{modality}{suffix}``."""
    key, dot, extension = name.partition(".")
    if "/" not in name and key and dot:
        if extension == "json":
            return key, extension
        modality, _, rest = extension.partition(".")
        if modality in file_modalities and "." not in rest:
            return key, extension
    raise ManifestError(
        f"{source}: unexpected member {name!r}; expected KEY.json or KEY.MODALITY.SUFFIX "
        f"with MODALITY one of {sorted(file_modalities)}"
    )


def _record(source: str, position: int, key: str, members: dict[str, tuple[str, bytes]]) -> ShardRecord:
    if "json" not in members:
        raise ManifestError(f"{source}: sample {key} has no {key}.json member")
    name, data = members.pop("json")
    try:
        meta = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(f"{source}: member {name!r} is not valid JSON ({err})") from err
    if not isinstance(meta, dict):
        raise ManifestError(f"{source}: member {name!r} must hold a JSON object, got {type(meta).__name__}")
    problem = _meta_problem(meta)
    if problem:
        raise ManifestError(f"{source}: member {name!r}: {problem}")
    files = {}
    for extension, (_, payload) in members.items():
        modality, dot, rest = extension.partition(".")
        files[modality] = (dot + rest, payload)
    return ShardRecord(source, position, key, meta, files)


def _meta_problem(meta: dict[str, Any]) -> str | None:
    if not isinstance(meta.get("id"), str) or not meta["id"]:
        return f"'id' must be a non-empty string, got {meta.get('id')!r}"
    for field in ("index", "group"):
        if not _count(meta.get(field)):
            return f"'{field}' must be a non-negative integer, got {meta.get(field)!r}"
    text = meta.get("text")
    if text is not None and (not isinstance(text, list) or not text or not all(isinstance(t, str) for t in text)):
        return f"'text' must be a non-empty list of strings, got {text!r}"
    return None


# decoding


def decode_record(
    record: ShardRecord, specs: Mapping[str, ModalitySpec], text_sampling: Literal["random", "first"]
) -> dict[str, Any]:
    """Load a record through modality specs, as :meth:`ManifestDataset.__getitem__` loads a manifest item.

    Returns ``{"id": str, "index": int, "group": int, "inputs": {modality: sample}}`` for the modalities of
    ``specs`` that the record carries (``inputs`` is empty when it carries none of them; callers drop such
    samples). Text: a caption drawn with the module-level ``random.choice`` (``text_sampling="random"``; seed
    ``random`` to repeat it) or the first. Files are decoded from memory: images with PIL, audio with
    soundfile, motion with ``np.load(allow_pickle=False)``.

    Raises:
        InputError: a member fails to decode or its spec refuses it; the message names the shard, the key,
            the item id and the modality (``s3://b/shard-000003.tar, sample 000000000012 (id cat-1), image:
            cannot decode ...``). The caller decides whether to skip the sample.
    """
    where = f"{record.source}, sample {record.key} (id {record.meta.get('id')})"
    inputs: dict[str, Any] = {}
    for modality, spec in specs.items():
        item = f"{where}, {modality}"
        if modality == Modality.TEXT:
            captions = record.meta.get("text")
            if not captions:
                continue
            raw: Any = random.choice(captions) if text_sampling == "random" else captions[0]
        elif modality in record.files:
            raw = _decode_file(str(modality), record.files[modality][1], item)
        else:
            continue
        inputs[str(modality)] = spec.load(raw, item=item)
    return {"id": record.meta["id"], "index": record.meta["index"], "group": record.meta["group"], "inputs": inputs}


def _decode_file(modality: str, data: bytes, item: str) -> Any:
    """The raw value a spec takes, decoded from a member's bytes: a PIL image, ``(samples, rate)`` or an array."""
    if modality == Modality.IMAGE:
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise InputError(f"{item}: cannot decode image: {err}") from err
        return image
    if modality == Modality.AUDIO:
        try:
            samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
        except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as err:
            raise InputError(f"{item}: cannot decode audio: {err}") from err
        return samples, int(rate)
    if modality == Modality.MOTION:
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise InputError(f"{item}: cannot decode motion (a plain .npy array): {err}") from err
        if not isinstance(array, np.ndarray):
            raise InputError(f"{item}: cannot decode motion: expected one .npy array, got {type(array).__name__}")
        return array
    raise InputError(f"{item}: shards carry no files of modality {modality!r}")
