"""``unibind_onnx.json``: what an export records of each graph and of the model as a whole."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from unibind.encoders.preprocessing import Preprocessor
from unibind.export.quantize import INT8_RECORD
from unibind.export.report import ModalityExport
from unibind.export.runtime import FORMAT_VERSION, MANIFEST_NAME, OUTPUT_NAME


def manifest_entry(
    part: ModalityExport, preprocessor: Preprocessor, assets: Path, encoder: str, embed_dim: int
) -> dict[str, Any]:
    """What ``unibind_onnx.json`` records of one exported graph."""
    return {
        "file": part.file,
        "int8_file": part.int8_file,
        "inputs": part.inputs,
        "output": {"name": OUTPUT_NAME, "shape": [preprocessor.output_rows, embed_dim], "dtype": "float32"},
        "preprocessing": preprocessor.describe(),
        "assets": assets.as_posix(),
        "encoder": encoder,
        "fixed_axes": part.fixed_axes,
        "validation": {
            "inputs": part.validated_on,
            "batch_sizes": part.batch_sizes,
            "max_abs_diff": part.max_abs_diff,
            "int8_max_abs_diff": part.int8_max_abs_diff,
            "int8_min_cosine": part.int8_min_cosine,
            "int8_mean_cosine": part.int8_mean_cosine,
            "status": part.status,
        },
    }


def write_manifest(
    folder: Path,
    config: dict[str, Any],
    graphs: dict[str, dict[str, Any]],
    parts: dict[str, ModalityExport],
    *,
    opset: int,
    int8: bool,
) -> None:
    """Write ``folder/unibind_onnx.json``: the model's ``config`` (dimensions, encoders, aligner), the entry of
    each exported graph (:func:`manifest_entry`), the skipped modalities and why, the exporter's versions."""
    manifest = {
        "format_version": FORMAT_VERSION,
        "embed_dim": config["embed_dim"],
        "matryoshka_dims": config.get("matryoshka_dims"),
        "modalities": list(graphs),
        "model_modalities": list(config["encoders"]),
        "aligner": config["aligner"]["class_path"],
        "opset": opset,
        "exporter": "torch.onnx.export(dynamo=True)",
        "versions": package_versions(),
        "int8": INT8_RECORD if int8 else None,
        "graphs": graphs,
        "skipped": {m: part.reason for m, part in parts.items() if part.status == "skipped"},
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=_jsonable), encoding="utf-8")


def package_versions() -> dict[str, str | None]:
    """``{package: version}`` of the packages that made the graphs (None where not installed)."""
    versions: dict[str, str | None] = {}
    for package in ("torch", "onnx", "onnxscript", "onnxruntime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
