"""Paired-data manifests: JSONL or CSV rows of ``id`` plus per-modality text or file paths.

JSONL row: ``{"id": "cat-1", "image": "images/cat-1.png", "text": ["a cat", "a small cat"], "group": "cat"}``.
CSV: a header with ``id`` and modality columns; rows sharing an ``id`` merge, their texts becoming
several captions. File paths are relative to the manifest's folder and may not leave it. ``group``
(optional) marks items that are positives of one another.
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from unibind.modalities import InputError, Modality, ModalitySpec

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]


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
    """Rows dropped with ``on_error="skip"``: how many, and why (the first reasons)."""

    count: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        self.count += 1
        if len(self.reasons) < 20:
            self.reasons.append(reason)


def read_manifest(
    path: str | Path, modalities: Sequence[str], on_error: OnError = "raise"
) -> tuple[list[ManifestItem], SkipReport]:
    """Read and check a manifest: every row has an id and at least one of ``modalities``, files exist inside the folder.

    Returns the items and a report of the rows skipped (always empty with ``on_error="raise"``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    wanted = [Modality(m) for m in modalities]
    root = path.parent.resolve()
    skipped = SkipReport()
    items: dict[str, ManifestItem] = {}
    for row_number, row in _rows(path):
        try:
            item = _parse_row(path, root, row_number, row, wanted)
        except ManifestError as err:
            if on_error == "raise":
                raise
            skipped.add(str(err))
            continue
        if item.id in items:
            _merge(items[item.id], item, path)
        else:
            items[item.id] = item
    if skipped.count:
        log.warning("%s: skipped %d rows (on_error=skip); first: %s", path, skipped.count, skipped.reasons[0])
    if not items:
        raise ManifestError(f"{path}: no usable rows")
    return list(items.values()), skipped


def read_jsonl(path: Path, unit: str = "row") -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a JSONL file; a line that is not a JSON object
    raises ``ManifestError`` naming the file and the ``unit`` (``row`` or ``line``) number."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ManifestError(f"{path}, {unit} {number}: not valid JSON ({err.msg})") from err
            if not isinstance(row, dict):
                raise ManifestError(f"{path}, {unit} {number}: expected a JSON object, got {type(row).__name__}")
            rows.append((number, row))
    return rows


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ",")
            if reader.fieldnames is None or "id" not in reader.fieldnames:
                raise ManifestError(f"{path}: the header must have an 'id' column, got {reader.fieldnames}")
            return [
                (number, {k: v for k, v in row.items() if v not in (None, "")})
                for number, row in enumerate(reader, start=2)
            ]
    raise ManifestError(f"{path}: unknown manifest format {path.suffix!r}; expected .jsonl, .csv or .tsv")


def _parse_row(path: Path, root: Path, number: int, row: dict[str, Any], wanted: list[Modality]) -> ManifestItem:
    where = f"{path}, row {number}"
    item_id = row.get("id")
    if item_id is None or str(item_id).strip() == "":
        raise ManifestError(f"{where}: missing 'id'")
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
            fields[modality] = _resolve_file(root, value, f"{where}, field '{modality}'")
    if not fields:
        raise ManifestError(f"{where}: none of the fields {[str(m) for m in wanted]} is present")
    group = row.get("group")
    return ManifestItem(str(item_id), number, fields, str(group) if group is not None else None)


def _resolve_file(root: Path, value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{where}: expected a file path, got {value!r}")
    resolved = (root / value).resolve()
    if not resolved.is_relative_to(root):
        raise ManifestError(f"{where}: path {value!r} leaves the manifest's folder {root}")
    if not resolved.is_file():
        raise ManifestError(f"{where}: file not found: {resolved}")
    return resolved


def _merge(into: ManifestItem, other: ManifestItem, path: Path) -> None:
    for modality, value in other.fields.items():
        if modality == Modality.TEXT:
            into.fields.setdefault(modality, []).extend(value)
        elif modality in into.fields and into.fields[modality] != value:
            raise ManifestError(f"{path}, row {other.row}: id {other.id!r} repeats with a different {modality} file")
        else:
            into.fields[modality] = value


class ManifestDataset(Dataset):
    """Items of a manifest loaded through modality specs.

    ``__getitem__`` returns ``{"id", "index", "group", "inputs": {modality: sample}}``, or ``None``
    for an item whose file fails to load when ``on_error="skip"`` (``collate_items`` drops and counts it).

    Args:
        path: the manifest.
        specs: modality -> spec; these are the modalities read.
        on_error: ``raise`` (stop at the first bad row, naming it) or ``skip`` (drop it and count it).
        text_sampling: ``random`` (a random caption per access, for training) or ``first``.
    """

    def __init__(
        self,
        path: str | Path,
        specs: Mapping[str, ModalitySpec],
        on_error: OnError = "raise",
        text_sampling: Literal["random", "first"] = "first",
    ) -> None:
        self.path = Path(path)
        self.specs = dict(specs)
        self.on_error = on_error
        self.text_sampling = text_sampling
        self.items, self.skipped = read_manifest(self.path, list(self.specs), on_error)
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
