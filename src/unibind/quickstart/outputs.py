"""The quickstart's plots and saved models: recall curves, the MoE's joint space and expert usage; the MoE and the
Matryoshka MoE behind the real towers, each with its model card."""

from __future__ import annotations

from pathlib import Path

import torch

from unibind.datasets.emoji import EmojiCorpus
from unibind.embedder import UnifiedEmbedder
from unibind.model_card import CardFacts
from unibind.quickstart.evaluate import embed_features
from unibind.quickstart.features import FeatureTable
from unibind.quickstart.report import plot_expert_usage, plot_joint_space, plot_recall_curves
from unibind.quickstart.state import Quickstart


def save_full_model(
    trained: UnifiedEmbedder, towers: dict, directory: Path, card: CardFacts | None = None
) -> UnifiedEmbedder:
    """Put the trained heads and aligner behind the real towers and save that as a usable model (returned),
    with ``card``'s facts in its model card.

    Modalities without a frozen tower (motion) keep the encoder they were trained with.
    """
    encoders = {modality: towers.get(modality, trained.encoders[modality]) for modality in trained.modalities}
    aligner = type(trained.aligner)(**trained.aligner.init_args)
    full = UnifiedEmbedder(encoders, trained.embed_dim, aligner, matryoshka_dims=trained.matryoshka_dims)
    full.heads.load_state_dict(trained.heads.state_dict())
    full.aligner.load_state_dict(trained.aligner.state_dict())
    full.card = card or CardFacts()
    full.save_pretrained(directory)
    return full.eval()


def splits_of(table: FeatureTable) -> dict[str, int]:
    """How many emoji each split holds."""
    return {split: len(table.items(split)) for split in ("train", "val", "test")}


def quickstart_card(corpus: EmojiCorpus, splits: dict[str, int], epochs: int, recall: dict, variant: str) -> CardFacts:
    """The model card facts of a quickstart model: its corpus and its held-out text->image figures.

    ``recall``: ``{"text_to_image": {"R@1": ..}}`` (a ``mean`` row) or, for the Matryoshka model,
    ``{dim: {"R@1": .., "R@10": ..}}``.
    """
    data = [
        f"emoji corpus at {corpus.root}: Noto emoji images with Unicode CLDR names and keywords in 11 languages; "
        f"{splits['train']} train / {splits['val']} val / {splits['test']} test emoji; {epochs} epochs ({variant})",
        "spoken English names (piper), labelled instrument notes and event sounds and DeepMimic / BVH motion where "
        "the quickstart found them (see its report.md)",
    ]
    source = "quickstart metrics.json, held-out emoji, mean over languages"
    if "text_to_image" in recall:
        rows = [("text->image", k, recall["text_to_image"][k]) for k in ("R@1", "R@10")]
    else:
        rows = [(f"text->image, d={dim}", k, recall[dim][k]) for dim in sorted(recall) for k in ("R@1", "R@10")]
    evaluations = [{"benchmark": f"emoji {what}", "metric": k, "value": v, "source": source} for what, k, v in rows]
    return CardFacts(training_data=data, evaluations=evaluations)


def plot_moe_space(moe: UnifiedEmbedder, table: FeatureTable, out: Path) -> dict[str, torch.Tensor]:
    """Joint-space map and expert-usage plot of the held-out emoji; returns the expert counts per modality."""
    test_items = table.items("test")
    images, image_counts = embed_features(moe, table.image[test_items], "image")
    english_names = table.captions(test_items, "en", names_only=True)
    texts, text_counts = embed_features(moe, table.text[english_names], "text")
    usage = {"image": image_counts, "text": text_counts}
    audio = None
    if table.audio is not None:
        audio, usage["audio"] = embed_features(moe, table.audio[test_items], "audio")
    categories = [table.rows[i]["category"] for i in test_items.tolist()]
    plot_joint_space(images, texts, categories, out / "joint_space.png", audio)
    plot_expert_usage(usage, out / "expert_usage.png")
    return usage


def plot_results(run: Quickstart) -> None:
    """Recall curves of every variant; the MoE's joint space and expert usage (kept for ``metrics.json``)."""
    plot_recall_curves(run.results.ranks, run.options.out / "recall_curves.png")
    run.results.expert_usage = plot_moe_space(run.trained["moe"], run.table, run.options.out)


def save_models(run: Quickstart) -> None:
    """``model/`` (the MoE, kept for the demo index) and ``model_matryoshka/``, with their model cards."""
    corpus, splits, epochs, out = run.corpus, splits_of(run.table), run.options.epochs, run.options.out
    card = quickstart_card(corpus, splits, epochs, run.results.recall["moe"]["mean"], "moe")
    run.full_model = save_full_model(run.trained["moe"], run.towers, out / "model", card)
    matryoshka_card = quickstart_card(corpus, splits, epochs, run.results.matryoshka["matryoshka"], "matryoshka")
    save_full_model(run.matryoshka, run.towers, out / "model_matryoshka", matryoshka_card)
