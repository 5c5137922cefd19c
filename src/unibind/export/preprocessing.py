"""The Python half of an exported tower: a collated batch -> the named tensors its ONNX graph takes.

Each exportable encoder splits its ``forward`` into a :class:`Preprocessor` (tokeniser, image resize and
standardisation, log-mel front-end, window pooling weights, input checks) and a tensor-only
``export_forward`` that is exported with the projection head and the aligner. A preprocessor is saved as a
JSON config plus the files it needs (a tokenizer, a feature extractor) and rebuilt from them alone, without
the model's weights (:func:`load_preprocessor`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from unibind.modalities import (
    AudioBatch,
    AudioSpec,
    ImageSpec,
    InputError,
    ModalitySpec,
    MotionBatch,
    MotionSpec,
    TextSpec,
)

#: Input axes that vary between batches: input name -> {axis: symbolic name}.
DynamicAxes = dict[str, dict[int, str]]


class Preprocessor(ABC):
    """Turns one modality's collated batch into the graph's input tensors, in :attr:`input_names` order.

    Subclasses set ``kind`` (the name :func:`load_preprocessor` rebuilds them by) and ``input_names``.
    """

    kind: ClassVar[str]
    input_names: tuple[str, ...]
    #: the name of the graph output's first axis (one embedding per batch row, or per audio clip)
    output_rows: ClassVar[str] = "batch"

    @abstractmethod
    def __call__(self, batch: Any) -> dict[str, torch.Tensor]:
        """The graph inputs of ``batch``, on the CPU, keyed (and ordered) by :attr:`input_names`."""

    @abstractmethod
    def dynamic_axes(self) -> DynamicAxes:
        """The axes that vary between batches (batch rows, tokens, frames); every other axis is fixed."""

    def optional_axes(self) -> set[str]:
        """Dynamic axes the export may fix instead when the backbone cannot take them dynamic (e.g. frames of a
        ViT over fixed-length windows)."""
        return set()

    def axis_limits(self) -> dict[str, int]:
        """Largest size of some dynamic axes (e.g. frames under a positional table)."""
        return {}

    def default_spec(self) -> ModalitySpec | None:
        """A spec whose samples fit this tower (motion features, audio rate), or None for the modality default."""
        return None

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """JSON settings that rebuild this preprocessor (with the files :meth:`save` wrote)."""

    def save(self, folder: Path) -> None:
        """Write the files the preprocessor needs besides its config (tokenizer, feature extractor) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    @abstractmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> Preprocessor:
        """Inverse of :meth:`config` + :meth:`save`."""

    def describe(self) -> dict[str, Any]:
        """``{"kind": ..., **config}``: what the export's JSON file records."""
        return {"kind": self.kind, **self.config()}


def pool_matrix(clip_index: torch.Tensor, num_clips: int) -> torch.Tensor:
    """``[num_clips, N]`` weights that average window features ``[N, D]`` into clip features by a matmul.

    Row ``c`` holds ``1 / windows_c`` at the windows of clip ``c``: ``pool @ features`` equals
    :func:`unibind.encoders.audio_frontend.pool_windows` (to float rounding) as one graph-friendly op.
    """
    one_hot = torch.nn.functional.one_hot(clip_index.long(), num_clips).T.float()  # [C, N]
    return one_hot / one_hot.sum(dim=1, keepdim=True).clamp_min(1)


# -- text -----------------------------------------------------------------------------------------------


class HFTokens(Preprocessor):
    """``list[str]`` -> token tensors ``[B, T]`` of a transformers tokenizer (:class:`HFTextEncoder`).

    Args:
        tokenizer: a transformers tokenizer.
        instruction: prefix put before every text.
        max_length: tokens per text after truncation.
        input_names: the tokenizer outputs the model takes, e.g. ``input_ids``, ``token_type_ids``,
            ``attention_mask``.
    """

    kind = "hf_tokenizer"

    def __init__(self, tokenizer: Any, instruction: str, max_length: int, input_names: tuple[str, ...]) -> None:
        self.tokenizer, self.instruction, self.max_length = tokenizer, instruction, max_length
        self.input_names = tuple(input_names)

    def __call__(self, batch: list[str]) -> dict[str, torch.Tensor]:
        texts = [self.instruction + text for text in batch]
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {name: tokens[name].long() for name in self.input_names}

    def dynamic_axes(self) -> DynamicAxes:
        return {name: {0: "batch", 1: "sequence"} for name in self.input_names}

    def default_spec(self) -> ModalitySpec:
        return TextSpec()

    def config(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "max_length": self.max_length, "input_names": list(self.input_names)}

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(folder)

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> HFTokens:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        return cls(tokenizer, config["instruction"], int(config["max_length"]), tuple(config["input_names"]))


