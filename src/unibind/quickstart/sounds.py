"""The quickstart's labelled real sounds: features, training pairs, retrieval and zero-shot classification.

Instrument notes (FluidSynth + a GM soundfont) train next to the emoji; test instruments are programs never
heard in training; the freedesktop event sounds are classes never seen at all. See
:mod:`unibind.datasets.sounds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from unibind.datasets.emoji import EmojiCorpus
from unibind.datasets.emoji_speech import synthesize_names_espeak
from unibind.datasets.sounds import GM_FAMILIES, SoundCorpus
from unibind.embedder import UnifiedEmbedder
from unibind.encoders.base import Encoder
from unibind.evaluation import label_prompts, zero_shot_predict
from unibind.features import cached_features
from unibind.metrics.classification import accuracy_and_macro_f1
from unibind.metrics.ranking import best_relevant_rank
from unibind.modalities import AudioSpec
from unibind.quickstart.evaluate import Ranks, embed_features
from unibind.quickstart.features import AUDIO_SPEC, TEXT_SPEC, FeatureTable
from unibind.quickstart.paired import PairedTable, caption_columns

FAMILY_PROMPT = "the sound of {}"
# event sounds can be very short (audio-volume-change lasts 0.067 s); the encoder pads every clip anyway
SOUND_SPEC = AudioSpec(16000, clip_seconds=4.0, crop="center", min_seconds=0.05)


@dataclass(kw_only=True)
class SoundTable(PairedTable):
    """Features of a sound corpus: one clip per row (``audio``: ``[S, Wa]``), every caption with its row."""

    modality: ClassVar[str] = "audio"
    audio: torch.Tensor

    def row_input(self, row: int) -> torch.Tensor:
        return self.audio[row]

    @staticmethod
    def combine(samples: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(samples)


def sound_features(corpus: SoundCorpus, towers: dict[str, Encoder], cache: Path, progress: bool = True) -> SoundTable:
    """Audio-tower features of every clip and text-tower features of every caption, cached on disk."""
    rows = corpus.rows()
    texts, caption_row, caption_is_label, group = caption_columns(rows)
    clips = [(corpus.root / row["audio"]).resolve() for row in rows]
    return SoundTable(
        rows=rows,
        audio=cached_features(towers["audio"], SOUND_SPEC, clips, cache, batch_size=64, progress=progress),
        text=cached_features(towers["text"], TEXT_SPEC, texts, cache, batch_size=256, progress=progress),
        caption_row=caption_row,
        caption_is_label=caption_is_label,
        group=group,
    )


def sound_ranks(embedder: UnifiedEmbedder, sounds: SoundTable, split: str = "test") -> dict[str, Ranks]:
    """Label text <-> clip retrieval among the split's clips; every clip of the same instrument or sound is relevant."""
    rows = sounds.items(split)
    audio, _ = embed_features(embedder, sounds.audio[rows], "audio")
    queries, label_groups = sounds.label_queries(rows)  # one query per distinct label
    texts, _ = embed_features(embedder, sounds.text[queries], "text")
    relevant = label_groups.view(-1, 1) == sounds.group[rows].view(1, -1)
    return {
        "text_to_audio": Ranks(best_relevant_rank(texts @ audio.T, relevant), len(rows)),
        "audio_to_text": Ranks(best_relevant_rank(audio @ texts.T, relevant.T), len(queries)),
    }


@torch.no_grad()
def zero_shot_sounds(
    embedder: UnifiedEmbedder, sounds: SoundTable, text_tower: Encoder, cache: Path
) -> dict[str, dict[str, float]]:
    """Zero-shot classification of the test clips from label names.

    ``instrument_family``: held-out instruments into the 16 GM families (prompt :data:`FAMILY_PROMPT`);
    ``event_sound``: the 35 never-seen freedesktop sounds into their own names.
    """
    results = {}
    instruments = sounds.items("test", "fluidsynth")
    if len(instruments):
        prompts = cached_features(
            text_tower, TEXT_SPEC, label_prompts(GM_FAMILIES, FAMILY_PROMPT), cache, progress=False
        )
        target = torch.tensor([GM_FAMILIES.index(sounds.rows[i]["family"]) for i in instruments.tolist()])
        results["instrument_family"] = _classify(embedder, sounds.audio[instruments], prompts, target)
    events = sounds.items("test", "freedesktop")
    if len(events):
        labels = [sounds.rows[i]["label"] for i in events.tolist()]
        prompts = cached_features(text_tower, TEXT_SPEC, label_prompts(labels, FAMILY_PROMPT), cache, progress=False)
        results["event_sound"] = _classify(embedder, sounds.audio[events], prompts, torch.arange(len(events)))
    return results


def _classify(embedder: UnifiedEmbedder, audio: torch.Tensor, prompts: torch.Tensor, target: torch.Tensor) -> dict:
    clips, _ = embed_features(embedder, audio, "audio")
    labels, _ = embed_features(embedder, prompts, "text")
    scores = accuracy_and_macro_f1(zero_shot_predict(clips, labels), target, len(prompts))
    return {**scores, "classes": len(prompts), "clips": len(audio)}


def espeak_features(
    corpus: EmojiCorpus,
    table: FeatureTable,
    audio_tower: Encoder,
    languages: list[str],
    cache: Path,
    split: str = "test",
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """Features ``[n, Wa]`` of the split's names spoken by espeak-ng, per language (rows follow ``table.items``)."""
    ids = [table.rows[i]["id"] for i in table.items(split).tolist()]
    features = {}
    for language in languages:
        clips = synthesize_names_espeak(corpus, language, ids, progress=progress)
        if len(clips) != len(ids):  # a name missing in this language: leave the language out
            continue
        features[language] = cached_features(audio_tower, AUDIO_SPEC, [clips[i] for i in ids], cache, 64, progress)
    return features


def espeak_ranks(
    embedder: UnifiedEmbedder, table: FeatureTable, spoken: dict[str, torch.Tensor], split: str = "test"
) -> dict[str, dict[str, Ranks]]:
    """Per language: the name (text, that language) -> its espeak-ng speech, and speech -> the emoji image."""
    items = table.items(split)
    images, _ = embed_features(embedder, table.image[items], "image")
    same = torch.eye(len(items), dtype=torch.bool)
    ranks = {}
    for language, features in spoken.items():
        audio, _ = embed_features(embedder, features, "audio")
        names = table.captions(items, language, names_only=True)
        texts, _ = embed_features(embedder, table.text[names], "text")
        relevant = table.caption_item[names].view(-1, 1) == items.view(1, -1)
        ranks[language] = {
            "text_to_audio": Ranks(best_relevant_rank(texts @ audio.T, relevant), len(items)),
            "audio_to_image": Ranks(best_relevant_rank(audio @ images.T, same), len(items)),
        }
    return ranks
