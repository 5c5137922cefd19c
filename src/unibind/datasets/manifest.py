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

import logging
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from unibind.datasets.text_files import ManifestError, OnBad, iter_jsonl, read_table, resolve_file
from unibind.modalities import InputError, Modality, ModalitySpec

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
DuplicateIds = Literal["merge", "error"]

#: Field names taken for a modality unibind does not read: warned about, never silently ignored.
UNREAD_MODALITY_NAMES = frozenset(
    {"video", "depth", "thermal", "imu", "vision", "point_cloud", "pointcloud", "img", "picture", "photo", "sound"}
)
MODALITY_NAMES = frozenset(str(m) for m in Modality)


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

    def handler(self, on_error: OnError) -> OnBad:
        """A bad-row handler for the readers' ``on_bad``: raise the error (``on_error="raise"``) or count it here
        (``"skip"``)."""
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be raise or skip, got {on_error!r}")

        def bad(error: ManifestError) -> None:
            if on_error == "raise":
                raise error
            self.add(str(error))

        return bad

    def note_field(self, name: str) -> None:
        self.unknown_fields[name] = self.unknown_fields.get(name, 0) + 1

    def warn_unknown_fields(self, path: Path, unit: str, read: Sequence[str]) -> None:
        """Log one warning listing the modality-like fields not read (with how many ``unit`` carry each)."""
        if self.unknown_fields:
            counts = ", ".join(f"{name!r} ({n} {unit})" for name, n in self.unknown_fields.items())
            log.warning(
                "%s: fields that look like modality names are not read: %s; the fields read are %s",
                path,
                counts,
                ", ".join(read),
            )


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
    skipped = SkipReport()
    bad = skipped.handler(on_error)
    if duplicate_ids not in ("merge", "error"):
        raise ValueError(f"duplicate_ids must be merge or error, got {duplicate_ids!r}")
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    wanted = [Modality(m) for m in modalities]
    root = path.parent.resolve()
    items: dict[str, ManifestItem] = {}
    for row_number, row in _rows(path, bad):
        _note_modality_like_fields(row, skipped)
        try:
            _add_item(items, _parse_row(path, root, row_number, row, wanted), path, duplicate_ids, skipped)
        except ManifestError as err:
            bad(err)
    _warn_skipped_and_merged(path, skipped)
    skipped.warn_unknown_fields(path, "rows", sorted(MODALITY_NAMES))
    if not items:
        first = f"; first: {skipped.reasons[0]}" if skipped.count else ""
        raise ManifestError(f"{path}: no usable rows ({skipped.count} skipped{first})")
    return list(items.values()), skipped


def _note_modality_like_fields(row: Mapping[str, Any], report: SkipReport) -> None:
    """Count, in ``report``, the fields of ``row`` that look like a modality name but are not one."""
    for name in row:
        if name not in MODALITY_NAMES and looks_like_modality(name):
            report.note_field(name)


def _add_item(
    items: dict[str, ManifestItem], item: ManifestItem, path: Path, duplicate_ids: DuplicateIds, report: SkipReport
) -> None:
    """Add ``item`` under its id, or merge it into the earlier item with that id (counted in ``report``)."""
    first = items.get(item.id)
    if first is None:
        items[item.id] = item
    elif duplicate_ids == "error":
        raise ManifestError(f"{path}, row {item.row}: id {item.id!r} repeats row {first.row}")
    else:
        _merge(first, item, path)
        report.merged_ids += 1


def _warn_skipped_and_merged(path: Path, report: SkipReport) -> None:
    """One warning for the rows skipped, one for the rows merged into an earlier row, when there are any."""
    if report.count:
        log.warning("%s: skipped %d rows (on_error=skip); first: %s", path, report.count, report.reasons[0])
    if report.merged_ids:
        log.warning(
            "%s: %d rows repeat an earlier row's id and were merged into it (texts become extra captions)",
            path,
            report.merged_ids,
        )


def _rows(path: Path, on_bad: OnBad) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix == ".jsonl":
        return iter_jsonl(path, "row", on_bad, ManifestError)
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
        self.items = self._with_valid_texts(self.items)
        groups = {item.group or item.id for item in self.items}
        self.group_index = {name: i for i, name in enumerate(sorted(groups))}

    def _with_valid_texts(self, items: list[ManifestItem]) -> list[ManifestItem]:
        """Every caption checked by the text spec now, before any training or embedding: a bad one (a control
        character, too long) raises naming its row, or drops and counts its item with ``on_error="skip"``."""
        spec = self.specs.get(Modality.TEXT)
        if spec is None:
            return items
        kept = []
        for item in items:
            try:
                for text in item.fields.get(Modality.TEXT, []):
                    spec.load(text, item=f"{self.path}, row {item.row} ({item.id}), field 'text'")
            except InputError as err:
                if self.on_error == "raise":
                    raise
                self.skipped.add(str(err))
                continue
            kept.append(item)
        if not kept:
            raise ManifestError(f"{self.path}: no usable rows ({self.skipped.count} skipped)")
        return kept

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
