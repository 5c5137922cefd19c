"""Audio preprocessors: waveforms -> log-mel windows or a transformers feature extractor's features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from unibind.encoders.preprocessing.base import DynamicAxes, Preprocessor, pool_matrix
from unibind.modalities import (
    AudioBatch,
    AudioSpec,
    ModalitySpec,
)


class LogMelWindows(Preprocessor):
    """:class:`AudioBatch` -> ``log_mel [N, 1, n_mels, frames]`` of the windows and ``pool [clips, N]``.

    The front-end is :class:`~unibind.encoders.audio_frontend.LogMel` in eval mode (no SpecAugment), run
    here in PyTorch (its STFT takes complex numbers, which ONNX graphs do not); the graph averages the
    windows of each clip with ``pool``.
    """

    kind = "log_mel"
    input_names = ("log_mel", "pool")
    output_rows = "clips"

    def __init__(
        self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, mean: float = 0.0, std: float = 1.0
    ) -> None:
        from unibind.encoders.audio_frontend import LogMel

        self.settings = {
            "sample_rate": int(sample_rate),
            "n_fft": int(n_fft),
            "hop_length": int(hop_length),
            "n_mels": int(n_mels),
            "mean": float(mean),
            "std": float(std),
        }
        self.frontend = LogMel(**self.settings).eval()

    def __call__(self, batch: AudioBatch) -> dict[str, torch.Tensor]:
        batch = batch.to("cpu")
        with torch.no_grad():
            features = self.frontend(batch.waveforms.float())
        return {"log_mel": features.contiguous(), "pool": pool_matrix(batch.clip_index, batch.num_clips)}

    def dynamic_axes(self) -> DynamicAxes:
        return {"log_mel": {0: "windows", 3: "frames"}, "pool": {0: "clips", 1: "windows"}}

    def optional_axes(self) -> set[str]:
        return {"frames"}

    def default_spec(self) -> ModalitySpec:
        return AudioSpec(self.settings["sample_rate"])

    def config(self) -> dict[str, Any]:
        return dict(self.settings)

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> LogMelWindows:
        return cls(**config)


class HFAudioFeatures(Preprocessor):
    """:class:`AudioBatch` -> a transformers feature extractor's tensors of the windows, plus ``pool [clips, N]``
    (and, with ``lengths``, ``lengths [N]``, each window's real samples), as
    :func:`unibind.encoders.hf_audio.extract_windows` makes them for :class:`HFAudioEncoder`.

    Args:
        extractor: the feature extractor (wav2vec2, Whisper, CLAP ...).
        sample_rate: its rate.
        keys: the extractor outputs the model takes (e.g. ``input_values``; ``input_features``).
        trim: cut each window after its last nonzero sample, keeping at least this many samples (its zero
            padding is not audio); None (exports made before padding was handled) passes the windows whole.
        pad_longest: pad the cut windows to the longest and normalise them over their real samples.
        lengths: add the ``lengths`` input (Whisper: the graph averages the frames that cover real audio).
    """

    kind = "hf_feature_extractor"
    output_rows = "clips"

    def __init__(
        self,
        extractor: Any,
        sample_rate: int,
        keys: tuple[str, ...],
        trim: int | None = None,
        pad_longest: bool = False,
        lengths: bool = False,
    ) -> None:
        self.extractor, self.sample_rate, self.keys = extractor, int(sample_rate), tuple(keys)
        self.trim = None if trim is None else int(trim)
        self.pad_longest, self.lengths = bool(pad_longest), bool(lengths)
        self.input_names = (*self.keys, "lengths", "pool") if self.lengths else (*self.keys, "pool")

    def __call__(self, batch: AudioBatch) -> dict[str, torch.Tensor]:
        from unibind.encoders.hf_audio import extract_windows

        batch = batch.to("cpu")
        options = {"trim": self.trim, "pad_longest": self.pad_longest, "lengths": self.lengths}
        tensors = extract_windows(self.extractor, batch.waveforms, self.sample_rate, self.keys, **options)
        return {**tensors, "pool": pool_matrix(batch.clip_index, batch.num_clips)}

    def dynamic_axes(self) -> DynamicAxes:
        axes: DynamicAxes = {key: {0: "windows"} for key in self.keys}
        if "input_values" in axes:  # raw samples (wav2vec2, HuBERT): as long as the (longest cut) windows
            axes["input_values"][1] = "samples"
        if self.lengths:
            axes["lengths"] = {0: "windows"}
        return {**axes, "pool": {0: "clips", 1: "windows"}}

    def optional_axes(self) -> set[str]:
        return {"samples"}

    def default_spec(self) -> ModalitySpec:
        return AudioSpec(self.sample_rate)

    def config(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "keys": list(self.keys),
            "trim": self.trim,
            "pad_longest": self.pad_longest,
            "lengths": self.lengths,
        }

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.extractor.save_pretrained(folder)

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> HFAudioFeatures:
        from transformers import AutoFeatureExtractor

        extractor = AutoFeatureExtractor.from_pretrained(folder)
        options = {key: config[key] for key in ("trim", "pad_longest", "lengths") if key in config}
        return cls(extractor, config["sample_rate"], tuple(config["keys"]), **options)
