"""A stand-in encoder for features computed beforehand (by a frozen tower, cached on disk)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from unibind.encoders.base import Encoder
from unibind.modalities import Modality

if TYPE_CHECKING:
    from unibind.encoders.preprocessing import FeatureRows


class PrecomputedFeatures(Encoder):
    """Identity over ``Tensor[B, width]`` features, so heads and aligner train without running the tower.

    Args:
        modality: the modality whose features these are.
        width: feature size.
    """

    def __init__(self, modality: str, width: int) -> None:
        super().__init__()
        self.modality = Modality(modality)  # type: ignore[misc]  # per instance, unlike real towers
        self.width = width

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.ndim != 2 or batch.shape[1] != self.width:
            raise ValueError(f"expected {self.modality} features [B, {self.width}], got {tuple(batch.shape)}")
        return batch

    def export_preprocessor(self) -> FeatureRows:
        """Features ``[B, width]``, checked; the graph is the head and the aligner alone."""
        from unibind.encoders.preprocessing import FeatureRows

        return FeatureRows(self.width, str(self.modality))

    def export_forward(self, features: torch.Tensor) -> torch.Tensor:
        return features
