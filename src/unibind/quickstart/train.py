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
from unibind.quickstart.sounds import SoundTable
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


def feature_embedder(
    table: FeatureTable, variant: Variant, embed_dim: int, sounds: SoundTable | None = None
) -> UnifiedEmbedder:
    widths = {"image": table.image.shape[1], "text": table.text.shape[1]}
    if table.audio is not None:
        widths["audio"] = table.audio.shape[1]
    elif sounds is not None:
        widths["audio"] = sounds.audio.shape[1]
    encoders = {modality: PrecomputedFeatures(modality, width) for modality, width in widths.items()}
    return UnifiedEmbedder(encoders, embed_dim, make_aligner(variant, embed_dim, list(widths)))


class CaptionPairs(Dataset):
    """Each emoji once per epoch with one of its captions, drawn at random (any language) or its English name.

    With ``sounds``, each of ``sound_rows`` follows, paired with one of its captions at random (text + audio only).
    """

    def __init__(
        self,
        table: FeatureTable,
        items: torch.Tensor,
        english_names: bool = False,
        sounds: SoundTable | None = None,
        sound_rows: torch.Tensor | None = None,
    ) -> None:
        self.table, self.sounds = table, sounds
        by_item: dict[int, list[int]] = defaultdict(list)  # one pass over the captions, not one per item
        kinds = zip(table.caption_item.tolist(), table.caption_language, table.caption_is_name.tolist(), strict=True)
        for index, (item, language, is_name) in enumerate(kinds):
            if not english_names or (language == "en" and is_name):
                by_item[item].append(index)
        self.entries = [("emoji", item, by_item[item]) for item in items.tolist()]
        if sounds is not None and sound_rows is not None:
            by_row: dict[int, list[int]] = defaultdict(list)
            for index, row in enumerate(sounds.caption_row.tolist()):
                if not english_names or sounds.caption_is_label[index]:
                    by_row[row].append(index)
            self.entries += [("sound", row, by_row[row]) for row in sound_rows.tolist()]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[str, int, int]:
        kind, item, captions = self.entries[index]
        return kind, item, random.choice(captions)

    def collate(self, pairs: list[tuple[str, int, int]]) -> dict:
        """Emoji give image + text (+ spoken name); sounds give text + audio; ``present`` says which rows have what."""
        emoji = [p for p, (kind, _, _) in enumerate(pairs) if kind == "emoji"]
        texts = [(self.table.text if kind == "emoji" else self.sounds.text)[caption] for kind, _, caption in pairs]
        inputs, present = {"text": torch.stack(texts)}, {"text": torch.arange(len(pairs))}
        if emoji:
            inputs["image"] = self.table.image[torch.tensor([pairs[p][1] for p in emoji], dtype=torch.long)]
            present["image"] = torch.tensor(emoji, dtype=torch.long)
        audio, audio_rows = [], []
        for position, (kind, item, _) in enumerate(pairs):
            if kind == "sound":
                audio.append(self.sounds.audio[item])
            elif self.table.audio is not None:
                audio.append(self.table.audio[item])
            else:
                continue
            audio_rows.append(position)
        if audio:
            inputs["audio"], present["audio"] = torch.stack(audio), torch.tensor(audio_rows, dtype=torch.long)
        offset = len(self.table.rows)  # sound groups after the emoji items
        groups = [item if kind == "emoji" else offset + int(self.sounds.group[item]) for kind, item, _ in pairs]
        ids = [
            self.table.rows[item]["id"] if kind == "emoji" else self.sounds.rows[item]["id"] for kind, item, _ in pairs
        ]
        return {"ids": ids, "groups": torch.tensor(groups), "inputs": inputs, "present": present, "skipped": 0}


def train_variant(
    table: FeatureTable,
    variant: Variant,
    epochs: int,
    embed_dim: int = 256,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
    sounds: SoundTable | None = None,
) -> UnifiedEmbedder:
    """A feature embedder of ``variant``, trained for ``epochs`` (the ``untrained`` one is returned as built).

    With ``sounds``, their train clips join the emoji in every epoch (text <-> audio pairs).
    """
    L.seed_everything(seed, verbose=False)
    embedder = feature_embedder(table, variant, embed_dim, sounds)
    if variant == "untrained" or epochs == 0:
        return embedder.eval()
    sound_rows = {split: sounds.items(split) if sounds is not None else None for split in ("train", "val")}
    if progress:
        extra = f" and {len(sound_rows['train'])} sounds" if sounds is not None else ""
        print(f"training the {variant} aligner: {epochs} epochs on {len(table.items('train'))} emoji{extra}")
    module = UnibindModule(embedder, optimizer=lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=0.01))
    train = CaptionPairs(table, table.items("train"), sounds=sounds, sound_rows=sound_rows["train"])
    val = CaptionPairs(table, table.items("val"), english_names=True, sounds=sounds, sound_rows=sound_rows["val"])
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
