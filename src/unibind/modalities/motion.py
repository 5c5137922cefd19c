"""Motion: per-frame feature sequences (HumanML3D's 263-d vectors, KIT-ML's 251-d, or joint positions).

A clip is ``[T, F]``: ``T`` frames at ``fps`` of ``F`` features. Loading checks the shape and the values
(no NaN or inf, at least ``min_frames`` frames), normalises with the dataset's ``Mean.npy`` / ``Std.npy``
when given, and crops to ``max_frames`` (HumanML3D: 196 frames, 9.8 s at 20 fps): a random window in
training, the first or the centre window in evaluation. Batches pad to the longest clip and carry a mask.

A spec's ``representation`` says where the features come from (:data:`REPRESENTATIONS`):

- ``features`` (default): ``[T, F]`` arrays or ``.npy`` files taken as they are (``new_joint_vecs``);
- ``humanml3d``: any motion source (BVH, DeepMimic clip, HumanML3D ``new_joints`` or ``new_joint_vecs``)
  turned into HumanML3D's 263-d representation (:func:`unibind.motion.sources.load_humanml3d_features`,
  Guo et al. 2022, https://arxiv.org/abs/2204.04127), for models trained on HumanML3D;
- ``canonical``: any motion source on the shared 15-joint skeleton, ``[T, 45]``
  (:func:`unibind.motion.sources.load_positions`).

The representation is one of the spec's settings, so an index records it in ``inputs.json``
(:mod:`unibind.modalities.settings`) and its queries are read the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from unibind.errors import InputError, item_name
from unibind.modalities.base import Modality, ModalitySpec
from unibind.motion.arrays import (
    REPRESENTATION_FEATURES,
    REPRESENTATIONS,
    MotionRepresentation,
    check_motion,
    read_npy,
)

MotionCrop = Literal["random", "start", "center"]


@dataclass
class MotionBatch:
    """``features: [B, T, F]`` zero-padded; ``mask: [B, T]`` True on real frames."""

    features: torch.Tensor
    mask: torch.Tensor

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(dim=1)

    def to(self, device: torch.device | str) -> MotionBatch:
        return MotionBatch(self.features.to(device), self.mask.to(device))

    def narrow_rows(self, start: int, stop: int) -> MotionBatch:
        """Clips ``start .. stop - 1`` (keeping the batch's padded length)."""
        return MotionBatch(self.features[start:stop], self.mask[start:stop])

    def __len__(self) -> int:
        return self.features.shape[0]


def _stats(value: str | Path | np.ndarray | torch.Tensor | None, name: str, num_features: int) -> torch.Tensor | None:
    if value is None:
        return None
    array = np.load(value, allow_pickle=False) if isinstance(value, str | Path) else np.asarray(value)
    if array.shape != (num_features,):
        raise InputError(f"{name} {value if isinstance(value, str | Path) else ''}: expected shape ({num_features},), "
                         f"got {array.shape}")  # fmt: skip
    if not np.isfinite(array).all():
        raise InputError(f"{name}: contains NaN or inf")
    return torch.as_tensor(array, dtype=torch.float32)


class MotionSpec(ModalitySpec):
    """Loads one clip as ``Tensor[T, F]`` (normalised, cropped); collates into a :class:`MotionBatch`.

    Args:
        num_features: ``F`` (HumanML3D 263, KIT-ML 251, joint positions ``3 * joints``).
        fps: frame rate (HumanML3D 20, KIT-ML 12.5); used to cut sub-clips given in seconds.
        max_frames: longer clips are cropped to this many frames.
        min_frames: shorter clips are refused.
        crop: ``random`` (training), ``start`` or ``center`` window when a clip is longer than ``max_frames``.
        mean, std: per-feature statistics (``.npy`` path or array of shape ``[F]``); features become
            ``(x - mean) / std``. Both or neither.
        representation: ``features`` (arrays as they are), ``humanml3d`` (any motion source as HumanML3D's
            263-d vectors at 20 fps; ``F`` must be 263) or ``canonical`` (the shared 15-joint skeleton,
            ``F`` 45); see the module docstring.
    """

    modality = Modality.MOTION
    takes_path = True

    def __init__(
        self,
        num_features: int = 263,
        fps: float = 20.0,
        max_frames: int = 196,
        min_frames: int = 1,
        crop: MotionCrop = "center",
        mean: str | Path | np.ndarray | torch.Tensor | None = None,
        std: str | Path | np.ndarray | torch.Tensor | None = None,
        representation: MotionRepresentation = "features",
    ) -> None:
        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        fixed = REPRESENTATION_FEATURES.get(representation)
        if fixed is not None and num_features != fixed:
            raise ValueError(f"the {representation} representation has {fixed} features, not {num_features}")
        if representation == "humanml3d" and fps != 20.0:
            raise ValueError(f"the humanml3d representation is at 20 fps, not {fps}")
        if crop not in ("random", "start", "center"):
            raise ValueError(f"crop must be random, start or center, got {crop!r}")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        if not 1 <= min_frames <= max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
        self.num_features, self.fps, self.max_frames, self.min_frames = num_features, fps, max_frames, min_frames
        self.crop = crop
        self.representation = representation
        self.mean = _stats(mean, "mean", num_features)
        self.std = _stats(std, "std", num_features)
        if self.std is not None and bool((self.std <= 0).any()):
            raise InputError(f"std has {int((self.std <= 0).sum())} entries <= 0; features cannot be normalised")

    def read(self, raw: Any, item: str | None = None) -> np.ndarray:
        """The raw ``[T, F]`` array of ``raw`` (a ``.npy`` path, an array or a tensor; with the ``humanml3d`` or
        ``canonical`` representation also any motion file or a ``[T, 22, 3]`` joint array), checked."""
        item = item_name(raw, item)
        if isinstance(raw, torch.Tensor):
            raw = raw.detach().cpu().float().numpy()
        if self.representation != "features":
            return check_motion(self._convert(raw, item), self.num_features, item, self.min_frames)
        if isinstance(raw, str | Path):
            path = Path(raw)
            if not path.is_file():
                raise InputError(f"{item}: motion file not found: {path}")
            array = read_npy(path, item)
        else:
            array = raw
        return check_motion(array, self.num_features, item, self.min_frames)

    def _convert(self, raw: Any, item: str) -> np.ndarray:
        """``raw`` in this spec's representation (``humanml3d`` or ``canonical``)."""
        # the readers load on first use: a features-only spec never needs them
        from unibind.motion.canonical import to_features
        from unibind.motion.sources import READ_ERRORS, load_humanml3d_features, load_positions

        if self.representation == "humanml3d":
            return load_humanml3d_features(raw, item)
        if isinstance(raw, str | Path):
            try:
                return to_features(load_positions(raw, self.fps))
            except InputError:
                raise
            except READ_ERRORS as err:
                raise InputError(f"{item}: cannot read a motion from it ({err})") from err
        return np.asarray(raw)

    def load(self, raw: Any, *, item: str | None = None) -> torch.Tensor:
        motion = torch.as_tensor(self.read(raw, item), dtype=torch.float32)
        motion = self.window(motion)
        if self.mean is not None:
            motion = (motion - self.mean) / self.std
        return motion

    def window(self, motion: torch.Tensor) -> torch.Tensor:
        """At most ``max_frames`` frames of ``motion: [T, F]``, chosen by the crop policy."""
        excess = motion.shape[0] - self.max_frames
        if excess <= 0:
            return motion
        start = {"start": 0, "center": excess // 2}.get(self.crop)
        if start is None:
            start = int(torch.randint(0, excess + 1, ()).item())
        return motion[start : start + self.max_frames]

    def collate(self, samples: Sequence[torch.Tensor]) -> MotionBatch:
        if not samples:
            raise InputError("cannot collate an empty list of motions")
        longest = max(sample.shape[0] for sample in samples)
        features = torch.zeros(len(samples), longest, self.num_features)
        mask = torch.zeros(len(samples), longest, dtype=torch.bool)
        for row, sample in enumerate(samples):
            features[row, : sample.shape[0]] = sample
            mask[row, : sample.shape[0]] = True
        return MotionBatch(features, mask)

    def dummy_batch(self, n: int) -> MotionBatch:
        lengths = torch.randint(self.min_frames, min(self.max_frames, 60) + 1, (n,))
        return self.collate([torch.randn(int(length), self.num_features) for length in lengths])

    def __repr__(self) -> str:
        stats = "raw"
        if self.mean is not None:  # the statistics' checksum, so feature caches keyed by repr follow them
            stats = (
                "mean/std " + hashlib.sha256(self.mean.numpy().tobytes() + self.std.numpy().tobytes()).hexdigest()[:12]
            )
        representation = "" if self.representation == "features" else f", representation={self.representation!r}"
        return (
            f"MotionSpec(num_features={self.num_features}, fps={self.fps}, max_frames={self.max_frames}, "
            f"min_frames={self.min_frames}, crop={self.crop!r}, {stats}{representation})"
        )
