"""open_clip image and text towers as unibind encoders.

Three ways to build a tower: a registered model name with a ``pretrained`` tag (hub download), a
model name with ``pretrained`` set to a local checkpoint file, or ``model_cfg`` for a random-init
model of any size (``TINY_CLIP_CFG`` is the test-sized one).
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import open_clip
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch import nn

from unibind.encoders.base import Encoder, normalize_images
from unibind.modalities import Modality

if TYPE_CHECKING:
    from unibind.encoders.preprocessing import ClipTokens, ImagePixels

#: A CLIP small enough for unit tests: 32 px images, 2-layer towers of width 64.
TINY_CLIP_CFG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def build_clip(model_name: str | None, pretrained: str | None, model_cfg: dict[str, Any] | None) -> nn.Module:
    """An open_clip model from a registered name (+ tag or local file) or from an explicit config."""
    if (model_name is None) == (model_cfg is None):
        raise ValueError("give exactly one of model_name (open_clip registry) or model_cfg (random init)")
    if model_cfg is not None:
        if pretrained is not None:
            raise ValueError("pretrained needs model_name; model_cfg builds a random-init model")
        cfg = dict(model_cfg)
        custom_text = "hf_model_name" in cfg.get("text_cfg", {})
        model_cls = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
        return model_cls(**cfg)
    if pretrained is not None and Path(pretrained).suffix and not Path(pretrained).is_file():
        raise FileNotFoundError(f"open_clip checkpoint not found: {pretrained}")
    return open_clip.create_model(model_name, pretrained=pretrained, weights_only=True)


class _OpenClipTower(Encoder):
    """One tower of an open_clip model; subclasses keep their tower from the full model in ``take_tower``.

    Args:
        model_name: open_clip registry name, e.g. ``"ViT-B-32"``.
        pretrained: pretrained tag (e.g. ``"laion2b_s34b_b79k"``) or path to a local checkpoint.
        model_cfg: ``{"embed_dim", "vision_cfg", "text_cfg"}`` for a random-init model instead.
    """

    def __init__(
        self,
        model_name: str | None = None,
        pretrained: str | None = None,
        model_cfg: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.take_tower(build_clip(model_name, pretrained, model_cfg), model_name)

    @abstractmethod
    def take_tower(self, clip: nn.Module, model_name: str | None) -> None:
        """Keep this tower's modules (and its width) from the full open_clip model ``clip``."""

    def rebuild_args(self, assets_dir: Path) -> dict[str, Any]:
        return {**self.init_args, "pretrained": None}


class OpenClipImageEncoder(_OpenClipTower):
    """The vision tower of an open_clip model: ``Tensor[B, 3, H, W]`` in [0, 1] -> ``Tensor[B, embed_dim]``."""

    modality = Modality.IMAGE

    def take_tower(self, clip: nn.Module, model_name: str | None) -> None:
        self.tower = clip.visual
        size = self.tower.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        preprocess = getattr(self.tower, "preprocess_cfg", {}) or {}
        self.register_buffer("mean", torch.tensor(preprocess.get("mean", OPENAI_DATASET_MEAN)), persistent=False)
        self.register_buffer("std", torch.tensor(preprocess.get("std", OPENAI_DATASET_STD)), persistent=False)
        self.width = int(self.tower.output_dim)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.tower(normalize_images(batch, self.mean, self.std, self.image_size))

    def export_preprocessor(self) -> ImagePixels:
        """Images in [0, 1] -> ``pixel_values [B, 3, S, S]`` (resized, standardised)."""
        from unibind.encoders.preprocessing import ImagePixels

        return ImagePixels(self.mean.tolist(), self.std.tolist(), self.image_size)

    def export_forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``[B, embed_dim]`` features of standardised ``pixel_values [B, 3, S, S]``."""
        return self.tower(pixel_values)


class OpenClipTextEncoder(_OpenClipTower):
    """The text tower of an open_clip model with its tokenizer: ``list[str]`` -> ``Tensor[B, embed_dim]``."""

    modality = Modality.TEXT

    def take_tower(self, clip: nn.Module, model_name: str | None) -> None:
        if hasattr(clip, "text"):  # CustomTextCLIP keeps its text tower in one module
            self.tower = clip.text
            self.width = int(clip.text.output_dim)
        else:  # CLIP spreads the text tower over its own attributes; drop the rest
            del clip.visual
            clip.logit_scale = None
            clip.logit_bias = None
            self.tower = clip
            projection = clip.text_projection
            self.width = int(projection.shape[1] if projection is not None else clip.transformer.width)
        context_length = int(getattr(self.tower, "context_length", 77))
        if model_name is not None:
            self.tokenizer = open_clip.get_tokenizer(model_name, context_length=context_length)
        else:
            self.tokenizer = open_clip.SimpleTokenizer(context_length=context_length)

    def forward(self, batch: list[str]) -> torch.Tensor:
        device = next(self.parameters()).device
        tokens = self.tokenizer(batch).to(device)
        return self.export_forward(tokens)

    def export_preprocessor(self) -> ClipTokens:
        """Texts -> ``input_ids [B, context_length]`` of this tower's tokenizer."""
        from unibind.encoders.preprocessing import ClipTokens

        context_length = int(getattr(self.tower, "context_length", 77))
        return ClipTokens(self.init_args.get("model_name"), context_length, tokenizer=self.tokenizer)

    def export_forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``[B, embed_dim]`` features of token ids ``[B, context_length]``."""
        if isinstance(self.tower, open_clip.CLIP):
            return self.tower.encode_text(input_ids)
        return self.tower(input_ids)
