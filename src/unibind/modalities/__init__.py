"""Per-modality input specs: validate, load, collate, dummy batches."""

from unibind.errors import InputError
from unibind.modalities.audio import AudioBatch, AudioSpec
from unibind.modalities.base import Modality, ModalitySpec
from unibind.modalities.graph import GraphBatch, GraphSpec
from unibind.modalities.image import ImageSpec
from unibind.modalities.motion import MotionBatch, MotionSpec
from unibind.modalities.rows import narrow_rows
from unibind.modalities.text import TextSpec

_DEFAULT_SPECS: dict[Modality, type[ModalitySpec]] = {
    Modality.TEXT: TextSpec,
    Modality.IMAGE: ImageSpec,
    Modality.AUDIO: AudioSpec,
    Modality.MOTION: MotionSpec,
    Modality.GRAPH: GraphSpec,
}


def default_spec(modality: str) -> ModalitySpec:
    """The spec of ``modality`` with default settings."""
    return _DEFAULT_SPECS[Modality(modality)]()


__all__ = [
    "AudioBatch",
    "AudioSpec",
    "GraphBatch",
    "GraphSpec",
    "ImageSpec",
    "InputError",
    "Modality",
    "ModalitySpec",
    "MotionBatch",
    "MotionSpec",
    "TextSpec",
    "default_spec",
    "narrow_rows",
]
