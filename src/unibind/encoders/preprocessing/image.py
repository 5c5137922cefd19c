"""Image preprocessor: PIL images -> resized, standardised pixel tensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from unibind.encoders.preprocessing.base import DynamicAxes, Preprocessor
from unibind.modalities import (
    ImageSpec,
    ModalitySpec,
)


class ImagePixels(Preprocessor):
    """``Tensor[B, 3, H, W]`` in [0, 1] -> ``pixel_values [B, 3, S, S]``: bicubic resize to ``S``, standardised.

    Args:
        mean, std: per-channel statistics of the backbone.
        image_size: the backbone's input side ``S``.
    """

    kind = "image"
    input_names = ("pixel_values",)

    def __init__(self, mean: list[float], std: list[float], image_size: int) -> None:
        self.mean = torch.tensor([float(m) for m in mean])
        self.std = torch.tensor([float(s) for s in std])
        self.image_size = int(image_size)

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        from unibind.encoders.base import normalize_images

        pixels = normalize_images(batch.detach().cpu().float(), self.mean, self.std, self.image_size)
        return {"pixel_values": pixels.contiguous()}

    def dynamic_axes(self) -> DynamicAxes:
        return {"pixel_values": {0: "batch"}}

    def default_spec(self) -> ModalitySpec:
        return ImageSpec()

    def config(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "image_size": self.image_size}

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> ImagePixels:
        return cls(config["mean"], config["std"], config["image_size"])
