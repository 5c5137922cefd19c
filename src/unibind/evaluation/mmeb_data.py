"""MMEB v1 data: the 36 tasks and their grouping, and the rows of each dataset, read and checked.

Layout read (the TIGER-Lab/MMEB-eval dataset as downloaded, or the same rows as JSON lines)::

    DATA/<dataset>/*.parquet | DATA/<dataset>/*.jsonl | DATA/<dataset>.parquet | DATA/<dataset>.jsonl
    DATA/eval_images/...          image paths in the rows are relative to this folder (or --images)

Columns: ``qry_text``, ``qry_img_path`` (may be empty), ``tgt_text`` (a list; or ``""`` when every candidate
is an image), ``tgt_img_path`` (a list, ``""`` entries for text-only candidates); the instruction variant
(ziyjiang/MMEB_Test_Instruct) adds ``qry_inst`` / ``tgt_inst``, prefixed to the texts unless
``use_instructions=False``. Image placeholders of VLM prompts (``<|image_1|>``, ``<image>``) are removed from
the texts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unibind.datasets.manifest import OnError, SkipReport
from unibind.datasets.text_files import OnBad, read_jsonl


@dataclass(frozen=True)
class MMEBTask:
    """One MMEB v1 dataset: its meta-task, IND/OOD, and the VLM2Vec config group (direction)."""

    name: str
    meta_task: str
    distribution: str
    group: str


#: The 36 MMEB v1 image tasks (VLM2Vec experiments/public/eval/image.yaml; IND = the MMEB-train subsets).
MMEB_V1_TASKS: tuple[MMEBTask, ...] = (
    MMEBTask("ImageNet-1K", "Classification", "IND", "CLS"),
    MMEBTask("N24News", "Classification", "IND", "CLS"),
    MMEBTask("HatefulMemes", "Classification", "IND", "CLS"),
    MMEBTask("VOC2007", "Classification", "IND", "CLS"),
    MMEBTask("SUN397", "Classification", "IND", "CLS"),
    MMEBTask("Place365", "Classification", "OOD", "CLS"),
    MMEBTask("ImageNet-A", "Classification", "OOD", "CLS"),
    MMEBTask("ImageNet-R", "Classification", "OOD", "CLS"),
    MMEBTask("ObjectNet", "Classification", "OOD", "CLS"),
    MMEBTask("Country211", "Classification", "OOD", "CLS"),
    MMEBTask("OK-VQA", "VQA", "IND", "QA"),
    MMEBTask("A-OKVQA", "VQA", "IND", "QA"),
    MMEBTask("DocVQA", "VQA", "IND", "QA"),
    MMEBTask("InfographicsVQA", "VQA", "IND", "QA"),
    MMEBTask("ChartQA", "VQA", "IND", "QA"),
    MMEBTask("Visual7W", "VQA", "IND", "QA"),
    MMEBTask("ScienceQA", "VQA", "OOD", "QA"),
    MMEBTask("VizWiz", "VQA", "OOD", "QA"),
    MMEBTask("GQA", "VQA", "OOD", "QA"),
    MMEBTask("TextVQA", "VQA", "OOD", "QA"),
    MMEBTask("MSCOCO_i2t", "Retrieval", "IND", "RET i -> t"),
    MMEBTask("VisualNews_i2t", "Retrieval", "IND", "RET i -> t"),
    MMEBTask("VisDial", "Retrieval", "IND", "RET t -> i"),
    MMEBTask("MSCOCO_t2i", "Retrieval", "IND", "RET t -> i"),
    MMEBTask("VisualNews_t2i", "Retrieval", "IND", "RET t -> i"),
    MMEBTask("WebQA", "Retrieval", "IND", "RET t -> i"),
    MMEBTask("EDIS", "Retrieval", "OOD", "RET t -> i"),
    MMEBTask("Wiki-SS-NQ", "Retrieval", "OOD", "RET t -> i"),
    MMEBTask("CIRR", "Retrieval", "IND", "RET i -> i"),
    MMEBTask("NIGHTS", "Retrieval", "IND", "RET i -> i"),
    MMEBTask("OVEN", "Retrieval", "OOD", "RET i -> i"),
    MMEBTask("FashionIQ", "Retrieval", "OOD", "RET i -> i"),
    MMEBTask("MSCOCO", "Visual Grounding", "IND", "VG (i -> i)"),
    MMEBTask("RefCOCO", "Visual Grounding", "OOD", "VG (i -> i)"),
    MMEBTask("RefCOCO-Matching", "Visual Grounding", "OOD", "VG (i -> i)"),
    MMEBTask("Visual7W-Pointing", "Visual Grounding", "OOD", "VG (i -> i)"),
)
TASKS_BY_NAME = {task.name: task for task in MMEB_V1_TASKS}
META_TASKS = ("Classification", "VQA", "Retrieval", "Visual Grounding")
DEFAULT_IMAGE_FOLDERS = ("eval_images", "images")
IMAGE_PLACEHOLDER = re.compile(r"<\|image_\d+\|>|<image>")


class MMEBDataError(ValueError):
    """An MMEB file or row that cannot be used; the message names the file, the row and the field."""


@dataclass(frozen=True)
class MMEBInput:
    """A query or a candidate: cleaned text (may be empty) and an image file (or ``None``)."""

    text: str
    image: Path | None


@dataclass
class MMEBRow:
    """One evaluation row: its 1-based number in the file, the query and the candidates (0 is the gold)."""

    number: int
    query: MMEBInput
    candidates: list[MMEBInput]


@dataclass
class MMEBDataset:
    """The usable rows of one dataset file, the files read, and the rows skipped."""

    task: MMEBTask
    path: Path
    rows: list[MMEBRow]
    files: list[Path] = field(default_factory=list)
    skipped: SkipReport = field(default_factory=SkipReport)


def task(name: str) -> MMEBTask:
    if name not in TASKS_BY_NAME:
        raise KeyError(f"{name!r} is not an MMEB v1 dataset; known: {', '.join(TASKS_BY_NAME)}")
    return TASKS_BY_NAME[name]


def clean_text(text: str) -> str:
    """Drop VLM image placeholders and extra whitespace: ``"<|image_1|> Represent ..."`` -> ``"Represent ..."``."""
    return " ".join(IMAGE_PLACEHOLDER.sub(" ", text).split())


def find_dataset_file(data_dir: Path, name: str) -> Path:
    """The data of dataset ``name``: ``DIR/name/`` holding parquet shards (the folder is returned) or one
    JSON-lines file, else ``DIR/name.parquet`` or ``DIR/name.jsonl``."""
    folder = data_dir / name
    if folder.is_dir():
        if any(folder.glob("*.parquet")):
            return folder
        lines = sorted(folder.glob("*.jsonl"))
        if len(lines) > 1:
            raise MMEBDataError(f"{folder}: {len(lines)} JSON-lines files; expected one")
        if lines:
            return lines[0]
    for path in (data_dir / f"{name}.parquet", data_dir / f"{name}.jsonl"):
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"MMEB dataset {name!r}: none of {folder}/*.parquet, {folder}/*.jsonl, {name}.parquet, {name}.jsonl "
        f"under {data_dir}"
    )


def available_datasets(data_dir: str | Path) -> list[str]:
    """The MMEB v1 datasets present under ``data_dir``, in the table's order."""
    data_dir = Path(data_dir)
    present = []
    for entry in MMEB_V1_TASKS:
        try:
            find_dataset_file(data_dir, entry.name)
        except FileNotFoundError:
            continue
        present.append(entry.name)
    return present


