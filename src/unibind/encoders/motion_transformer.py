"""A TMR-style motion encoder: a transformer over frames with a learned CLS token.

As in TMR (Petrovich et al. 2023, https://arxiv.org/abs/2305.00976) and ACTOR/TEMOS before it: each
frame's features go through a linear embedding, a sinusoidal positional encoding is added, a learned
token is prepended, and a transformer encoder runs with a key-padding mask so that padded frames never
reach the real ones; the token's output is the clip's vector. TMR's variational head (mu, logvar
tokens) is left out: retrieval uses mu alone, which this token plays.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from unibind.encoders.base import Encoder
from unibind.modalities import Modality, MotionBatch

if TYPE_CHECKING:
    from unibind.encoders.preprocessing import MotionFrames


def sinusoidal_positions(length: int, width: int) -> torch.Tensor:
    """``[length, width]`` sinusoidal encodings (Vaswani et al. 2017, https://arxiv.org/abs/1706.03762).

    .. math:: PE_{p, 2i} = \\sin(p / 10000^{2i/d}),\\quad PE_{p, 2i+1} = \\cos(p / 10000^{2i/d})
    """
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : width // 2]
    return table


def check_motion_batch(features: torch.Tensor, mask: torch.Tensor, num_features: int, max_frames: int) -> None:
    """Raise ``ValueError`` unless ``features [B, T, num_features]`` with ``T <= max_frames`` and every row of
    ``mask [B, T]`` keeps a frame."""
    if features.shape[-1] != num_features:
        raise ValueError(f"expected {num_features} features per frame, got {features.shape[-1]}")
    if features.shape[1] > max_frames:
        raise ValueError(f"{features.shape[1]} frames exceed max_frames={max_frames}")
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every motion in the batch needs at least one unmasked frame")


class MotionTransformerEncoder(Encoder):
    """``MotionBatch`` (``features [B, T, F]``, ``mask [B, T]``) -> ``Tensor[B, width]``.

    Args:
        num_features: per-frame input size ``F`` (HumanML3D 263, KIT-ML 251).
        width: model width (TMR: 256).
        depth: transformer layers (TMR: 6).
        heads: attention heads (TMR: 4).
        ff_dim: feed-forward size (TMR: 1024).
        dropout: dropout inside the transformer (TMR: 0.1).
        max_frames: longest clip the positional table covers.
    """

    modality = Modality.MOTION

    def __init__(
        self,
        num_features: int = 263,
        width: int = 256,
        depth: int = 6,
        heads: int = 4,
        ff_dim: int = 1024,
        dropout: float = 0.1,
        max_frames: int = 1024,
    ) -> None:
        super().__init__()
        self.width, self.num_features, self.max_frames = width, num_features, max_frames
        self.embed = nn.Linear(num_features, width)
        self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.register_buffer("positions", sinusoidal_positions(max_frames + 1, width), persistent=False)
        layer = nn.TransformerEncoderLayer(
            width, heads, ff_dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, batch: MotionBatch) -> torch.Tensor:
        features, mask = batch.features, batch.mask.bool()
        check_motion_batch(features, mask, self.num_features, self.max_frames)
        return self.export_forward(features, mask)

    def export_preprocessor(self) -> MotionFrames:
        """A :class:`MotionBatch` -> ``features [B, T, F]`` and ``mask [B, T]``, checked as :meth:`forward` does."""
        from unibind.encoders.preprocessing import MotionFrames

        return MotionFrames(self.num_features, self.max_frames)

    def export_forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[B, width]`` from checked ``features [B, T, F]`` and ``mask [B, T]`` (True on real frames)."""
        mask = mask.bool()
        tokens = torch.cat([self.cls.expand(features.shape[0], -1, -1), self.embed(features)], dim=1)
        tokens = tokens + self.positions[: tokens.shape[1]]
        keep = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        out = self.transformer(tokens, src_key_padding_mask=~keep)
        return self.norm(out[:, 0])
