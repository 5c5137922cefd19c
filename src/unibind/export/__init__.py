"""Exporting unibind models to other runtimes: ONNX graphs per modality and an onnxruntime embedder.

``export_onnx(model_dir, out_dir)`` writes one validated graph per modality (:mod:`unibind.export.onnx`);
``OnnxEmbedder.from_dir(out_dir)`` embeds with them without the PyTorch weights (:mod:`unibind.export.runtime`).
Names are imported on first use, so importing a submodule (e.g. the preprocessing the encoders use) does not
load the exporter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unibind.lazy import lazy_attributes

if TYPE_CHECKING:
    from unibind.export.onnx import export_onnx
    from unibind.export.report import ExportReport, ModalityExport
    from unibind.export.runtime import OnnxEmbedder

_NAMES = {
    "export_onnx": "unibind.export.onnx",
    "ExportReport": "unibind.export.report",
    "ModalityExport": "unibind.export.report",
    "OnnxEmbedder": "unibind.export.runtime",
}

__all__ = [
    "ExportReport",
    "ModalityExport",
    "OnnxEmbedder",
    "export_onnx",
]

__getattr__ = lazy_attributes(__name__, _NAMES)
