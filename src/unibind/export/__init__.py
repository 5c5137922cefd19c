"""Exporting unibind models to other runtimes: ONNX graphs per modality and an onnxruntime embedder.

``export_onnx(model_dir, out_dir)`` writes one validated graph per modality (:mod:`unibind.export.onnx`);
``OnnxEmbedder.from_dir(out_dir)`` embeds with them without the PyTorch weights (:mod:`unibind.export.runtime`).
Names are imported on first use, so importing a submodule (e.g. the preprocessing the encoders use) does not
load the exporter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unibind.export.commands import add_export_commands, run_export
    from unibind.export.onnx import ExportReport, ModalityExport, export_onnx
    from unibind.export.runtime import OnnxEmbedder

_NAMES = {
    "export_onnx": "unibind.export.onnx",
    "ExportReport": "unibind.export.onnx",
    "ModalityExport": "unibind.export.onnx",
    "OnnxEmbedder": "unibind.export.runtime",
    "add_export_commands": "unibind.export.commands",
    "run_export": "unibind.export.commands",
}

__all__ = [
    "ExportReport",
    "ModalityExport",
    "OnnxEmbedder",
    "add_export_commands",
    "export_onnx",
    "run_export",
]


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'unibind.export' has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
