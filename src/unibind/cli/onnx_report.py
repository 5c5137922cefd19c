"""``unibind export onnx``'s inputs and output: the validation samples it is given and its table of results."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: modalities whose files a samples folder is scanned for (motion: only .npy; .txt and .json are too common to guess)
_FOLDER_MODALITIES = {"image", "audio"}


def collect_samples(paths: Iterable[str | Path], texts: str | Path | None = None) -> dict[str, list[Any]]:
    """modality -> validation inputs: files by suffix (folders: their image, audio and ``.npy`` files, sorted)
    and the non-empty lines of ``texts``."""
    from unibind.modalities.suffixes import modality_of_suffix

    samples: dict[str, list[Any]] = {}
    for given in paths:
        path = Path(given)
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if _sample_file(p))
        if not files:
            raise SystemExit(f"--samples {path}: no image, audio or motion file there")
        for file in files:
            modality = modality_of_suffix(file)
            if modality is None:
                raise SystemExit(f"--samples {file}: no modality reads {file.suffix!r} files")
            samples.setdefault(modality, []).append(file)
    if texts is not None:
        lines = [line.strip() for line in Path(texts).read_text(encoding="utf-8").splitlines()]
        samples["text"] = [line for line in lines if line]
    return samples


def _sample_file(path: Path) -> bool:
    from unibind.modalities.suffixes import modality_of_suffix

    if not path.is_file():
        return False
    return modality_of_suffix(path) in _FOLDER_MODALITIES or path.suffix.lower() == ".npy"


def _size(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MB"


def _number(value: float | None, digits: str = ".2e") -> str:
    return "-" if value is None else format(value, digits)


def format_table(report: Any) -> str:
    """One row per modality: status, max |diff| fp32 and int8, int8 cosine (least), sizes, and the reason."""
    header = ("modality", "status", "max|diff| fp32", "max|diff| int8", "int8 cos min", "fp32 size", "int8 size")
    rows = [header]
    notes = []
    for modality, part in report.modalities.items():
        rows.append((
            modality,
            part.status,
            _number(part.max_abs_diff),
            _number(part.int8_max_abs_diff),
            _number(part.int8_min_cosine, ".4f"),
            _size(part.size_bytes),
            _size(part.int8_size_bytes),
        ))  # fmt: skip
        if part.reason:
            notes.append(f"{modality}: {part.reason}")
        elif part.fixed_axes:
            notes.append(f"{modality}: fixed axes {part.fixed_axes} (the backbone takes them at one size only)")
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines + notes)