class ClipTokens(Preprocessor):
    """``list[str]`` -> ``input_ids [B, context_length]`` of an open_clip tokenizer (:class:`OpenClipTextEncoder`).

    Args:
        model_name: the open_clip model whose tokenizer to use, or None for CLIP's ``SimpleTokenizer``.
        context_length: tokens per text (open_clip pads every text to it).
        tokenizer: the tokenizer itself when already built.
    """

    kind = "open_clip_tokenizer"
    input_names = ("input_ids",)

    def __init__(self, model_name: str | None, context_length: int, tokenizer: Any = None) -> None:
        self.model_name, self.context_length = model_name, context_length
        if tokenizer is None:
            import open_clip

            if model_name is not None:
                tokenizer = open_clip.get_tokenizer(model_name, context_length=context_length)
            else:
                tokenizer = open_clip.SimpleTokenizer(context_length=context_length)
        self.tokenizer = tokenizer

    def __call__(self, batch: list[str]) -> dict[str, torch.Tensor]:
        return {"input_ids": self.tokenizer(list(batch)).long()}

    def dynamic_axes(self) -> DynamicAxes:
        return {"input_ids": {0: "batch"}}

    def default_spec(self) -> ModalitySpec:
        return TextSpec()

    def config(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "context_length": self.context_length}

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> ClipTokens:
        return cls(config["model_name"], int(config["context_length"]))


# -- image ----------------------------------------------------------------------------------------------


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


# -- audio ----------------------------------------------------------------------------------------------


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


# -- motion and precomputed features --------------------------------------------------------------------


class MotionFrames(Preprocessor):
    """:class:`MotionBatch` -> ``features [B, T, F]`` (float32) and ``mask [B, T]`` (bool), checked as
    :class:`~unibind.encoders.MotionTransformerEncoder` checks them."""

    kind = "motion"
    input_names = ("features", "mask")

    def __init__(self, num_features: int, max_frames: int) -> None:
        self.num_features, self.max_frames = int(num_features), int(max_frames)

    def __call__(self, batch: MotionBatch) -> dict[str, torch.Tensor]:
        from unibind.encoders.motion_transformer import check_motion_batch

        features, mask = batch.features.detach().cpu().float(), batch.mask.detach().cpu().bool()
        check_motion_batch(features, mask, self.num_features, self.max_frames)
        return {"features": features.contiguous(), "mask": mask.contiguous()}

    def dynamic_axes(self) -> DynamicAxes:
        return {"features": {0: "batch", 1: "frames"}, "mask": {0: "batch", 1: "frames"}}

    def axis_limits(self) -> dict[str, int]:
        return {"frames": self.max_frames}

    def default_spec(self) -> ModalitySpec:
        return MotionSpec(num_features=self.num_features, max_frames=min(196, self.max_frames))

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "max_frames": self.max_frames}

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> MotionFrames:
        return cls(config["num_features"], config["max_frames"])


class FeatureSpec(ModalitySpec):
    """Precomputed feature rows: ``Tensor[width]`` (or an array) per sample, stacked into ``[B, width]``."""

    def __init__(self, width: int) -> None:
        self.width = int(width)

    def load(self, raw: Any, *, item: str | None = None) -> torch.Tensor:
        row = torch.as_tensor(raw, dtype=torch.float32)
        if row.shape != (self.width,):
            raise InputError(
                f"{item or 'input'}: expected a feature row of shape ({self.width},), got {tuple(row.shape)}"
            )
        return row

    def collate(self, samples: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(samples))

    def dummy_batch(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.width)


class FeatureRows(Preprocessor):
    """``Tensor[B, width]`` precomputed features, checked (:class:`~unibind.encoders.PrecomputedFeatures`)."""

    kind = "features"
    input_names = ("features",)

    def __init__(self, width: int, modality: str) -> None:
        self.width, self.modality = int(width), str(modality)

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if batch.ndim != 2 or batch.shape[1] != self.width:
            raise ValueError(f"expected {self.modality} features [B, {self.width}], got {tuple(batch.shape)}")
        return {"features": batch.detach().cpu().float().contiguous()}

    def dynamic_axes(self) -> DynamicAxes:
        return {"features": {0: "batch"}}

    def default_spec(self) -> ModalitySpec:
        return FeatureSpec(self.width)

    def config(self) -> dict[str, Any]:
        return {"width": self.width, "modality": self.modality}

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> FeatureRows:
        return cls(config["width"], config["modality"])


PREPROCESSORS: dict[str, type[Preprocessor]] = {
    cls.kind: cls
    for cls in (HFTokens, ClipTokens, ImagePixels, LogMelWindows, HFAudioFeatures, MotionFrames, FeatureRows)
}


def load_preprocessor(description: dict[str, Any], folder: Path) -> Preprocessor:
    """Rebuild a preprocessor from its :meth:`Preprocessor.describe` record and the folder its files are in."""
    config = dict(description)
    kind = config.pop("kind", None)
    if kind not in PREPROCESSORS:
        raise ValueError(f"unknown preprocessing kind {kind!r}; known: {sorted(PREPROCESSORS)}")
    return PREPROCESSORS[kind].from_config(config, folder)
