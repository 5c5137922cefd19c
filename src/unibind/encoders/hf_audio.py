"""Hugging Face transformers audio encoders: wav2vec2, HuBERT, Whisper's encoder, CLAP's audio tower."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from unibind.encoders.audio_frontend import pool_windows
from unibind.encoders.hf_directory import HFDirectoryEncoder
from unibind.modalities import Modality
from unibind.modalities.audio import AudioBatch

if TYPE_CHECKING:
    from unibind.export.preprocessing import HFAudioFeatures


class HFAudioEncoder(HFDirectoryEncoder):
    """:class:`~unibind.modalities.AudioBatch` -> ``Tensor[num_clips, hidden]``: mean of the last hidden states.

    Args:
        model_name_or_path: hub id or local directory with the model and its feature extractor.
        trust_remote_code: passed to transformers; off unless you set it.
        load_weights: False builds the architecture from its config with random weights.

    Whisper models use their encoder only; CLAP models use ``get_audio_features``.
    """

    modality = Modality.AUDIO

    def __init__(self, model_name_or_path: str, trust_remote_code: bool = False, load_weights: bool = True) -> None:
        super().__init__()
        self.extractor = AutoFeatureExtractor.from_pretrained(model_name_or_path, trust_remote_code=trust_remote_code)
        if load_weights:
            model = AutoModel.from_pretrained(model_name_or_path, trust_remote_code=trust_remote_code)
        else:
            config = AutoConfig.from_pretrained(model_name_or_path, trust_remote_code=trust_remote_code)
            model = AutoModel.from_config(config, trust_remote_code=trust_remote_code)
        self.kind = model.config.model_type
        self.model = model.get_encoder() if self.kind == "whisper" else model
        config = model.config
        self.width = int(
            getattr(config, "projection_dim", None)
            if self.kind == "clap"
            else getattr(config, "d_model", None) or config.hidden_size
        )
        self.sample_rate = int(self.extractor.sampling_rate)

    def forward(self, batch: AudioBatch) -> torch.Tensor:
        device = next(self.parameters()).device
        waveforms = [w.cpu().numpy() for w in batch.waveforms]
        inputs = self.extractor(waveforms, sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {key: value.to(device) for key, value in inputs.items()}
        if self.kind == "clap":
            features = self.model.get_audio_features(**inputs)
        else:
            hidden = self.model(
                **{k: v for k, v in inputs.items() if k in ("input_values", "input_features")}
            ).last_hidden_state
            features = hidden.mean(dim=1)
        return pool_windows(features, batch.to(device))

    def export_preprocessor(self) -> HFAudioFeatures:
        """Windows -> the feature extractor's tensors that :meth:`forward` passes on, and ``pool [clips, N]``."""
        from unibind.export.preprocessing import HFAudioFeatures

        return HFAudioFeatures(self.extractor, self.sample_rate, self._feature_keys())

    def export_forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        """``[clips, width]`` from the extractor's tensors (in :meth:`export_preprocessor` order) and, last,
        ``pool [clips, N]``."""
        *inputs, pool = tensors
        named = dict(zip(self._feature_keys(), inputs, strict=True))
        if self.kind == "clap":
            features = self.model.get_audio_features(**named)
        else:
            features = self.model(**named).last_hidden_state.mean(dim=1)
        return pool @ features

    @property
    def preprocessor(self) -> Any:
        return self.extractor

    def _feature_keys(self) -> tuple[str, ...]:
        """The extractor outputs :meth:`forward` passes to the model (all of them for CLAP), in their order."""
        probe = self.extractor([np.zeros(self.sample_rate // 10, dtype=np.float32)], sampling_rate=self.sample_rate)
        return tuple(key for key in probe if self.kind == "clap" or key in ("input_values", "input_features"))
