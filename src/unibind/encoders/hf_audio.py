"""Hugging Face transformers audio encoders: wav2vec2, HuBERT, Whisper's encoder, CLAP's audio tower.

Padding: :class:`~unibind.modalities.AudioSpec` zero-pads a clip shorter than the window (and the last chunk
of ``crop="chunks"``) at the end. A window's real length is found again from its trailing exact zeros
(:func:`~unibind.modalities.audio.real_lengths`; a collated batch does not carry the lengths, as
``AudioSpec.load`` returns padded windows), each window is cut to it before the feature extractor, and only
what covers real audio is pooled, so a clip gets the same embedding whether or not it was padded:

- wav2vec2-style models (a convolutional feature encoder over raw samples: wav2vec2, HuBERT, WavLM ...): the
  cut windows are padded to the batch's longest and normalised over their real samples only
  (``padding=True, return_attention_mask=True``); the model gets the attention mask (re-derived from the
  zero-padded ``input_values``, which the ONNX graph can do too), and the hidden states are averaged over the
  valid frames (``_get_feat_extract_output_lengths``). Models whose first convolution has a group norm
  (``feat_extract_norm="group"``, e.g. wav2vec2-base) normalise over time, padding included; transformers
  advises passing them no mask for that reason. Here that group norm takes its statistics over the valid
  frames instead, so masked batches compute what the model computes on each window alone, unpadded.
- Whisper: the extractor pads every cut window to 30 s (the encoder takes nothing else) and the encoder
  attends over all of it, as it was trained; only the encoder frames covering real audio are averaged
  (``ceil(samples / hop_length)`` mel frames, halved by the encoder's stride 2).
- CLAP: ``get_audio_features`` on the cut windows; its extractor fills a window shorter than 10 s by repeating
  it (``padding="repeatpad"``), so it now repeats the real audio rather than the audio and its zero padding.
- Any other model: the windows as they are, hidden states averaged over every position.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from unibind.encoders.audio_frontend import pool_windows
from unibind.encoders.hf_directory import HFDirectoryEncoder
from unibind.modalities import Modality
from unibind.modalities.audio import AudioBatch, real_lengths

if TYPE_CHECKING:
    from unibind.encoders.preprocessing import HFAudioFeatures


def extract_windows(
    extractor: Any,
    waveforms: torch.Tensor,
    sample_rate: int,
    keys: tuple[str, ...],
    *,
    trim: int | None,
    pad_longest: bool = False,
    lengths: bool = False,
) -> dict[str, torch.Tensor]:
    """The extractor's tensors ``keys`` of the windows ``[N, T]`` (on the CPU), what :class:`HFAudioEncoder`
    and its ONNX preprocessor both feed the model.

    Args:
        trim: None passes the windows whole; a number cuts each after its last nonzero sample, keeping at
            least that many (:func:`~unibind.modalities.audio.real_lengths`).
        pad_longest: pad the cut windows to the batch's longest and normalise them over their real samples
            (``padding=True, return_attention_mask=True``: raw-sample extractors).
        lengths: add ``lengths [N]`` (int64), the real length of each window in samples.
    """
    waves = waveforms.detach().float().cpu()
    if trim is None:
        arrays = [w.numpy() for w in waves]
        real = torch.full((waves.shape[0],), waves.shape[1], dtype=torch.long)
    else:
        real = real_lengths(waves, trim)
        arrays = [w[:n].numpy() for w, n in zip(waves, real.tolist(), strict=True)]
    options = {"padding": True, "return_attention_mask": True} if pad_longest else {}
    inputs = extractor(arrays, sampling_rate=sample_rate, return_tensors="pt", **options)
    tensors = {key: inputs[key] for key in keys}
    return {**tensors, "lengths": real} if lengths else tensors


def masked_mean(hidden: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """``[N, F, D]`` -> ``[N, D]``: the mean of each row's first ``frames[i]`` frames (at least 1)."""
    frames = frames.clamp(min=1).clamp(max=hidden.shape[1])
    weights = (torch.arange(hidden.shape[1], device=hidden.device) < frames[:, None]).to(hidden.dtype)
    return (hidden * weights.unsqueeze(-1)).sum(dim=1) / frames.to(hidden.dtype).unsqueeze(-1)


