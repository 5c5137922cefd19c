"""Aligners: the shared layer every modality passes through after its head.

Both variants share one shape: ``x: Tensor[B, D]`` of one modality -> :class:`AlignerOutput` with the
L2-normalised embedding (when ``normalize``) and, for mixtures of experts, the auxiliary losses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
from torch import nn

from unibind.config import RecordsInitArgs


@dataclass
class AlignerOutput:
    """What an aligner returns for one modality's batch."""

    embedding: torch.Tensor  #: ``[B, D]``, unit norm when the aligner normalises
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  #: auxiliary losses, keys end in ``_loss``
    expert_counts: torch.Tensor | None = None  #: ``[E]`` slots routed to each expert (MoE only)
    #: ``[E]`` router probabilities summed over the rows (MoE only): with ``expert_counts``, what the load
    #: balance loss needs, summable over batches and processes
    router_probs_sum: torch.Tensor | None = None


class Aligner(RecordsInitArgs, nn.Module, ABC):
    """Base class of aligners; ``dim`` is the shared embedding size."""

    dim: int

    @abstractmethod
    def forward(self, x: torch.Tensor, modality: str) -> AlignerOutput:
        """Align ``x: [B, dim]`` coming from ``modality``."""


class FeedForward(nn.Module):
    """Pre-norm 2-layer GELU MLP ``[B, D] -> [B, D]``: the dense counterpart of one expert."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DenseAligner(Aligner):
    """The no-MoE ablation: ``y = normalize(x + FFN(LN(x)))`` (residual optional).

    Args:
        dim: shared embedding size.
        hidden_dim: FFN hidden size (default ``2 * dim``).
        residual: add the input back.
        normalize: L2-normalise the output.
    """

    def __init__(self, dim: int, hidden_dim: int | None = None, residual: bool = True, normalize: bool = True) -> None:
        super().__init__()
        self.dim, self.residual, self.normalize = dim, residual, normalize
        self.norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, hidden_dim or 2 * dim)

    def forward(self, x: torch.Tensor, modality: str) -> AlignerOutput:
        y = self.ffn(self.norm(x))
        y = x + y if self.residual else y
        return AlignerOutput(nn.functional.normalize(y, dim=-1) if self.normalize else y)


class IdentityAligner(Aligner):
    """No shared layer: only L2 normalisation (the "untrained projection" baseline keeps heads alone)."""

    def __init__(self, dim: int, normalize: bool = True) -> None:
        super().__init__()
        self.dim, self.normalize = dim, normalize

    def forward(self, x: torch.Tensor, modality: str) -> AlignerOutput:
        return AlignerOutput(nn.functional.normalize(x, dim=-1) if self.normalize else x)
