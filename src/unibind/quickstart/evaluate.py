"""Per-language retrieval on the held-out emoji: text->image and image->text with CLDR names as text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from unibind.embedder import UnifiedEmbedder
from unibind.evaluation.zero_shot import zero_shot_predict
from unibind.metrics.classification import accuracy_and_macro_f1
from unibind.metrics.ranking import best_relevant_rank, map_from_ranks, recall_from_ranks
from unibind.quickstart.features import FeatureTable

KS = (1, 5, 10)


@torch.no_grad()
def embed_features(
    embedder: UnifiedEmbedder, features: torch.Tensor, modality: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Shared-space embeddings ``[N, D]`` and, for an MoE, the slots routed to each expert ``[E]``."""
    out = embedder.eval().align(modality, features)
    return out.embedding, out.expert_counts


@dataclass
class Ranks:
    """0-based rank of each query's right answer among ``candidates`` items."""

    ranks: torch.Tensor
    candidates: int

    def recall(self, ks: Sequence[int] = KS) -> dict[str, float]:
        return recall_from_ranks(self.ranks, self.candidates, ks)

    def summary(self) -> dict[str, float]:
        return {**self.recall(), "mAP@10": map_from_ranks(self.ranks, 10)}


def retrieval_ranks(
    embedder: UnifiedEmbedder, table: FeatureTable, split: str, languages: Sequence[str]
) -> dict[str, dict[str, Ranks]]:
    """``{language: {"text_to_image": Ranks, "image_to_text": Ranks}}``.

    Text queries are the CLDR names of the split's emoji in each language; candidates are the split's
    images (and, image->text, the names in that language).
    """
    items = table.items(split)
    images, _ = embed_features(embedder, table.image[items], "image")
    ranks = {}
    for language in languages:
        captions = table.captions(items, language, names_only=True)
        if len(captions) == 0:
            continue
        texts, _ = embed_features(embedder, table.text[captions], "text")
        caption_items = table.caption_item[captions]
        relevant = caption_items.view(-1, 1) == items.view(1, -1)
        ranks[language] = {
            "text_to_image": Ranks(best_relevant_rank(texts @ images.T, relevant), len(items)),
            "image_to_text": Ranks(best_relevant_rank(images @ texts.T, relevant.T), len(captions)),
        }
    return ranks


def matryoshka_recall(
    embedder: UnifiedEmbedder, table: FeatureTable, split: str, languages: Sequence[str], dims: Sequence[int]
) -> dict[int, dict[str, float]]:
    """``{dim: {"R@1": .., "R@10": ..}}`` of text->image retrieval with every embedding cut to its first ``dim``
    values and normalised again, averaged over ``languages`` (as the ``mean`` row of :func:`recall_table`)."""
    items = table.items(split)
    images, _ = embed_features(embedder, table.image[items], "image")
    by_language = {}
    for language in languages:
        captions = table.captions(items, language, names_only=True)
        if len(captions):
            texts, _ = embed_features(embedder, table.text[captions], "text")
            by_language[language] = (texts, table.caption_item[captions].view(-1, 1) == items.view(1, -1))
    recall = {}
    for dim in dims:
        cut_images = torch.nn.functional.normalize(images[:, :dim], dim=1)
        per_language = [
            Ranks(best_relevant_rank(torch.nn.functional.normalize(texts[:, :dim], dim=1) @ cut_images.T, relevant),
                  len(items)).recall((1, 10))
            for texts, relevant in by_language.values()
        ]  # fmt: skip
        recall[dim] = {key: sum(r[key] for r in per_language) / len(per_language) for key in ("R@1", "R@10")}
    return recall


def recall_table(ranks: dict[str, dict[str, Ranks]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{language: {direction: {"R@1": ..}}}`` plus a ``mean`` over languages."""
    table = {language: {direction: r.recall() for direction, r in by_dir.items()} for language, by_dir in ranks.items()}
    directions = ("text_to_image", "image_to_text")
    table["mean"] = {
        direction: {f"R@{k}": sum(table[lang][direction][f"R@{k}"] for lang in ranks) / len(ranks) for k in KS}
        for direction in directions
    }
    return table


def speech_ranks(embedder: UnifiedEmbedder, table: FeatureTable, split: str) -> dict[str, Ranks]:
    """Spoken English names against English names (text) and images, both directions."""
    if table.audio is None:
        return {}
    items = table.items(split)
    audio, _ = embed_features(embedder, table.audio[items], "audio")
    images, _ = embed_features(embedder, table.image[items], "image")
    names = table.captions(items, "en", names_only=True)
    texts, _ = embed_features(embedder, table.text[names], "text")
    text_relevant = table.caption_item[names].view(-1, 1) == items.view(1, -1)
    same = torch.eye(len(items), dtype=torch.bool)
    return {
        "text_to_audio": Ranks(best_relevant_rank(texts @ audio.T, text_relevant), len(items)),
        "audio_to_text": Ranks(best_relevant_rank(audio @ texts.T, text_relevant.T), len(names)),
        "audio_to_image": Ranks(best_relevant_rank(audio @ images.T, same), len(items)),
        "image_to_audio": Ranks(best_relevant_rank(images @ audio.T, same), len(items)),
    }


@torch.no_grad()
def zero_shot_categories(
    embedder: UnifiedEmbedder, table: FeatureTable, split: str, prompts: torch.Tensor, modality: str
) -> dict[str, float]:
    """Zero-shot emoji-category classification of the split's images or spoken names.

    ``prompts``: ``[C, Wt]`` text-tower features of one prompt per category (sorted category names).
    """
    items = table.items(split)
    categories = sorted({row["category"] for row in table.rows})
    target = torch.tensor([categories.index(table.rows[i]["category"]) for i in items.tolist()])
    features = table.image if modality == "image" else table.audio
    embedded, _ = embed_features(embedder, features[items], modality)
    labels, _ = embed_features(embedder, prompts, "text")
    return accuracy_and_macro_f1(zero_shot_predict(embedded, labels), target, len(categories))