def parquet_files(path: Path) -> list[Path]:
    """The shards of a dataset folder (sorted), or the one file."""
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def read_rows(path: Path, on_bad: OnBad | None = None) -> list[tuple[int, dict[str, Any]]]:
    """``(row number, row)`` pairs of a parquet file, a folder of parquet shards, or a JSON-lines file (whose
    bad lines raise, or go to ``on_bad``)."""
    if path.suffix == ".jsonl":
        return read_jsonl(path, on_bad=on_bad)
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for shard in parquet_files(path):
        try:
            rows.extend(pq.read_table(shard).to_pylist())
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise MMEBDataError(f"{shard}: not a readable parquet file ({error})") from error
    return list(enumerate(rows, start=1))


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MMEBDataError(f"{where}, field {key!r}: expected a string, got {type(value).__name__}")
    return value


def _list(row: dict[str, Any], key: str, where: str) -> list[Any]:
    value = row.get(key)
    if not isinstance(value, list):
        raise MMEBDataError(f"{where}, field {key!r}: expected a list, got {type(value).__name__}")
    return value


def _image(value: Any, images_dir: Path, where: str) -> Path | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MMEBDataError(f"{where}: expected an image path string, got {type(value).__name__}")
    path = (images_dir / value).resolve()
    if not path.is_relative_to(images_dir.resolve()):
        raise MMEBDataError(f"{where}: image path {value!r} leaves the images folder {images_dir}")
    if not path.is_file():
        raise MMEBDataError(f"{where}: image {value!r} not found under {images_dir}")
    return path


