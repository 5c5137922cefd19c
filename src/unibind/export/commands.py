"""``unibind export onnx --model DIR --out DIR [--modalities ...] [--int8]``: export, validate, print a table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: file suffixes a samples folder is scanned for (motion: only .npy; .txt and .json are too common to guess)
_FOLDER_SUFFIXES = {"image", "audio"}


def add_export_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export onnx`` on the top-level ``subparsers`` of the ``unibind`` command."""
    export = subparsers.add_parser("export", help="export a saved model for other runtimes (ONNX)")
    formats = export.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    onnx = formats.add_parser(
        "onnx", help="one ONNX graph per modality (encoder + head + aligner), validated against PyTorch"
    )
    onnx.add_argument("--model", required=True, help="a saved unibind model folder")
    onnx.add_argument("--out", required=True, help="export folder (graphs, unibind_onnx.json, assets/)")
    onnx.add_argument("--modalities", nargs="+", default=None, help="modalities to export (default: all the model has)")
    onnx.add_argument("--int8", action="store_true", help="also write dynamically quantised <modality>.int8.onnx")
    onnx.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")
    onnx.add_argument(
        "--samples",
        nargs="+",
        default=[],
        help="real inputs to validate on: image / audio / motion (.npy) files, or folders of image and audio files "
        "and .npy motions (default: synthetic inputs)",
    )
    onnx.add_argument("--texts", default=None, help="a text file whose lines are the texts to validate on")
    onnx.add_argument("--tolerance", type=float, default=None, help="largest fp32 |onnx - torch| (default 1e-3)")


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
    return modality_of_suffix(path) in _FOLDER_SUFFIXES or path.suffix.lower() == ".npy"


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


def run_export(args: argparse.Namespace) -> int:
    """Run ``unibind export onnx``; 0 when every requested modality exported or was skipped for a stated reason
    and at least one exported, 1 otherwise (a mismatch with PyTorch, nothing exportable)."""
    from unibind.export.onnx import DEFAULT_OPSET, DEFAULT_TOLERANCE, export_onnx
    from unibind.modalities import InputError

    if args.export_command != "onnx":
        raise SystemExit(f"unknown export format {args.export_command!r}")
    try:
        samples = collect_samples(args.samples, args.texts)
        report = export_onnx(
            args.model,
            args.out,
            modalities=args.modalities,
            int8=args.int8,
            opset=args.opset or DEFAULT_OPSET,
            samples=samples,
            tolerance=DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (InputError, KeyError, FileNotFoundError) as error:  # a sample that does not load, an unknown modality
        raise SystemExit(f"unibind export onnx: {error}") from None
    print(format_table(report))
    validated = [f"{m}: {part.validated_on}" for m, part in report.modalities.items() if part.validated_on]
    print(f"validated on: {'; '.join(validated) or '-'}")
    print(f"wrote {Path(args.out) / 'unibind_onnx.json'}")
    mismatched = [m for m, part in report.modalities.items() if part.status == "mismatch"]
    return 0 if report.exported and not mismatched else 1
