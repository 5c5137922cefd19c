"""Log-mel front-end computed on the batch, on the model's device, with optional SpecAugment."""

from __future__ import annotations

import torch
import torchaudio.transforms as AT
from torch import nn

from unibind.modalities.audio import AudioBatch


class LogMel(nn.Module):
    """``[N, T]`` waveforms -> ``[N, 1, n_mels, frames]`` standardised log-mel spectrograms.

    ``log(mel + 1e-6)`` is standardised with a fixed ``mean``/``std`` (AST: -4.27 / 4.57 on AudioSet
    fbanks; defaults here are neutral). SpecAugment (Park et al. 2019, https://arxiv.org/abs/1904.08779)
    masks ``freq_masks`` bands of up to ``freq_mask`` mel bins and ``time_masks`` spans of up to
    ``time_mask`` frames, in training mode only.

    Args:
        sample_rate: waveform rate.
        n_fft: FFT size; ``hop_length``: frame step; ``n_mels``: mel bins.
        mean, std: standardisation of the log-mel values.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 400,
        hop_length: int = 160,
        n_mels: int = 64,
        mean: float = 0.0,
        std: float = 1.0,
        freq_mask: int = 0,
        time_mask: int = 0,
        freq_masks: int = 2,
        time_masks: int = 2,
    ) -> None:
        super().__init__()
        self.mel = AT.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        self.mean, self.std, self.n_mels = mean, std, n_mels
        masks: list[nn.Module] = []
        if freq_mask:
            masks += [AT.FrequencyMasking(freq_mask, iid_masks=True) for _ in range(freq_masks)]
        if time_mask:
            masks += [AT.TimeMasking(time_mask, iid_masks=True) for _ in range(time_masks)]
        self.spec_augment = nn.Sequential(*masks)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        features = (torch.log(self.mel(waveforms) + 1e-6) - self.mean) / self.std
        features = features.unsqueeze(1)  # [N, 1, n_mels, frames]
        if self.training and len(self.spec_augment):
            features = self.spec_augment(features)
        return features


def pool_windows(features: torch.Tensor, batch: AudioBatch) -> torch.Tensor:
    """Average window features ``[N, D]`` into clip features ``[num_clips, D]``."""
    sums = features.new_zeros(batch.num_clips, features.shape[1]).index_add_(0, batch.clip_index, features)
    counts = torch.bincount(batch.clip_index, minlength=batch.num_clips).clamp_min(1).to(features.dtype)
    return sums / counts.unsqueeze(1)
