"""Result manifests: one JSON file per evaluation run, and side-by-side comparison of two of them.

A manifest holds everything needed to tell whether two numbers are comparable and to rerun them:

- ``model``: the folder, the SHA-256 of its weight files and of its config;
- ``data``: the path, a version string, and a SHA-256 over the files the evaluation actually read
  (relative path + content of each, sorted), with their count and size;
- ``metrics``: each metric's definition, its reference and a version number (bumped when unibind's
  computation of it changes);
- ``command`` (the exact command line), ``environment`` (unibind, Python, torch, platform), UTC time;
- ``rows``: ``{row name: {metric: value}}``, the numbers; ``details``: per-dataset or per-language extras;
- ``table``: the markdown table the command printed.

``compare_records(a, b)`` matches rows and metrics by name and prints A, B and B - A.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unibind.atomic import atomic_write_text
from unibind.checksums import sha256_file

FORMAT_VERSION = 1
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".npz", ".npy", ".tflite")
CONFIG_NAMES = ("unibind_config.json", "config.json")


@dataclass(frozen=True)
class MetricDefinition:
    """What a metric means, where its definition comes from, and the version of unibind's code for it."""

    name: str
    definition: str
    reference: str
    version: int = 1


class RecordError(ValueError):
    """A result manifest that cannot be read; the message names the file and the problem."""


def files_digest(root: str | Path, files: Iterable[str | Path]) -> dict[str, Any]:
    """SHA-256 over ``(path relative to root, content hash)`` of each file, sorted; plus count and bytes."""
    root = Path(root).resolve()
    entries = []
    total = 0
    for file in sorted({Path(f).resolve() for f in files}):
        relative = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
        entries.append(f"{relative}\t{sha256_file(file)}")
        total += file.stat().st_size
    digest = hashlib.sha256("\n".join(entries).encode()).hexdigest()
    return {"sha256": digest, "files": len(entries), "bytes": total}


def data_record(path: str | Path, files: Iterable[str | Path], version: str | None = None) -> dict[str, Any]:
    """The ``data`` entry: ``path``, ``version`` and the digest of the ``files`` read (see :func:`files_digest`)."""
    root = Path(path).resolve()
    return {"path": str(root), "version": version, **files_digest(root, files)}


def model_record(model: str | Path) -> dict[str, Any]:
    """The ``model`` entry of a saved model folder (unibind or transformers) or ``package:NAME``.

    Weights: every file with a weight suffix under the folder (recursively); config: the first of
    ``unibind_config.json`` / ``config.json``. Packaged weights are resolved to their folder first.
    """
    from unibind.encoders.packaged import resolve_weights

    source = str(model)
    folder = Path(resolve_weights(source))
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder}")
    folder = folder.resolve()
    weights = [p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES]
    config = next((folder / name for name in CONFIG_NAMES if (folder / name).is_file()), None)
    return {
        "source": source,
        "path": str(folder),
        "weights": files_digest(folder, weights) if weights else None,
        "config_sha256": sha256_file(config) if config else None,
    }


def environment() -> dict[str, str]:
    from importlib.metadata import version

    import torch

    return {
        "unibind": version("unibind"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def write_record(
    path: str | Path,
    *,
    benchmark: str,
    command: str,
    model: Mapping[str, Any] | None,
    data: Mapping[str, Any],
    metrics: Iterable[MetricDefinition],
    rows: Mapping[str, Mapping[str, float | None]],
    table: str,
    details: Mapping[str, Any] | None = None,
) -> Path:
    """Write the manifest as JSON atomically (temporary file + rename) and return its path."""
    record = {
        "format_version": FORMAT_VERSION,
        "benchmark": benchmark,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "environment": environment(),
        "model": dict(model) if model is not None else None,
        "data": dict(data),
        "metrics": {m.name: asdict(m) for m in metrics},
        "rows": {name: dict(values) for name, values in rows.items()},
        "details": dict(details or {}),
        "table": table,
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, ensure_ascii=False)
    return atomic_write_text(target, text)


def default_record_path(benchmark: str, directory: str | Path = "runs/eval") -> Path:
    """``runs/eval/<benchmark>-<UTC time>.json``."""
    return Path(directory) / f"{benchmark}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"


def read_record(path: str | Path) -> dict[str, Any]:
    """Load a manifest written by :func:`write_record`; a file that is not one gets a :class:`RecordError`."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordError(f"{path}: not JSON ({error})") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in ("format_version", "benchmark", "rows", "metrics", "data") if key not in record]
    if missing:
        raise RecordError(f"{path}: not a unibind result manifest (missing {', '.join(missing)})")
    if record["format_version"] != FORMAT_VERSION:
        raise RecordError(f"{path}: format_version {record['format_version']}, this unibind reads {FORMAT_VERSION}")
    return record


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def compare_records(a: Mapping[str, Any], b: Mapping[str, Any], names: tuple[str, str] = ("A", "B")) -> str:
    """Markdown: every ``(row, metric)`` of either manifest with A, B and B - A, after notes on comparability."""
    notes = []
    if a["benchmark"] != b["benchmark"]:
        notes.append(f"different benchmarks: {a['benchmark']} vs {b['benchmark']}")
    if a["data"].get("sha256") != b["data"].get("sha256"):
        notes.append("different data (checksums differ): deltas compare different test sets")
    for metric in sorted(set(a["metrics"]) & set(b["metrics"])):
        if a["metrics"][metric].get("version") != b["metrics"][metric].get("version"):
            notes.append(f"metric {metric} computed by different code versions")
    model_a, model_b = (r.get("model") or {} for r in (a, b))
    weights = [(m.get("weights") or {}).get("sha256", "")[:12] or "-" for m in (model_a, model_b)]
    lines = [f"{names[0]}: {a['benchmark']}, model {weights[0]}, {a.get('created', '?')}: {a.get('command', '')}"]
    lines.append(f"{names[1]}: {b['benchmark']}, model {weights[1]}, {b.get('created', '?')}: {b.get('command', '')}")
    lines += [f"note: {n}" for n in notes]
    lines += ["", f"| row | metric | {names[0]} | {names[1]} | {names[1]} - {names[0]} |", "|---|---|---:|---:|---:|"]
    rows_a, rows_b = a["rows"], b["rows"]
    for row in list(dict.fromkeys([*rows_a, *rows_b])):
        values_a, values_b = rows_a.get(row, {}), rows_b.get(row, {})
        for metric in dict.fromkeys([*values_a, *values_b]):
            x, y = values_a.get(metric), values_b.get(metric)
            delta = "-" if x is None or y is None else f"{y - x:+.2f}"
            lines.append(f"| {row} | {metric} | {_number(x)} | {_number(y)} | {delta} |")
    return "\n".join(lines)


def command_line(argv: Iterable[str] | None = None) -> str:
    """``unibind ...`` as typed (``argv`` without the program name; default ``sys.argv[1:]``)."""
    return " ".join(["unibind", *(sys.argv[1:] if argv is None else argv)])
