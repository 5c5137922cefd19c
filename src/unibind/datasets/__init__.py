"""Readers for paired multimodal data (``unibind.datasets``; never shadows Hugging Face ``datasets``)."""

from unibind.datasets.audio_captions import AudioCaptions, read_audiocaps, read_clotho, write_manifest
from unibind.datasets.manifest import (
    ManifestDataset,
    ManifestItem,
    SkipReport,
    collate_items,
    read_manifest,
)
from unibind.datasets.shapes import write_shapes_dataset
from unibind.datasets.shard_index import SHARD_INDEX, ShardInfo, ShardSet
from unibind.datasets.shard_writer import write_shards
from unibind.datasets.shards import ShardRecord, decode_record, is_shard_location, iter_records, open_shards
from unibind.datasets.text_files import ManifestError

__all__ = [
    "SHARD_INDEX",
    "AudioCaptions",
    "ManifestDataset",
    "ManifestError",
    "ManifestItem",
    "ShardInfo",
    "ShardRecord",
    "ShardSet",
    "SkipReport",
    "collate_items",
    "decode_record",
    "is_shard_location",
    "iter_records",
    "open_shards",
    "read_audiocaps",
    "read_clotho",
    "read_manifest",
    "write_manifest",
    "write_shapes_dataset",
    "write_shards",
]
