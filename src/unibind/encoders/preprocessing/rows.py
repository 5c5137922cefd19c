"""Motion frames and precomputed feature rows, checked and padded for the graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from unibind.encoders.preprocessing.base import DynamicAxes, Preprocessor
from unibind.modalities import (
    InputError,
    ModalitySpec,
    MotionBatch,
    MotionSpec,
)


class MotionFrames(Preprocessor):
    """:class:`MotionBatch` -> ``features [B, T, F]`` (float32) and ``mask [B, T]`` (bool), checked as
    :class:`~unibind.encoders.MotionTransformerEncoder` checks them."""

    kind = "motion"
    input_names = ("features", "mask")

    def __init__(self, num_features: int, max_frames: int) -> None:
        self.num_features, self.max_frames = int(num_features), int(max_frames)

    def __call__(self, batch: MotionBatch) -> dict[str, torch.Tensor]:
        from unibind.encoders.motion_transformer import check_motion_batch

        features, mask = batch.features.detach().cpu().float(), batch.mask.detach().cpu().bool()
        check_motion_batch(features, mask, self.num_features, self.max_frames)
        return {"features": features.contiguous(), "mask": mask.contiguous()}

    def dynamic_axes(self) -> DynamicAxes:
        return {"features": {0: "batch", 1: "frames"}, "mask": {0: "batch", 1: "frames"}}

    def axis_limits(self) -> dict[str, int]:
        return {"frames": self.max_frames}

    def default_spec(self) -> ModalitySpec:
        return MotionSpec(num_features=self.num_features, max_frames=min(196, self.max_frames))

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "max_frames": self.max_frames}

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> MotionFrames:
        return cls(config["num_features"], config["max_frames"])


class FeatureSpec(ModalitySpec):
    """Precomputed feature rows: ``Tensor[width]`` (or an array) per sample, stacked into ``[B, width]``."""

    def __init__(self, width: int) -> None:
        self.width = int(width)

    def load(self, raw: Any, *, item: str | None = None) -> torch.Tensor:
        row = torch.as_tensor(raw, dtype=torch.float32)
        if row.shape != (self.width,):
            raise InputError(
                f"{item or 'input'}: expected a feature row of shape ({self.width},), got {tuple(row.shape)}"
            )
        return row

    def collate(self, samples: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(samples))

    def dummy_batch(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.width)


class FeatureRows(Preprocessor):
    """``Tensor[B, width]`` precomputed features, checked (:class:`~unibind.encoders.PrecomputedFeatures`)."""

    kind = "features"
    input_names = ("features",)

    def __init__(self, width: int, modality: str) -> None:
        self.width, self.modality = int(width), str(modality)

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if batch.ndim != 2 or batch.shape[1] != self.width:
            raise ValueError(f"expected {self.modality} features [B, {self.width}], got {tuple(batch.shape)}")
        return {"features": batch.detach().cpu().float().contiguous()}

    def dynamic_axes(self) -> DynamicAxes:
        return {"features": {0: "batch"}}

    def default_spec(self) -> ModalitySpec:
        return FeatureSpec(self.width)

    def config(self) -> dict[str, Any]:
        return {"width": self.width, "modality": self.modality}

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> FeatureRows:
        return cls(config["width"], config["modality"])
