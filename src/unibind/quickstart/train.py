"""Train heads + aligner on cached features with the same Lightning module as any other run."""

from __future__ import annotations

import logging
import random
import warnings
from collections import defaultdict
from typing import Literal

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from unibind.embedder import UnifiedEmbedder
from unibind.encoders import PrecomputedFeatures
from unibind.fusion import Aligner, DenseAligner, IdentityAligner, MoEAligner
from unibind.quickstart.features import FeatureTable
from unibind.training import UnibindModule

Variant = Literal["untrained", "dense", "moe"]


def make_aligner(variant: Variant, embed_dim: int, modalities: list[str]) -> Aligner:
    """(a) ``untrained``: heads only, never trained; (b) ``dense``: one FFN; (c) ``moe``: 8 experts, top-2."""
    if variant == "untrained":
        return IdentityAligner(embed_dim)
    if variant == "dense":
        return DenseAligner(embed_dim, hidden_dim=2 * embed_dim)
    if variant == "moe":
        return MoEAligner(embed_dim, num_experts=8, top_k=2, hidden_dim=2 * embed_dim, modalities=modalities)
    raise ValueError(f"unknown variant {variant!r}; expected untrained, dense or moe")


def feature_embedder(table: FeatureTable, variant: Variant, embed_dim: int) -> UnifiedEmbedder:
    widths = {"image": table.image.shape[1], "text": table.text.shape[1]}
    if table.audio is not None:
        widths["audio"] = table.audio.shape[1]
    encoders = {modality: PrecomputedFeatures(modality, width) for modality, width in widths.items()}
    return UnifiedEmbedder(encoders, embed_dim, make_aligner(variant, embed_dim, list(widths)))


class CaptionPairs(Dataset):
    """Each item once per epoch with one of its captions, drawn at random (any language) or its English name."""

    def __init__(self, table: FeatureTable, items: torch.Tensor, english_names: bool = False) -> None:
        self.table, self.items = table, items.tolist()
        by_item: dict[int, list[int]] = defaultdict(list)  # one pass over the captions, not one per item
        kinds = zip(table.caption_item.tolist(), table.caption_language, table.caption_is_name.tolist(), strict=True)
        for index, (item, language, is_name) in enumerate(kinds):
            if not english_names or (language == "en" and is_name):
                by_item[item].append(index)
        self.captions = [by_item[i] for i in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, int]:
        return self.items[index], random.choice(self.captions[index])

    def collate(self, pairs: list[tuple[int, int]]) -> dict:
        items = torch.tensor([item for item, _ in pairs])
        captions = torch.tensor([caption for _, caption in pairs])
        inputs = {"image": self.table.image[items], "text": self.table.text[captions]}
        if self.table.audio is not None:
            inputs["audio"] = self.table.audio[items]
        everyone = torch.arange(len(pairs))
        return {
            "ids": [self.table.rows[i]["id"] for i in items.tolist()],
            "groups": items,
            "inputs": inputs,
            "present": dict.fromkeys(inputs, everyone),
            "skipped": 0,
        }


def train_variant(
    table: FeatureTable,
    variant: Variant,
    epochs: int,
    embed_dim: int = 256,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> UnifiedEmbedder:
    """A feature embedder of ``variant``, trained for ``epochs`` (the ``untrained`` one is returned as built)."""
    L.seed_everything(seed, verbose=False)
    embedder = feature_embedder(table, variant, embed_dim)
    if variant == "untrained" or epochs == 0:
        return embedder.eval()
    if progress:
        print(f"training the {variant} aligner: {epochs} epochs on {len(table.items('train'))} emoji")
    module = UnibindModule(embedder, optimizer=lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=0.01))
    train = CaptionPairs(table, table.items("train"))
    val = CaptionPairs(table, table.items("val"), english_names=True)
    # the trainer's start-up banner (accelerators, tips) would repeat for every variant
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        log_every_n_steps=1,
        check_val_every_n_epoch=max(1, epochs // 4),
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():  # Lightning 2.6 still calls a torch API torch deprecated; not ours to fix
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
        trainer.fit(
            module,
            train_dataloaders=DataLoader(train, batch_size=batch_size, shuffle=True, collate_fn=train.collate),
            val_dataloaders=DataLoader(val, batch_size=batch_size, collate_fn=val.collate),
        )
    return module.embedder.eval()
