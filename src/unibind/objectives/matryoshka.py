"""Matryoshka representation learning (Kusupati et al. 2022, https://arxiv.org/abs/2205.13147):
the same loss at several embedding prefixes, so truncated embeddings stay useful."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MatryoshkaLoss(nn.Module):
    """Apply ``objective`` to the L2-renormalised first ``d`` dimensions for each ``d`` in ``dims``.

    Keys become ``{key without _loss}_d{d}_loss``; each is weighted by ``weights`` (default 1).
    The full dimension is one of ``dims`` only if listed.
    """

    def __init__(self, objective: nn.Module, dims: list[int], weights: list[float] | None = None) -> None:
        super().__init__()
        if weights is not None and len(weights) != len(dims):
            raise ValueError(f"{len(weights)} weights for {len(dims)} dims")
        self.objective, self.dims = objective, list(dims)
        self.weights = list(weights) if weights is not None else [1.0] * len(dims)

    def forward(
        self, a: torch.Tensor, b: torch.Tensor, groups=None, hard_negatives=None, sentence_embeddings=None
    ) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = {}
        for dim, weight in zip(self.dims, self.weights, strict=True):
            if dim > a.shape[1]:
                raise ValueError(f"matryoshka dim {dim} exceeds the embedding size {a.shape[1]}")
            prefix = [F.normalize(x[:, :dim], dim=-1) if x is not None else None for x in (a, b, hard_negatives)]
            for key, value in self.objective(prefix[0], prefix[1], groups, prefix[2], sentence_embeddings).items():
                losses[f"{key.removesuffix('_loss')}_d{dim}_loss"] = weight * value
        return losses
