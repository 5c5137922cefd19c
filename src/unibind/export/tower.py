"""The module each ONNX graph is exported from: one modality's encoder, projection head and aligner."""

from __future__ import annotations

import copy

import torch
from torch import nn

from unibind.alignment import Aligner, MoEAligner
from unibind.embedder import UnifiedEmbedder


class AlignedTower(nn.Module):
    """``encoder.export_forward -> head -> aligner`` of one modality: ``*tensors -> Tensor[B, D]``, what each
    graph is exported from. A mixture-of-experts aligner runs its masked dispatch (a shallow copy, so the
    model's own setting is untouched; the parameters are shared)."""

    def __init__(self, model: UnifiedEmbedder, modality: str) -> None:
        super().__init__()
        self.encoder = model.encoders[modality]
        self.head = model.heads[modality]
        self.aligner = graph_aligner(model.aligner)
        self.modality = modality

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.aligner(self.head(self.encoder.export_forward(*tensors)), self.modality).embedding


def graph_aligner(aligner: Aligner) -> Aligner:
    """``aligner`` as a graph can hold it: an MoE aligner switched to its masked dispatch (no host sync)."""
    if isinstance(aligner, MoEAligner) and aligner.dispatch != "masked":
        aligner = copy.copy(aligner)
        aligner.dispatch = "masked"
    return aligner
