"""A timm backbone over log-mel spectrograms (AST-style ViT or a CNN, ``in_chans=1``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import timm
import torch

from unibind.encoders.audio_frontend import LogMel, pool_windows
from unibind.encoders.base import Encoder
from unibind.encoders.timm_image import load_timm_weights
from unibind.modalities import Modality
from unibind.modalities.audio import AudioBatch

if TYPE_CHECKING:
    from unibind.encoders.preprocessing import LogMelWindows


class TimmAudioEncoder(Encoder):
    """:class:`~unibind.modalities.AudioBatch` -> ``Tensor[num_clips, num_features]``.

    Windows go through :class:`LogMel`, the timm model (one input channel, classifier removed), and
    are averaged per clip.

    Args:
        model_name: timm architecture, e.g. ``"efficientnet_b0"`` or ``"vit_base_patch16_224"``.
        sample_rate, n_mels, hop_length: front-end settings (see :class:`LogMel`).
        spec_augment: mask up to 8 mel bins and 20 frames, twice each, in training.
        checkpoint_path: local weights for the backbone (safetensors or weights-only torch file).
        model_kwargs: extra timm arguments, e.g. ``{"img_size": [64, 1001]}`` for a ViT over 10 s at hop 160.
    """

    modality = Modality.AUDIO

    def __init__(
        self,
        model_name: str,
        sample_rate: int = 16000,
        n_mels: int = 64,
        hop_length: int = 160,
        spec_augment: bool = False,
        checkpoint_path: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        masks = {"freq_mask": 8, "time_mask": 20} if spec_augment else {}
        self.frontend = LogMel(sample_rate, hop_length=hop_length, n_mels=n_mels, **masks)
        self.model = timm.create_model(model_name, pretrained=False, num_classes=0, in_chans=1, **(model_kwargs or {}))
        if checkpoint_path:
            load_timm_weights(self.model, checkpoint_path)
        self.width = int(self.model.num_features)

    def forward(self, batch: AudioBatch) -> torch.Tensor:
        device = next(self.parameters()).device
        batch = batch.to(device)
        return pool_windows(self.model(self.frontend(batch.waveforms)), batch)

    def export_preprocessor(self) -> LogMelWindows:
        """Windows -> ``log_mel [N, 1, n_mels, frames]`` (this front-end, eval mode) and ``pool [clips, N]``."""
        from unibind.encoders.preprocessing import LogMelWindows

        mel = self.frontend.mel
        return LogMelWindows(
            mel.sample_rate, mel.n_fft, mel.hop_length, self.frontend.n_mels, self.frontend.mean, self.frontend.std
        )

    def export_forward(self, log_mel: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
        """``[clips, num_features]``: the backbone over ``log_mel [N, 1, n_mels, frames]``, averaged per clip by
        ``pool [clips, N]``."""
        return pool @ self.model(log_mel)

    def rebuild_args(self, assets_dir: Path) -> dict[str, Any]:
        return {**self.init_args, "checkpoint_path": None}
