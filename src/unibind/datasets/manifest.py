"""Paired-data manifests: JSONL or CSV rows of ``id`` plus per-modality text or file paths.

JSONL row: ``{"id": "cat-1", "image": "images/cat-1.png", "text": ["a cat", "a small cat"], "group": "cat"}``.
CSV (or TSV): a header with ``id`` and modality columns. File paths are relative to the manifest's folder and
may not leave it (``..``, absolute paths and symbolic links leading outside are refused). ``group`` (optional,
a string or an integer) marks items that are positives of one another. Other fields are metadata
(``label``, ``category``, ``split``, ...): callers may read them (e.g. zero-shot ``--label-field``), the
reader leaves them alone.

Input policy (every refusal is a :class:`ManifestError` naming the file and the row; with
``on_error="skip"`` the row is dropped and counted in the :class:`SkipReport` instead, and reading goes on):

- Files are UTF-8; a UTF-8 byte-order mark at the start is accepted. A line that is not valid UTF-8 is a
  bad row; a UTF-16 file is refused as a whole.
- A JSONL line that is not JSON, not an object, or repeats a key is a bad row.
- A CSV/TSV record with more (non-empty) fields than the header, or with broken quoting (``strict`` CSV),
  is a bad row; a quote that is never closed makes only its own line bad. Missing trailing fields are
  empty. A header that repeats a column is refused.
- The ``id`` must be a non-empty string or integer.
- Rows sharing an ``id`` are merged, their texts becoming several captions (``duplicate_ids="merge"``,
  the default); each merged row is counted in ``SkipReport.merged_ids`` and a warning says how many.
  A repeat that names a different file or group for the id is a bad row. ``duplicate_ids="error"`` makes
  every repeat a bad row.
- Fields that look like a modality name but are not one unibind reads are counted per name in
  ``SkipReport.unknown_fields`` and warned about: case or spacing variants (``Image``), plurals
  (``images``), one-letter typos (``imgae``, ``txt``) and names of modalities unibind does not read
  (:data:`UNREAD_MODALITY_NAMES`: ``video``, ``depth``, ...). Modality names that the caller did not ask for
  (``audio`` when reading text and image) and other metadata fields are normal and not reported.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from unibind.modalities import InputError, Modality, ModalitySpec

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
DuplicateIds = Literal["merge", "error"]

#: Field names taken for a modality unibind does not read: warned about, never silently ignored.
UNREAD_MODALITY_NAMES = frozenset(
    {"video", "depth", "thermal", "imu", "vision", "point_cloud", "pointcloud", "img", "picture", "photo", "sound"}
)
MODALITY_NAMES = frozenset(str(m) for m in Modality)


class ManifestError(ValueError):
    """A manifest row is malformed; the message names the file, the row and the field."""


@dataclass
class ManifestItem:
    """One row: an id, raw values per modality (texts: a list of captions; files: resolved paths)."""

    id: str
    row: int
    fields: dict[str, Any]
    group: str | None = None


@dataclass
class SkipReport:
    """What a reader did not take as given: rows dropped with ``on_error="skip"`` (``count``, the first
    ``reasons``), rows merged into an earlier row with the same id (``merged_ids``) and, per field name, how
    many rows carry a field that looks like a modality name but is not read (``unknown_fields``)."""

    count: int = 0
    reasons: list[str] = field(default_factory=list)
    merged_ids: int = 0
    unknown_fields: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str) -> None:
        self.count += 1
        if len(self.reasons) < 20:
            self.reasons.append(reason)

    def note_field(self, name: str) -> None:
        self.unknown_fields[name] = self.unknown_fields.get(name, 0) + 1


@lru_cache(maxsize=4096)
def looks_like_modality(name: str) -> bool:
    """True for a field name that is probably meant as a modality: a case or spacing variant, a plural, a
    one-letter typo (substitution, deletion, swap) of a modality name, or one of :data:`UNREAD_MODALITY_NAMES`.
    (A modality name itself is True too; callers decide whether they read it.)"""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in UNREAD_MODALITY_NAMES:
        return True
    return len(key) >= 3 and any(key in (m, m + "s") or _one_typo(key, m) for m in MODALITY_NAMES)


def _one_typo(typed: str, meant: str) -> bool:
    if len(typed) == len(meant):
        diff = [i for i, (a, b) in enumerate(zip(typed, meant, strict=True)) if a != b]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and typed[diff[0]] == meant[diff[1]]
            and typed[diff[1]] == meant[diff[0]]
        )
    if len(typed) == len(meant) - 1:
        return any(meant[:i] + meant[i + 1 :] == typed for i in range(len(meant)))
    return False


def read_manifest(
    path: str | Path,
    modalities: Sequence[str],
    on_error: OnError = "raise",
    duplicate_ids: DuplicateIds = "merge",
) -> tuple[list[ManifestItem], SkipReport]:
    """Read and check a manifest: every row has an id and at least one of ``modalities``, files exist inside the folder.

    Returns the items and a report of the rows skipped (``count`` is 0 with ``on_error="raise"``), merged
    and carrying modality-like fields that are not read (see the module's input policy).
    """
    path = Path(path)
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be raise or skip, got {on_error!r}")
    if duplicate_ids not in ("merge", "error"):
        raise ValueError(f"duplicate_ids must be merge or error, got {duplicate_ids!r}")
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    wanted = [Modality(m) for m in modalities]
    root = path.parent.resolve()
    skipped = SkipReport()

    def bad(error: ManifestError) -> None:
        if on_error == "raise":
            raise error
        skipped.add(str(error))

    items: dict[str, ManifestItem] = {}
    for row_number, row in _rows(path, bad):
        for name in row:
            if name not in MODALITY_NAMES and looks_like_modality(name):
                skipped.note_field(name)
        try:
            item = _parse_row(path, root, row_number, row, wanted)
            first = items.get(item.id)
            if first is None:
                items[item.id] = item
            elif duplicate_ids == "error":
                raise ManifestError(f"{path}, row {row_number}: id {item.id!r} repeats row {first.row}")
            else:
                _merge(first, item, path)
                skipped.merged_ids += 1
        except ManifestError as err:
            bad(err)
    if skipped.count:
        log.warning("%s: skipped %d rows (on_error=skip); first: %s", path, skipped.count, skipped.reasons[0])
    if skipped.merged_ids:
        log.warning(
            "%s: %d rows repeat an earlier row's id and were merged into it (texts become extra captions)",
            path,
            skipped.merged_ids,
        )
    if skipped.unknown_fields:
        counts = ", ".join(f"{name!r} ({n} rows)" for name, n in skipped.unknown_fields.items())
        log.warning(
            "%s: fields that look like modality names are not read: %s; modality fields are %s",
            path,
            counts,
            ", ".join(sorted(MODALITY_NAMES)),
        )
    if not items:
        first = f"; first: {skipped.reasons[0]}" if skipped.count else ""
        raise ManifestError(f"{path}: no usable rows ({skipped.count} skipped{first})")
    return list(items.values()), skipped


OnBad = Callable[[ManifestError], None]


def _fail(error: ManifestError, on_bad: OnBad | None) -> None:
    if on_bad is None:
        raise error
    on_bad(error)


def _decoded_lines(
    path: Path, unit: str, error: type[ManifestError]
) -> Iterator[tuple[int, str, ManifestError | None]]:
    """``(line number, text with its line break, problem)`` for every physical line of ``path``.

    Lines split at ``\\n``, ``\\r\\n`` and ``\\r`` (never inside a line, unlike ``str.splitlines``); a UTF-8
    byte-order mark at the start is dropped; a line that is not valid UTF-8 comes with a problem naming it
    (its text then has replacement characters). A UTF-16 file is refused as a whole.
    """
    number = 0
    with path.open("rb") as handle:
        for chunk in handle:
            for raw in chunk.splitlines(keepends=True):
                number += 1
                if number == 1:
                    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                        raise error(f"{path}: starts with a UTF-16 byte-order mark; expected UTF-8 text")
                    if raw.startswith(codecs.BOM_UTF8):
                        raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    text, problem = raw.decode("utf-8"), None
                except UnicodeDecodeError as err:
                    column = len(raw[: err.start].decode("utf-8", "replace")) + 1
                    text = raw.decode("utf-8", "replace")
                    problem = error(
                        f"{path}, {unit} {number}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {column})"
                    )
                yield number, text, problem


def read_lines(
    path: str | Path, unit: str = "line", on_bad: OnBad | None = None, error: type[ManifestError] = ManifestError
) -> Iterator[tuple[int, str]]:
    """``(line number, text without its line break)`` for every line of a UTF-8 text file (BOM accepted).

    A line that is not valid UTF-8 raises ``error`` naming the file and the ``unit`` number, or, with
    ``on_bad``, is passed to it (which may raise, or count it) and left out.
    """
    path = Path(path)
    for number, text, problem in _decoded_lines(path, unit, error):
        if problem is not None:
            _fail(problem, on_bad)
            continue
        yield number, text.rstrip("\r\n")


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def parse_json(text: str, where: str, error: type[ManifestError] = ManifestError) -> Any:
    """``text`` as JSON; invalid JSON or an object that repeats a key raises ``error`` naming ``where``."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        at = f"line {err.lineno}, column {err.colno}" if "\n" in text.strip() else f"column {err.colno}"
        raise error(f"{where}: not valid JSON ({err.msg} at {at})") from err
    except _DuplicateKeyError as err:
        raise error(f"{where}: key {err.key!r} appears twice in one JSON object (one value would be lost)") from None


def read_json(path: str | Path, error: type[ManifestError] = ManifestError) -> Any:
    """A whole JSON document (UTF-8, BOM accepted); bad bytes or JSON raise ``error`` naming file and line."""
    path = Path(path)
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise error(f"{path}: starts with a UTF-16 byte-order mark; expected UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise error(f"{path}, line {line}: not valid UTF-8 (byte 0x{data[err.start]:02x})") from None
    return parse_json(text, str(path), error)


def _iter_jsonl(
    path: Path, unit: str, on_bad: OnBad | None, error: type[ManifestError]
) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line, problem in _decoded_lines(path, unit, error):
        try:
            if problem is not None:
                raise problem
            if not line.strip():
                continue
            row = parse_json(line.rstrip("\r\n"), f"{path}, {unit} {number}", error)
            if not isinstance(row, dict):
                raise error(f"{path}, {unit} {number}: expected a JSON object, got {type(row).__name__}")
        except ManifestError as err:
            _fail(err, on_bad)
            continue
        yield number, row


def read_jsonl(
    path: Path, unit: str = "row", on_bad: OnBad | None = None, error: type[ManifestError] = ManifestError
) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a JSONL file (UTF-8, BOM accepted).

    A line that is not valid UTF-8, not JSON, not a JSON object, or an object repeating a key raises
    ``error`` naming the file and the ``unit`` (``row`` or ``line``) number; with ``on_bad`` the error is
    passed to it instead (it may raise, or count the line) and reading goes on.
    """
    return list(_iter_jsonl(Path(path), unit, on_bad, error))


class _Lines:
    """Decoded lines for ``csv.reader``, remembering line numbers, undecodable lines and a record's lines
    (which can be fed again after a quoting error)."""

    def __init__(self, decoded: Iterator[tuple[int, str, ManifestError | None]]) -> None:
        self.decoded = decoded
        self.pending: deque[tuple[int, str, ManifestError | None]] = deque()
        self.record: list[tuple[int, str, ManifestError | None]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.pending.popleft() if self.pending else next(self.decoded)
        self.record.append(line)
        return line[1]

    def take_record(self) -> list[tuple[int, str, ManifestError | None]]:
        record, self.record = self.record, []
        return record


def read_table(
    path: str | Path,
    delimiter: str = ",",
    unit: str = "row",
    on_bad: OnBad | None = None,
    error: type[ManifestError] = ManifestError,
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and ``(line number, {column: value})`` records of a CSV/TSV file (UTF-8, BOM accepted).

    The header is read now: an undecodable or malformed header, or one repeating a column, raises
    ``error`` (an empty file gives an empty header). Records are read lazily; a record with an undecodable
    line, broken quoting (a quote never closed makes only its first line bad: the lines after it are read
    again), or more non-empty fields than the header raises ``error`` naming the file and the ``unit``
    number of its first line, or, with ``on_bad``, is passed to it and left out. Missing trailing fields
    are left out of the record's dict; blank lines are skipped.
    """
    path = Path(path)
    lines = _Lines(_decoded_lines(path, unit, error))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] = []
    while not header:
        try:
            header = next(reader)
        except StopIteration:
            return [], iter(())
        except csv.Error as err:
            raise error(f"{path}, {unit} {lines.record[0][0]}: malformed header ({err})") from err
        record = lines.take_record()
        problem = next((p for _, _, p in record if p is not None), None)
        if problem is not None:
            raise problem
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise error(f"{path}: the header repeats column(s) {repeated}")
    return header, _table_records(path, header, lines, reader, delimiter, unit, on_bad, error)


def _table_records(
    path: Path,
    header: list[str],
    lines: _Lines,
    reader: Any,
    delimiter: str,
    unit: str,
    on_bad: OnBad | None,
    error: type[ManifestError],
) -> Iterator[tuple[int, dict[str, str]]]:
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            record = lines.take_record()
            lines.pending.extendleft(reversed(record[1:]))
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            where = f"{path}, {unit} {record[0][0]}" if record else str(path)
            _fail(error(f"{where}: malformed CSV ({err}; check this record's quotes)"), on_bad)
            continue
        record = lines.take_record()
        if not values:
            continue
        number = record[0][0]
        problem = next((p for _, _, p in record if p is not None), None)
        if problem is not None:
            _fail(problem, on_bad)
            continue
        if any(v.strip() for v in values[len(header) :]):
            message = f"{len(values)} fields but the header has {len(header)} (quote values holding the delimiter)"
            _fail(error(f"{path}, {unit} {number}: {message}"), on_bad)
            continue
        yield number, dict(zip(header, values, strict=False))


def _rows(path: Path, on_bad: OnBad) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix == ".jsonl":
        return _iter_jsonl(path, "row", on_bad, ManifestError)
    if path.suffix in (".csv", ".tsv"):
        header, records = read_table(path, "\t" if path.suffix == ".tsv" else ",", "row", on_bad)
        if "id" not in header:
            raise ManifestError(f"{path}: the header must have an 'id' column, got {header}")
        return ((number, {k: v for k, v in row.items() if v != ""}) for number, row in records)
    raise ManifestError(f"{path}: unknown manifest format {path.suffix!r}; expected .jsonl, .csv or .tsv")


def _parse_row(path: Path, root: Path, number: int, row: dict[str, Any], wanted: list[Modality]) -> ManifestItem:
    where = f"{path}, row {number}"
    item_id = row.get("id")
    if item_id is None or str(item_id).strip() == "":
        raise ManifestError(f"{where}: missing 'id'")
    if isinstance(item_id, bool) or not isinstance(item_id, str | int):
        raise ManifestError(f"{where}, field 'id': expected a string or an integer, got {item_id!r}")
    fields: dict[str, Any] = {}
    for modality in wanted:
        value = row.get(str(modality))
        if value is None:
            continue
        if modality == Modality.TEXT:
            texts = value if isinstance(value, list) else [value]
            if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
                raise ManifestError(f"{where}, field 'text': expected a non-empty string or list of strings")
            fields[modality] = texts
        else:
            fields[modality] = resolve_file(root, value, f"{where}, field '{modality}'", "the manifest's folder")
    if not fields:
        raise ManifestError(f"{where}: none of the fields {[str(m) for m in wanted]} is present")
    group = row.get("group")
    if group is not None and (isinstance(group, bool) or not isinstance(group, str | int)):
        raise ManifestError(f"{where}, field 'group': expected a string or an integer, got {group!r}")
    return ManifestItem(str(item_id), number, fields, str(group) if group is not None else None)


def resolve_inside(root: Path, value: Any, where: str, folder: str, error: type[ManifestError] = ManifestError) -> Path:
    """``root / value`` resolved (symbolic links followed), checked to stay inside ``root`` (itself resolved).

    A value that is not a non-empty string, an unusable path (NUL byte) or one that leaves ``root`` (``..``,
    absolute, a link leading outside; the message says it leaves ``folder``) raises ``error`` naming ``where``.
    """
    if not isinstance(value, str) or not value:
        raise error(f"{where}: expected a file path, got {value!r}")
    try:
        if "\0" in value:
            raise ValueError("it contains a NUL byte")
        resolved = (root / value).resolve()
    except (OSError, ValueError) as err:
        raise error(f"{where}: unusable path {value!r} ({err})") from err
    if not resolved.is_relative_to(root):
        raise error(f"{where}: path {value!r} leaves {folder} {root}")
    return resolved


def is_file(path: Path) -> bool:
    """``path.is_file()``, False (not an exception) for a name the system refuses (e.g. too long)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def resolve_file(
    root: Path,
    value: Any,
    where: str,
    folder: str,
    error: type[ManifestError] = ManifestError,
    kind: str = "file",
) -> Path:
    """:func:`resolve_inside`, and the path must name a file (else ``error``: ``{kind} not found``)."""
    resolved = resolve_inside(root, value, where, folder, error)
    if not is_file(resolved):
        raise error(f"{where}: {kind} not found: {resolved}")
    return resolved


def _merge(into: ManifestItem, other: ManifestItem, path: Path) -> None:
    """Merge a repeated id's row into the first: texts add captions; a different file or group is refused."""
    where = f"{path}, row {other.row}: id {other.id!r} repeats row {into.row}"
    for modality, value in other.fields.items():
        if modality != Modality.TEXT and modality in into.fields and into.fields[modality] != value:
            raise ManifestError(f"{path}, row {other.row}: id {other.id!r} repeats with a different {modality} file")
    if other.group is not None and into.group is not None and other.group != into.group:
        raise ManifestError(f"{where} with a different group ({other.group!r}, not {into.group!r})")
    for modality, value in other.fields.items():
        if modality == Modality.TEXT:
            into.fields.setdefault(modality, []).extend(value)
        else:
            into.fields[modality] = value
    if into.group is None:
        into.group = other.group


class ManifestDataset(Dataset):
    """Items of a manifest loaded through modality specs.

    ``__getitem__`` returns ``{"id", "index", "group", "inputs": {modality: sample}}``, or ``None``
    for an item whose file fails to load when ``on_error="skip"`` (``collate_items`` drops and counts it).

    Args:
        path: the manifest.
        specs: modality -> spec; these are the modalities read.
        on_error: ``raise`` (stop at the first bad row, naming it) or ``skip`` (drop it and count it).
        text_sampling: ``random`` (a random caption per access, for training) or ``first``.
        duplicate_ids: ``merge`` rows sharing an id (counted, warned) or refuse the repeats (``error``).
    """

    def __init__(
        self,
        path: str | Path,
        specs: Mapping[str, ModalitySpec],
        on_error: OnError = "raise",
        text_sampling: Literal["random", "first"] = "first",
        duplicate_ids: DuplicateIds = "merge",
    ) -> None:
        self.path = Path(path)
        self.specs = dict(specs)
        self.on_error = on_error
        self.text_sampling = text_sampling
        self.items, self.skipped = read_manifest(self.path, list(self.specs), on_error, duplicate_ids)
        groups = {item.group or item.id for item in self.items}
        self.group_index = {name: i for i, name in enumerate(sorted(groups))}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        item = self.items[index]
        inputs = {}
        for modality, raw in item.fields.items():
            if modality == Modality.TEXT:
                raw = random.choice(raw) if self.text_sampling == "random" else raw[0]
            try:
                inputs[modality] = self.specs[modality].load(raw, item=f"{self.path}, row {item.row} ({item.id})")
            except InputError:
                if self.on_error == "raise":
                    raise
                log.warning("skipping %s row %d (%s): %s failed to load", self.path, item.row, item.id, modality)
                return None
        return {"id": item.id, "index": index, "group": self.group_index[item.group or item.id], "inputs": inputs}

    def collate(self, samples: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
        return collate_items(samples, self.specs)


def collate_items(samples: Sequence[dict[str, Any] | None], specs: Mapping[str, ModalitySpec]) -> dict[str, Any]:
    """Batch items that carry any subset of modalities.

    Returns ``{"ids": list[str], "indices": Tensor[B], "groups": Tensor[B], "inputs": {m: batch},
    "present": {m: list[int]}, "skipped": int}`` where ``indices`` are the items' dataset positions and
    ``present[m]`` lists the batch positions whose items have modality ``m`` (row ``j`` of ``inputs[m]``
    belongs to item ``present[m][j]``). Positions are a list, not a tensor: moving a batch to an accelerator
    leaves them on the host, where they are used.
    """
    kept = [s for s in samples if s is not None]
    inputs, present = {}, {}
    for modality, spec in specs.items():
        positions = [i for i, s in enumerate(kept) if modality in s["inputs"]]
        if positions:
            inputs[modality] = spec.collate([kept[i]["inputs"][modality] for i in positions])
            present[modality] = positions
    return {
        "ids": [s["id"] for s in kept],
        "indices": torch.tensor([s["index"] for s in kept], dtype=torch.long),
        "groups": torch.tensor([s["group"] for s in kept], dtype=torch.long),
        "inputs": inputs,
        "present": present,
        "skipped": len(samples) - len(kept),
    }
