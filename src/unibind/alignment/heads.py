"""Per-modality projection heads from an encoder's width into the shared ``embed_dim``."""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """``Tensor[B, in_dim]`` -> ``Tensor[B, out_dim]``: a linear map, or a 2-layer GELU MLP when ``hidden_dim`` is set.

    Args:
        in_dim: encoder width.
        out_dim: shared embedding size.
        hidden_dim: hidden size of the MLP variant (``None``: linear).
        dropout: dropout before the (last) linear layer.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.hidden_dim = in_dim, out_dim, hidden_dim
        if hidden_dim is None:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))
        else:
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, hidden_dim={self.hidden_dim}"
