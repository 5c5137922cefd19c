"""UTF-8 text files read line by line, each problem named by file and line: lines, JSON, JSON lines, CSV/TSV.

Shared by every reader of user files (manifests, graphs, caption tables, BEIR, HumanML3D texts). Policy:
files are UTF-8 and a UTF-8 byte-order mark is accepted; a UTF-16 file is refused as a whole; a line that is
not valid UTF-8, a JSON line that is not JSON or not an object or repeats a key, and a CSV/TSV record with
broken quoting or more fields than the header are bad lines. A bad line raises the reader's ``error`` (a
:class:`ManifestError`) naming the file and the line, or, given ``on_bad``, is handed to it (to count it) and
reading goes on. Lines split only at ``\\n``, ``\\r\\n`` and ``\\r``. Paths inside files are resolved by
:func:`resolve_inside` / :func:`resolve_file`, which refuse paths leaving the file's folder.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class ManifestError(ValueError):
    """A manifest row is malformed; the message names the file, the row and the field."""


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


def iter_jsonl(
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
    return list(iter_jsonl(Path(path), unit, on_bad, error))


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
