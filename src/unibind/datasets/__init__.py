"""Readers for paired multimodal data (``unibind.datasets``; never shadows Hugging Face ``datasets``)."""

from unibind.datasets.audio_captions import AudioCaptions, read_audiocaps, read_clotho, write_manifest
from unibind.datasets.manifest import (
    ManifestDataset,
    ManifestError,
    ManifestItem,
    SkipReport,
    collate_items,
    read_manifest,
)
from unibind.datasets.shapes import write_shapes_dataset

__all__ = [
    "AudioCaptions",
    "ManifestDataset",
    "ManifestError",
    "ManifestItem",
    "SkipReport",
    "collate_items",
    "read_audiocaps",
    "read_clotho",
    "read_manifest",
    "write_manifest",
    "write_shapes_dataset",
]
