"""A pair objective scaled by a constant: the weight of the contrastive term in a sum of losses.

TMR (Petrovich et al. 2023, https://arxiv.org/abs/2305.00976) trains with
``1.0 * recons + 1e-5 * kl + 1e-5 * latent + 0.1 * contrastive`` (Mathux/TMR ``configs/model/tmr.yaml``);
``WeightedObjective(InfoNCELoss(...), weight=0.1)`` is the last term when the others come from an
auxiliary objective (:class:`unibind.objectives.tmr.TMRObjective`).
"""

from __future__ import annotations

import torch
from torch import nn


class WeightedObjective(nn.Module):
    """``weight * objective(...)`` for every loss the wrapped objective returns (same keys).

    Args:
        objective: a pair objective (``InfoNCELoss``, ``SigLIPLoss`` ...), called with the same arguments.
        weight: the constant factor (TMR's ``lambda_contrastive``: 0.1).
    """

    def __init__(self, objective: nn.Module, weight: float = 1.0) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.objective, self.weight = objective, float(weight)

    @property
    def filter_threshold(self) -> float | None:
        """The wrapped objective's near-duplicate threshold (None when it has none)."""
        return getattr(self.objective, "filter_threshold", None)

    @property
    def logit_scale(self) -> torch.Tensor | None:
        """The wrapped objective's logit scale, for logging (None when it has none)."""
        return getattr(self.objective, "logit_scale", None)

    def forward(
        self, a: torch.Tensor, b: torch.Tensor, groups=None, hard_negatives=None, sentence_embeddings=None
    ) -> dict[str, torch.Tensor]:
        losses = self.objective(a, b, groups, hard_negatives, sentence_embeddings=sentence_embeddings)
        return {key: self.weight * value for key, value in losses.items()}
