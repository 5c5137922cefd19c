"""The encoder contract: a backbone that maps one modality's batch to ``Tensor[B, width]``."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from unibind.config import RecordsInitArgs
from unibind.modalities import Modality

if TYPE_CHECKING:
    from unibind.encoders.preprocessing import Preprocessor


class ExportUnsupportedError(NotImplementedError):
    """An encoder that cannot be exported to ONNX; the message says why."""


class Encoder(RecordsInitArgs, nn.Module, ABC):
    """Base class of every modality encoder.

    Subclasses set ``modality`` (class attribute) and ``width`` (feature size of ``forward``'s output).
    ``lock()`` freezes the encoder LiT-style: no gradients, and it stays in eval mode (dropout and
    batch-norm statistics frozen) even when the surrounding model trains.
    """

    modality: ClassVar[Modality]
    width: int

    def __init__(self) -> None:
        super().__init__()
        self.locked = False

    @abstractmethod
    def forward(self, batch: Any) -> torch.Tensor:
        """Encode a collated batch of this modality: returns ``Tensor[B, width]``."""

    def lock(self) -> Encoder:
        """Freeze all parameters and keep the module in eval mode."""
        self.locked = True
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        return self.train(self.training)

    def train(self, mode: bool = True) -> Encoder:
        super().train(mode and not self.locked)
        return self

    def rebuild_args(self, assets_dir: Path) -> dict[str, Any]:
        """Constructor arguments that rebuild this architecture without fetching any weights.

        Called by ``UnifiedEmbedder.save_pretrained``; encoders that need files besides the weights
        (a tokenizer, a model config) write them under ``assets_dir``. The weights themselves are
        saved by the embedder.
        """
        return dict(self.init_args)

    def fingerprint(self) -> dict[str, Any]:
        """What determines this encoder's outputs: class, constructor arguments and a digest of its tensors.

        Used as a cache key for precomputed features; encoders with weights outside ``state_dict``
        (a package's own files) add the package version.
        """
        digest = hashlib.sha256()
        for name, tensor in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "init_args": json.loads(json.dumps(self.init_args, default=str)),
            "tensors_sha256": digest.hexdigest(),
        }

    @classmethod
    def from_rebuild_args(cls, args: dict[str, Any], assets_dir: Path) -> Encoder:
        """Inverse of :meth:`rebuild_args`."""
        return cls(**args)

    # -- ONNX export: forward split into Python preprocessing and a tensor-only forward ----------------

    def export_preprocessor(self) -> Preprocessor:
        """The Python half of :meth:`forward`: collated batch -> the named tensors :meth:`export_forward` takes.

        ``export_forward(*export_preprocessor()(batch).values())`` equals ``forward(batch)``. Encoders that
        do not split (non-torch runtimes, message passing over graph batches) raise :class:`ExportUnsupportedError`.
        """
        raise ExportUnsupportedError(
            f"{type(self).__name__} has no ONNX split (export_preprocessor / export_forward are not implemented)"
        )

    def export_forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        """Tensor-only forward over the preprocessor's tensors (in its ``input_names`` order): ``[B, width]``."""
        raise ExportUnsupportedError(f"{type(self).__name__} has no tensor-only forward")

    def extra_repr(self) -> str:
        return f"modality={self.modality}, width={self.width}, locked={self.locked}"


def normalize_images(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, 3, H, W]`` in [0, 1] -> resized to ``size`` and standardised with per-channel ``mean``/``std``."""
    if images.shape[-2:] != (size, size):
        images = nn.functional.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)
    return (images - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
