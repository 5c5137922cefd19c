"""Checking exported graphs against PyTorch: the fp32 graph and, with int8, its quantised copy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unibind.embedder import UnifiedEmbedder
from unibind.encoders.preprocessing import Preprocessor
from unibind.export.quantize import quantize_int8
from unibind.export.report import ModalityExport
from unibind.export.runtime import OUTPUT_NAME, open_session, session_feeds


@dataclass
class Comparison:
    """A graph against PyTorch: largest absolute difference, least and mean cosine over the rows."""

    max_abs_diff: float
    min_cosine: float
    mean_cosine: float


def compare(
    session: Any, preprocessor: Preprocessor, model: UnifiedEmbedder, modality: str, batches: Sequence[Any]
) -> Comparison:
    """Run ``session`` and ``model.embed_batch`` on each collated batch and compare their embeddings ``[B, D]``."""
    diffs, cosines = [], []
    for batch in batches:
        with torch.no_grad():
            expected = model.embed_batch(modality, batch).float()
        feeds = session_feeds(session, preprocessor(batch))
        got = torch.from_numpy(session.run([OUTPUT_NAME], feeds)[0]).float()
        if got.shape != expected.shape:
            raise ValueError(f"the graph gave {tuple(got.shape)} where PyTorch gives {tuple(expected.shape)}")
        diffs.append(float((got - expected).abs().max()))
        cosines.append(nn.functional.cosine_similarity(got, expected, dim=-1))
    rows = torch.cat(cosines)
    return Comparison(max(diffs), float(rows.min()), float(rows.mean()))


def validate_graphs(
    model: UnifiedEmbedder,
    modality: str,
    preprocessor: Preprocessor,
    path: Path,
    batches: Sequence[Any],
    *,
    int8: bool,
    tolerance: float,
) -> ModalityExport:
    """Compare the graph at ``path`` (and, with ``int8``, its quantised copy written beside it) with PyTorch."""
    part = ModalityExport(modality, "exported", file=path.name, size_bytes=path.stat().st_size)
    fp32 = compare(open_session(path), preprocessor, model, modality, batches)
    part.max_abs_diff = fp32.max_abs_diff
    if fp32.max_abs_diff > tolerance:
        part.status, part.reason = "mismatch", f"max |onnx - torch| = {fp32.max_abs_diff:.3g} > {tolerance:g}"
    if int8:
        quantized = path.with_name(f"{modality}.int8.onnx")
        quantize_int8(path, quantized)
        low = compare(open_session(quantized), preprocessor, model, modality, batches)
        part.int8_file, part.int8_size_bytes = quantized.name, quantized.stat().st_size
        part.int8_max_abs_diff, part.int8_min_cosine = low.max_abs_diff, low.min_cosine
        part.int8_mean_cosine = low.mean_cosine
    return part
