"""Which runtime embeds: the PyTorch model, or its ONNX export run by onnxruntime (fp32 or int8).

Both give an object with ``modalities``, ``embed_dim``, ``matryoshka_dims``, ``embed_batch`` and ``encode``
(:mod:`unibind.encoding`), which is all that ``unibind index build``, ``search`` and ``serve`` use. This module
imports nothing heavy until a model is loaded, so the command-line parser can read :data:`RUNTIMES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: ``torch``: a saved unibind model folder; ``onnx`` / ``onnx-int8``: a folder written by ``unibind export onnx``.
RUNTIMES = ("torch", "onnx", "onnx-int8")


def load_model(path: str | Path, runtime: str = "torch", modalities: Iterable[str] | None = None) -> Any:
    """The model at ``path`` for ``runtime`` (see :data:`RUNTIMES`), only ``modalities`` when given, in eval mode."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    wanted = None if modalities is None else list(modalities)
    if runtime == "torch":
        from unibind.embedder import UnifiedEmbedder

        return UnifiedEmbedder.from_pretrained(path, modalities=wanted).eval()
    from unibind.export.runtime import OnnxEmbedder

    return OnnxEmbedder.from_dir(path, int8=runtime == "onnx-int8", modalities=wanted)
