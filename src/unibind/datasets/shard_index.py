"""A shard folder as its index ``shards.json`` describes it, and the parsing and checks of that index.

The layout of a shard folder and of ``shards.json`` is described in :mod:`unibind.datasets.shards`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unibind.modalities import Modality

SHARD_INDEX = "shards.json"
FORMAT = "unibind-webdataset"
VERSION = 1
SHARDABLE = (Modality.TEXT, Modality.IMAGE, Modality.AUDIO, Modality.MOTION)

_SHARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("format", "version", "modalities", "groups", "skipped", "shards")
_SHARD_FIELDS = ("name", "count", "sha256", "nbytes")


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
        return join_location(self.location, self.shards[shard].name)


def is_url(location: str | Path) -> bool:
    """A location with a scheme (``s3://``, ``file://``...), read through fsspec; anything else is a local path."""
    return "://" in str(location)


def join_location(location: str | Path, name: str) -> str:
    """The file ``name`` in the folder ``location``: joined with ``/`` for a URL, with ``os.path.join`` for a path."""
    if is_url(location):
        return str(location).rstrip("/") + "/" + name
    return os.path.join(str(location), name)


def is_count(value: Any) -> bool:
    """A non-negative ``int`` (``bool`` excluded)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_index(index: Any, where: str, location: str) -> ShardSet:
    """The :class:`ShardSet` at ``location`` that ``index``, the decoded JSON of ``shards.json``, describes.

    Raises:
        ValueError: ``index`` is not valid; the message names ``where`` (the file it was read from) and the field.
    """
    if not isinstance(index, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(index).__name__}")
    _require(index, _FIELDS, where, prefix="")
    _check_header(index, where)
    shards = []
    for number, entry in enumerate(index["shards"]):
        _check_shard(entry, f"shards[{number}]", where)
        shards.append(ShardInfo(entry["name"], entry["count"], entry["sha256"], entry["nbytes"]))
    return ShardSet(location, shards, list(index["modalities"]), list(index["groups"]), index["skipped"])


def _bad(where: str, field: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{where}: field '{field}' must be {expected}, got {value!r}")


def _require(entry: Mapping[str, Any], fields: Iterable[str], where: str, prefix: str) -> None:
    """Every one of ``fields`` is in ``entry``; a missing one is named ``{prefix}{field}``."""
    for field in fields:
        if field not in entry:
            raise ValueError(f"{where}: missing field '{prefix}{field}'")


def _check_header(index: dict[str, Any], where: str) -> None:
    """The top-level fields: format, version, modalities, groups, skipped, and a non-empty list of shards."""
    if index["format"] != FORMAT:
        raise _bad(where, "format", repr(FORMAT), index["format"])
    if index["version"] != VERSION or isinstance(index["version"], bool):
        raise _bad(where, "version", f"{VERSION} (this unibind reads version {VERSION})", index["version"])
    modalities = index["modalities"]
    shardable = [str(m) for m in SHARDABLE]
    if not isinstance(modalities, list) or not modalities or not all(m in shardable for m in modalities):
        raise _bad(where, "modalities", f"a non-empty list of {shardable}", modalities)
    groups = index["groups"]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise _bad(where, "groups", "a list of strings", groups)
    if not is_count(index["skipped"]):
        raise _bad(where, "skipped", "a non-negative integer", index["skipped"])
    if not isinstance(index["shards"], list) or not index["shards"]:
        raise _bad(where, "shards", "a non-empty list", index["shards"])


def _check_shard(entry: Any, field: str, where: str) -> None:
    """One entry of ``shards`` (named ``field``, e.g. ``shards[3]``): name, count, sha256, nbytes."""
    if not isinstance(entry, dict):
        raise _bad(where, field, "an object", entry)
    _require(entry, _SHARD_FIELDS, where, prefix=f"{field}.")
    name = entry["name"]
    if not isinstance(name, str) or not _SHARD_NAME.fullmatch(name):
        raise _bad(where, f"{field}.name", "a plain file name (letters, digits, '.', '_', '-')", name)
    for key in ("count", "nbytes"):
        if not is_count(entry[key]):
            raise _bad(where, f"{field}.{key}", "a non-negative integer", entry[key])
    if not isinstance(entry["sha256"], str) or not _SHA256.fullmatch(entry["sha256"]):
        raise _bad(where, f"{field}.sha256", "64 lower-case hex digits", entry["sha256"])