def parse_row(number: int, row: dict[str, Any], path: Path, images_dir: Path, use_instructions: bool = True) -> MMEBRow:
    """Check one row and turn it into an :class:`MMEBRow`; errors name the file, the row and the field."""
    where = f"{path}, row {number}"
    for key in ("qry_text", "tgt_img_path"):
        if key not in row:
            raise MMEBDataError(f"{where}: missing field {key!r} (fields: {', '.join(sorted(row))})")
    query_text = clean_text(_text(row, "qry_text", where))
    instruction = clean_text(_text(row, "qry_inst", where)) if use_instructions else ""
    query_text = f"{instruction} {query_text}".strip()
    query_image = _image(row.get("qry_img_path"), images_dir, f"{where}, field 'qry_img_path'")
    if not query_text and query_image is None:
        raise MMEBDataError(f"{where}: the query has neither text nor image")
    target_images = _list(row, "tgt_img_path", where)
    raw_texts = row.get("tgt_text", "")
    target_texts = [""] * len(target_images) if raw_texts in ("", None) else _list(row, "tgt_text", where)
    if len(target_texts) != len(target_images):
        raise MMEBDataError(f"{where}: tgt_text has {len(target_texts)} entries but tgt_img_path {len(target_images)}")
    if not target_texts:
        raise MMEBDataError(f"{where}: no candidates (tgt_text and tgt_img_path are empty)")
    target_instruction = clean_text(_text(row, "tgt_inst", where)) if use_instructions else ""
    candidates = []
    for j, (text, image) in enumerate(zip(target_texts, target_images, strict=True)):
        if not isinstance(text, str):
            raise MMEBDataError(f"{where}, field 'tgt_text'[{j}]: expected a string, got {type(text).__name__}")
        cleaned = f"{target_instruction} {clean_text(text)}".strip() if text else ""
        candidate = MMEBInput(cleaned, _image(image, images_dir, f"{where}, field 'tgt_img_path'[{j}]"))
        if not candidate.text and candidate.image is None:
            raise MMEBDataError(f"{where}: candidate {j} has neither text nor image")
        candidates.append(candidate)
    return MMEBRow(number, MMEBInput(query_text, query_image), candidates)


def read_mmeb_dataset(
    data_dir: str | Path,
    name: str,
    images_dir: str | Path | None = None,
    use_instructions: bool = True,
    on_error: OnError = "raise",
) -> MMEBDataset:
    """Read dataset ``name`` from ``data_dir``; images under ``images_dir`` (default ``DATA/eval_images`` or
    ``DATA/images``). With ``on_error="skip"`` bad rows are counted in ``skipped`` instead of raising."""
    data_dir = Path(data_dir)
    entry = task(name)
    path = find_dataset_file(data_dir, name)
    images = Path(images_dir) if images_dir is not None else _default_images(data_dir)
    if not images.is_dir():
        raise FileNotFoundError(
            f"MMEB images folder {images} not found: unpack the dataset's image archive there or pass --images"
        )
    dataset = MMEBDataset(entry, path, [])
    dataset.files = parquet_files(path)
    counted = (lambda error: dataset.skipped.add(str(error))) if on_error == "skip" else None
    for number, row in read_rows(path, counted):
        try:
            parsed = parse_row(number, row, path, images, use_instructions)
        except MMEBDataError as error:
            if on_error == "raise":
                raise
            dataset.skipped.add(str(error))
            continue
        dataset.rows.append(parsed)
    if not dataset.rows:
        raise MMEBDataError(f"{path}: no usable rows ({dataset.skipped.count} skipped)")
    used = {i.image for r in dataset.rows for i in (r.query, *r.candidates) if i.image is not None}
    dataset.files += sorted(used)
    return dataset


def resolve_data(data: str | Path, datasets: Sequence[str] | None = None) -> Path:
    """A local folder as is; otherwise a Hugging Face dataset repository id (``TIGER-Lab/MMEB-eval``) whose
    rows (only the folders of ``datasets`` when given) are downloaded with ``huggingface_hub``. Images are
    not: MMEB ships them as an archive to unpack under ``eval_images/`` (or pass ``images_dir``)."""
    local = Path(data)
    if local.exists():
        return local
    if str(data).count("/") != 1:
        raise FileNotFoundError(f"MMEB data {data!r}: no such folder (and not a hub repository id like owner/name)")
    from huggingface_hub import snapshot_download

    patterns = [f"{name}/*" for name in datasets] if datasets else ["*/*.parquet"]
    try:
        return Path(snapshot_download(str(data), repo_type="dataset", allow_patterns=patterns))
    except Exception as error:  # offline mode, no access, unknown repository: all end here
        raise FileNotFoundError(
            f"MMEB data {data!r} is not a local folder and could not be fetched from the hub ({error}); "
            "download it where the hub is reachable and pass the folder"
        ) from error


def _default_images(data_dir: Path) -> Path:
    for folder in DEFAULT_IMAGE_FOLDERS:
        if (data_dir / folder).is_dir():
            return data_dir / folder
    return data_dir / DEFAULT_IMAGE_FOLDERS[0]
