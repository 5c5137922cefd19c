"""The Python half of an exported tower: one :class:`Preprocessor` per kind, rebuilt by :func:`load_preprocessor`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unibind.encoders.preprocessing.audio import HFAudioFeatures, LogMelWindows
from unibind.encoders.preprocessing.base import DynamicAxes, Preprocessor, pool_matrix
from unibind.encoders.preprocessing.image import ImagePixels
from unibind.encoders.preprocessing.rows import FeatureRows, FeatureSpec, MotionFrames
from unibind.encoders.preprocessing.text import ClipTokens, HFTokens

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


__all__ = [
    "PREPROCESSORS",
    "ClipTokens",
    "DynamicAxes",
    "FeatureRows",
    "FeatureSpec",
    "HFAudioFeatures",
    "HFTokens",
    "ImagePixels",
    "LogMelWindows",
    "MotionFrames",
    "Preprocessor",
    "load_preprocessor",
    "pool_matrix",
]
