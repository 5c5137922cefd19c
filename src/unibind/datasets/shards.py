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
import random
import re
import tarfile
import zlib
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import soundfile
from PIL import Image

from unibind.datasets.shard_index import SHARD_INDEX, ShardInfo, ShardSet, is_count, is_url, join_location, parse_index
from unibind.datasets.text_files import ManifestError
from unibind.modalities import InputError, Modality, ModalitySpec
from unibind.motion.arrays import read_npy

log = logging.getLogger(__name__)

KEY_DIGITS = 12
SUFFIX = re.compile(r"\.[a-z0-9_+-]{1,16}")


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


@contextmanager
def _open_binary(path_or_url: str) -> Iterator[IO[bytes]]:
    """A readable binary file: through ``fsspec.open`` for URLs, a plain file for local paths."""
    if is_url(path_or_url):
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
    return is_url(location) or (Path(location) / SHARD_INDEX).is_file()


def open_shards(location: str | Path) -> ShardSet:
    """Read and check the ``shards.json`` of a shard folder: a local path or an fsspec URL.

    Raises:
        FileNotFoundError: no ``shards.json`` at ``location`` (not a shard folder, or its writing did not finish).
        ValueError: ``shards.json`` is not valid; the message names the file and the field.
    """
    location = str(location)
    index_path = join_location(location, SHARD_INDEX)
    missing = f"{location}: no {SHARD_INDEX} (not a shard folder, or writing its shards did not finish)"
    if not is_url(location) and not Path(index_path).is_file():
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
    return parse_index(index, index_path, location)


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
    cursor = _TarCursor(source, {m for m in shards.modalities if m != Modality.TEXT})
    with _open_binary(source) as raw:
        reader = _HashingReader(raw)
        try:
            with tarfile.open(fileobj=reader, mode="r|*") as tar:
                stopped = yield from _read_samples(tar, cursor, start, stop)
        except (tarfile.TarError, EOFError, zlib.error) as err:
            after = f" after member {cursor.last!r}" if cursor.last else ""
            raise ManifestError(f"{source}: truncated or corrupt tar{after}: {err}") from err
        if not stopped:
            _check_whole_shard(source, info, cursor.position + 1, reader)


@dataclass
class _TarCursor:
    """Where a front-to-back read of the shard ``source`` stands.

    ``position``, ``key`` and ``members`` (extension -> ``(member name, bytes)``) are the current sample's
    (``-1``, None and empty before the first); ``seen`` holds every key met so far, ``last`` the last member name.
    """

    source: str
    file_modalities: set[str]
    position: int = -1
    key: str | None = None
    members: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    last: str | None = None

    def finished(self, start: int) -> Iterator[ShardRecord]:
        """The sample read so far, as a record, when there is one and it is at or after ``start``."""
        if self.key is not None and self.position >= start:
            yield _record(self.source, self.position, self.key, self.members)

    def begin(self, key: str) -> None:
        """Move on to the next sample, ``key``; a key met before means a sample split by another's members."""
        if key in self.seen:
            raise ManifestError(f"{self.source}: sample {key} is split by another sample's members")
        self.seen.add(key)
        self.position, self.key, self.members = self.position + 1, key, {}

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo, extension: str) -> None:
        """Read ``member``'s data into the current sample, under ``extension``."""
        if extension in self.members:
            raise ManifestError(f"{self.source}: sample {self.key} has two members {member.name!r}")
        handle = tar.extractfile(member)
        assert handle is not None  # a regular file always has data
        self.members[extension] = (member.name, handle.read())


def _read_samples(
    tar: tarfile.TarFile, cursor: _TarCursor, start: int, stop: int | None
) -> Generator[ShardRecord, None, bool]:
    """Yield the records ``start <= position < stop`` of ``tar``; return True when ``stop`` ended the read early."""
    for member in tar:
        cursor.last = member.name
        if not member.isfile():
            raise ManifestError(f"{cursor.source}: member {member.name!r} is not a regular file")
        member_key, extension = _split_member(member.name, cursor.source, cursor.file_modalities)
        if member_key != cursor.key:
            yield from cursor.finished(start)
            cursor.begin(member_key)
            if stop is not None and cursor.position >= stop:
                return True
        if cursor.position >= start:
            cursor.add(tar, member, extension)  # else not read: tarfile passes over the member's data
    yield from cursor.finished(start)
    return False


def _check_whole_shard(source: str, info: ShardInfo, count: int, reader: _HashingReader) -> None:
    """After the last sample: the shard's ``count`` samples, size and sha256 against ``shards.json``'s ``info``."""
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
    for name in ("index", "group"):
        if not is_count(meta.get(name)):
            return f"'{name}' must be a non-negative integer, got {meta.get(name)!r}"
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
        return read_npy(io.BytesIO(data), item)
    raise InputError(f"{item}: shards carry no files of modality {modality!r}")