def _valid_group_norm(
    layer: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor, *, minimum: int, padding_value: float
) -> torch.Tensor:
    """Forward hook of a group-norm convolution layer (``conv -> GroupNorm -> activation``) of a wav2vec2-style
    feature encoder: the same layer with the group norm's statistics taken over the valid frames only (those
    computed from real samples, found from the zero-padded samples ``[N, 1, S]`` it is given)."""
    samples = args[0]
    conv, norm = layer.conv, layer.layer_norm
    valid = real_lengths(samples[:, 0], minimum, padding_value)
    hidden = conv(samples)  # [N, C, F]
    frames = torch.div(valid - conv.kernel_size[0], conv.stride[0], rounding_mode="floor") + 1
    mask = (torch.arange(hidden.shape[-1], device=hidden.device) < frames[:, None]).to(hidden.dtype)
    n, c, f = hidden.shape
    grouped = hidden.reshape(n, norm.num_groups, c // norm.num_groups, f)
    mask = mask[:, None, None, :]
    count = mask.sum(dim=-1, keepdim=True) * grouped.shape[2]
    mean = (grouped * mask).sum(dim=(2, 3), keepdim=True) / count
    var = ((grouped - mean).square() * mask).sum(dim=(2, 3), keepdim=True) / count
    normed = ((grouped - mean) * torch.rsqrt(var + norm.eps)).reshape(n, c, f)
    if norm.affine:
        normed = normed * norm.weight[:, None] + norm.bias[:, None]
    return layer.activation(normed)


class HFAudioEncoder(HFDirectoryEncoder):
    """:class:`~unibind.modalities.AudioBatch` -> ``Tensor[num_clips, hidden]``: mean of the last hidden states
    over the frames that cover real audio (see the module docstring for padding).

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
        self.feature_keys = self._feature_keys()
        self.padding_value = float(getattr(self.extractor, "padding_value", 0.0))
        self.pooling = self._pooling()
        #: fewest samples a window keeps when cut (the feature encoder's receptive field: one frame)
        self.min_samples = 1
        if self.pooling == "samples":
            for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride, strict=True))):
                self.min_samples = (self.min_samples - 1) * stride + kernel
            self._mask_group_norm()

    def _pooling(self) -> str:
        """``samples`` (a wav2vec2-style convolutional feature encoder over raw samples), ``whisper``, ``clap``,
        or ``all`` (any other model: every position, the windows as they are)."""
        if self.kind in ("whisper", "clap"):
            return self.kind
        convs = getattr(getattr(self.model, "feature_extractor", None), "conv_layers", None)
        raw = "input_values" in self.feature_keys and getattr(self.extractor, "feature_size", None) == 1
        if convs is not None and raw and hasattr(self.model, "_get_feat_extract_output_lengths"):
            return "samples"
        return "all"

    def _mask_group_norm(self) -> None:
        """Make a group norm after the first convolution (``feat_extract_norm="group"``) use valid frames only."""
        first = self.model.feature_extractor.conv_layers[0]
        norm = getattr(first, "layer_norm", None)
        if isinstance(norm, nn.GroupNorm) and hasattr(first, "conv") and hasattr(first, "activation"):
            hook = partial(_valid_group_norm, minimum=self.min_samples, padding_value=self.padding_value)
            first.register_forward_hook(hook)

    def forward(self, batch: AudioBatch) -> torch.Tensor:
        device = next(self.parameters()).device
        options = self._extract_options()
        inputs = extract_windows(self.extractor, batch.waveforms, self.sample_rate, self.feature_keys, **options)
        features = self._window_features({key: value.to(device) for key, value in inputs.items()})
        return pool_windows(features, batch.to(device))

    def _extract_options(self) -> dict[str, Any]:
        return {
            "trim": None if self.pooling == "all" else self.min_samples,
            "pad_longest": self.pooling == "samples",
            "lengths": self.pooling == "whisper",
        }

    def _window_features(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[N, width]`` from :func:`extract_windows`'s tensors: the pooled last hidden states of each window."""
        if self.pooling == "clap":  # a tensor in transformers 4; an output whose pooler_output it is in 5
            features = self.model.get_audio_features(**inputs)
            return features if isinstance(features, torch.Tensor) else features.pooler_output
        if self.pooling == "samples":
            values = inputs["input_values"]
            lengths = real_lengths(values, self.min_samples, self.padding_value)
            mask = (torch.arange(values.shape[1], device=values.device) < lengths[:, None]).long()
            hidden = self.model(input_values=values, attention_mask=mask).last_hidden_state
            return masked_mean(hidden, self.model._get_feat_extract_output_lengths(lengths))
        if self.pooling == "whisper":
            hidden = self.model(input_features=inputs["input_features"]).last_hidden_state
            hop = int(self.extractor.hop_length)
            mel_frames = torch.div(inputs["lengths"] + hop - 1, hop, rounding_mode="floor")
            return masked_mean(hidden, self.model._get_feat_extract_output_lengths(mel_frames))
        return self.model(**{key: inputs[key] for key in self.feature_keys}).last_hidden_state.mean(dim=1)

    def export_preprocessor(self) -> HFAudioFeatures:
        """Windows -> the feature extractor's tensors that :meth:`forward` passes on (Whisper: and ``lengths``,
        the real samples of each window), and ``pool [clips, N]``."""
        from unibind.encoders.preprocessing import HFAudioFeatures

        return HFAudioFeatures(self.extractor, self.sample_rate, self.feature_keys, **self._extract_options())

    def export_forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        """``[clips, width]`` from the extractor's tensors (in :meth:`export_preprocessor` order), for Whisper
        ``lengths [N]``, and, last, ``pool [clips, N]``."""
        *inputs, pool = tensors
        names = (*self.feature_keys, "lengths") if self.pooling == "whisper" else self.feature_keys
        return pool @ self._window_features(dict(zip(names, inputs, strict=True)))

    @property
    def preprocessor(self) -> Any:
        return self.extractor

    def _feature_keys(self) -> tuple[str, ...]:
        """The extractor outputs :meth:`forward` passes to the model (all of them for CLAP), in their order."""
        probe = self.extractor([np.zeros(self.sample_rate // 10, dtype=np.float32)], sampling_rate=self.sample_rate)
        return tuple(key for key in probe if self.kind == "clap" or key in ("input_values", "input_features"))
