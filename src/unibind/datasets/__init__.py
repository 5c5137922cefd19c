"""Readers for paired multimodal data (``unibind.datasets``; never shadows Hugging Face ``datasets``)."""

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
    "ManifestDataset",
    "ManifestError",
    "ManifestItem",
    "SkipReport",
    "collate_items",
    "read_manifest",
    "write_shapes_dataset",
]
