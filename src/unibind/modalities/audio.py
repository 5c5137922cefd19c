"""Audio: files or arrays to fixed-length mono waveforms at the encoder's rate.

Files are read with soundfile (wav, flac, ogg, mp3; ``torchaudio.load`` would need FFmpeg), mixed down
to mono and resampled with torchaudio. Log-mel features are computed later, batched on the model's
device, by :class:`unibind.encoders.audio_frontend.LogMel`.

Crop policy: ``random`` crops in training, ``center`` for a single evaluation window, ``chunks`` for
full-length evaluation (every window of the clip, whose embeddings the encoder averages).

Policy: clips whose sample rate lies outside ``[min_rate, max_rate]`` (default 1,000 Hz to 768,000 Hz, from
telephone-band recordings to the fastest studio formats) are refused rather than resampled by an absurd factor;
NaN or infinite samples, empty clips and clips shorter than ``min_seconds`` are refused; an all-zero (silent)
clip is a valid recording and is accepted with a :class:`SilentAudioWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import soundfile
import torch
import torchaudio.transforms as AT

from unibind.errors import InputError, item_name
from unibind.modalities.base import Modality, ModalitySpec

Crop = Literal["random", "center", "chunks"]


class SilentAudioWarning(UserWarning):
    """An all-zero clip was accepted (it embeds as silence)."""


@dataclass
class AudioBatch:
    """Windows of ``num_clips`` clips: ``waveforms: [N, T]``; ``clip_index: [N]``, the clip of each window."""

    waveforms: torch.Tensor
    clip_index: torch.Tensor
    num_clips: int

    def to(self, device: torch.device | str) -> AudioBatch:
        return AudioBatch(self.waveforms.to(device), self.clip_index.to(device), self.num_clips)

    def narrow_rows(self, start: int, stop: int) -> AudioBatch:
        """Clips ``start .. stop - 1`` with their windows (windows are stored clip by clip, in order)."""
        windows = ((self.clip_index >= start) & (self.clip_index < stop)).nonzero().squeeze(1)
        return AudioBatch(self.waveforms[windows], self.clip_index[windows] - start, stop - start)


def real_lengths(waveforms: torch.Tensor, minimum: int = 1, padding_value: float = 0.0) -> torch.Tensor:
    """``[N, T]`` windows -> ``[N]`` (int64) real lengths: one past each row's last sample that differs from
    ``padding_value``, at least ``minimum`` (and at most ``T``).

    :meth:`AudioSpec.windows` pads with exact zeros at the end, which this finds again, so a padded window and
    the same clip unpadded get the same length. Trailing exact zeros of the recording itself (digital silence)
    count as padding too, and an all-zero (silent) row gets ``minimum``. Plain tensor ops, so exported graphs
    can compute it from their inputs.
    """
    positions = torch.arange(1, waveforms.shape[-1] + 1, device=waveforms.device)
    last = torch.where(waveforms != padding_value, positions, torch.zeros_like(positions)).amax(dim=-1)
    return last.clamp(min=minimum).clamp(max=waveforms.shape[-1])


class AudioSpec(ModalitySpec):
    """Loads one clip as ``Tensor[W, T]``: ``W`` windows (1 unless ``crop="chunks"``) of ``clip_seconds`` each.

    Args:
        sample_rate: the encoder's rate; other rates are resampled unless ``resample=False``.
        clip_seconds: window length; shorter clips are zero-padded at the end.
        crop: ``random``, ``center`` or ``chunks`` (see the module docstring).
        min_seconds: refuse clips shorter than this.
        resample: when False, a clip at another rate is an error instead of being resampled.
        min_rate, max_rate: refuse clips whose sample rate (Hz) lies outside this range.
    """

    modality = Modality.AUDIO
    takes_path = True

    def __init__(
        self,
        sample_rate: int = 16000,
        clip_seconds: float = 10.0,
        crop: Crop = "center",
        min_seconds: float = 0.1,
        resample: bool = True,
        min_rate: int = 1_000,
        max_rate: int = 768_000,
    ) -> None:
        if crop not in ("random", "center", "chunks"):
            raise ValueError(f"crop must be random, center or chunks, got {crop!r}")
        if not 0 < min_rate <= sample_rate <= max_rate:
            raise ValueError(f"need 0 < min_rate <= sample_rate <= max_rate, got {min_rate}, {sample_rate}, {max_rate}")
        self.sample_rate, self.clip_seconds, self.crop = sample_rate, clip_seconds, crop
        self.min_seconds, self.resample = min_seconds, resample
        self.min_rate, self.max_rate = min_rate, max_rate
        self.window = round(clip_seconds * sample_rate)
        self._resamplers: dict[int, AT.Resample] = {}

    def read(self, raw: Any, item: str) -> tuple[np.ndarray, int]:
        """``(samples [frames] or [frames, channels], rate)`` from a path or an ``(array, rate)`` pair; the
        rate is checked against ``[min_rate, max_rate]`` before anything is resampled."""
        samples, rate = self._decode(raw, item)
        if not self.min_rate <= rate <= self.max_rate:
            raise InputError(
                f"{item}: audio is at {rate} Hz; expected a sample rate between {self.min_rate} and "
                f"{self.max_rate} Hz (AudioSpec min_rate / max_rate)"
            )
        return samples, rate

    def _decode(self, raw: Any, item: str) -> tuple[np.ndarray, int]:
        if isinstance(raw, (str, Path)):
            path = Path(raw)
            if not path.is_file():
                raise InputError(f"{item}: audio file not found: {path}")
            try:
                samples, rate = soundfile.read(path, dtype="float32", always_2d=False)
            except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError, EOFError) as err:
                raise InputError(f"{item}: cannot decode audio {path}: {err}") from err
            return samples, int(rate)
        if isinstance(raw, tuple) and len(raw) == 2:
            samples, rate = raw
            if isinstance(rate, bool) or not isinstance(rate, int | np.integer | float) or rate != int(rate):
                raise InputError(f"{item}: the sample rate must be a whole number of Hz, got {rate!r}")
            try:
                return np.asarray(samples, dtype=np.float32), int(rate)
            except (TypeError, ValueError) as err:
                raise InputError(
                    f"{item}: audio samples must be numbers, got {type(samples).__name__} ({err})"
                ) from err
        raise InputError(
            f"{item}: audio must be a file path or a (samples, sample_rate) pair, got {type(raw).__name__}"
        )

    def waveform(self, raw: Any, item: str | None = None) -> torch.Tensor:
        """The whole clip, checked, mono, at ``sample_rate``: ``Tensor[frames]``."""
        item = item_name(raw, item)
        samples, rate = self.read(raw, item)
        if samples.ndim not in (1, 2):
            raise InputError(f"{item}: audio must be [frames] or [frames, channels], got shape {samples.shape}")
        waveform = torch.from_numpy(np.ascontiguousarray(samples))
        if waveform.ndim == 2:
            waveform = waveform.mean(dim=1)  # mono mix-down (NaN and inf survive it, so the checks below see them)
        if waveform.numel() == 0:
            raise InputError(f"{item}: audio is empty")
        if not bool(torch.isfinite(waveform).all()):
            raise InputError(f"{item}: audio contains NaN or infinite samples")
        if waveform.numel() / rate < self.min_seconds:
            raise InputError(
                f"{item}: audio lasts {waveform.numel() / rate:.3f} s, shorter than min_seconds={self.min_seconds}"
            )
        if not bool(waveform.any()):
            warnings.warn(f"{item}: audio is all zeros (silent); embedding it as silence", SilentAudioWarning, 2)
        if rate != self.sample_rate:
            if not self.resample:
                raise InputError(f"{item}: audio is at {rate} Hz, expected {self.sample_rate} Hz (resample=False)")
            waveform = self._resampler(rate)(waveform)
        return waveform

    def _resampler(self, rate: int) -> AT.Resample:
        """One ``Resample`` per source rate: its sinc kernel is computed once, not per clip."""
        if rate not in self._resamplers:
            self._resamplers[rate] = AT.Resample(rate, self.sample_rate)
        return self._resamplers[rate]

    def load(self, raw: Any, *, item: str | None = None) -> torch.Tensor:
        return self.windows(self.waveform(raw, item))

    def windows(self, waveform: torch.Tensor) -> torch.Tensor:
        """Crop or pad ``[frames]`` to ``[W, window]`` by the crop policy."""
        frames, window = waveform.shape[0], self.window
        if frames <= window:
            return torch.nn.functional.pad(waveform, (0, window - frames)).unsqueeze(0)
        if self.crop == "random":
            start = int(torch.randint(0, frames - window + 1, ()).item())
            return waveform[start : start + window].unsqueeze(0)
        if self.crop == "center":
            start = (frames - window) // 2
            return waveform[start : start + window].unsqueeze(0)
        count = -(-frames // window)  # chunks: ceil(frames / window) windows, the last one zero-padded
        return torch.nn.functional.pad(waveform, (0, count * window - frames)).view(count, window)

    def collate(self, samples: Sequence[torch.Tensor]) -> AudioBatch:
        clip_index = torch.cat([torch.full((s.shape[0],), i, dtype=torch.long) for i, s in enumerate(samples)])
        return AudioBatch(torch.cat(list(samples)), clip_index, len(samples))

    def dummy_batch(self, n: int) -> AudioBatch:
        t = torch.arange(self.window) / self.sample_rate
        tones = torch.stack([torch.sin(2 * torch.pi * (220 + 110 * i) * t) for i in range(n)])
        return AudioBatch(0.5 * tones, torch.arange(n), n)

    def __repr__(self) -> str:
        return (
            f"AudioSpec(sample_rate={self.sample_rate}, clip_seconds={self.clip_seconds}, crop={self.crop!r}, "
            f"min_seconds={self.min_seconds}, resample={self.resample}, min_rate={self.min_rate}, "
            f"max_rate={self.max_rate})"
        )
