"""Train heads + aligner on cached features with the same Lightning module as any other run."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from unibind.alignment import Aligner, DenseAligner, IdentityAligner, MoEAligner
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import PrecomputedFeatures
from unibind.encoders.base import Encoder
from unibind.objectives import InfoNCELoss, MatryoshkaLoss
from unibind.quickstart.features import FeatureTable
from unibind.quickstart.motion import motion_encoder
from unibind.quickstart.paired import PairedTable
from unibind.quickstart.state import Quickstart
from unibind.training import UnibindModule
from unibind.training.quiet import quiet_fit

Variant = Literal["untrained", "dense", "moe"]
VARIANTS: tuple[Variant, ...] = ("untrained", "dense", "moe")
#: Prefix sizes of the quickstart's Matryoshka-trained MoE (its embedding has 256 dimensions).
MATRYOSHKA_DIMS = (32, 64, 128, 256)
log = logging.getLogger(__name__)


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
    table: FeatureTable, variant: Variant, embed_dim: int, extras: Sequence[PairedTable] = ()
) -> UnifiedEmbedder:
    """Cached features for image / text / audio (identity encoders), a fresh motion encoder for motion windows."""
    encoders: dict[str, Encoder] = {
        "image": PrecomputedFeatures("image", table.image.shape[1]),
        "text": PrecomputedFeatures("text", table.text.shape[1]),
    }
    if table.audio is not None:
        encoders["audio"] = PrecomputedFeatures("audio", table.audio.shape[1])
    for extra in extras:
        if extra.modality == "audio" and "audio" not in encoders:
            encoders["audio"] = PrecomputedFeatures("audio", extra.row_input(0).shape[0])
        elif extra.modality == "motion":
            encoders["motion"] = motion_encoder()
    return UnifiedEmbedder(encoders, embed_dim, make_aligner(variant, embed_dim, list(encoders)))


class CaptionPairs(Dataset):
    """Each emoji once per epoch with one of its captions, drawn at random (any language) or its English name.

    Each ``(extra table, rows)`` adds those rows, each paired with one of its captions at random (or its
    label, with ``english_names``): text plus the table's modality.
    """

    def __init__(
        self,
        table: FeatureTable,
        items: torch.Tensor,
        english_names: bool = False,
        extras: Sequence[tuple[PairedTable, torch.Tensor]] = (),
    ) -> None:
        self.table = table
        self.extras = [extra for extra, _ in extras]
        by_item: dict[int, list[int]] = defaultdict(list)  # one pass over the captions, not one per item
        kinds = zip(table.caption_item.tolist(), table.caption_language, table.caption_is_name.tolist(), strict=True)
        for index, (item, language, is_name) in enumerate(kinds):
            if not english_names or (language == "en" and is_name):
                by_item[item].append(index)
        self.entries: list[tuple[int, int, list[int]]] = [(-1, item, by_item[item]) for item in items.tolist()]
        self.group_offsets, offset = [], len(table.rows)  # each table's groups after the emoji items
        for source, (extra, rows) in enumerate(extras):
            by_row: dict[int, list[int]] = defaultdict(list)
            for index, row in enumerate(extra.caption_row.tolist()):
                if not english_names or extra.caption_is_label[index]:
                    by_row[row].append(index)
            self.entries += [(source, row, by_row[row]) for row in rows.tolist()]
            self.group_offsets.append(offset)
            offset += int(extra.group.max()) + 1

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[int, int, int]:
        source, item, captions = self.entries[index]
        return source, item, random.choice(captions)

    def collate(self, pairs: list[tuple[int, int, int]]) -> dict:
        """Emoji give image + text (+ spoken name); other tables give text + their modality.

        ``present[modality]`` lists the batch positions that carry the modality, in the order of its inputs.
        """
        per_modality: dict[str, list[tuple[int, Any]]] = defaultdict(list)
        texts, groups, ids = [], [], []
        for position, (source, item, caption) in enumerate(pairs):
            if source < 0:
                texts.append(self.table.text[caption])
                per_modality["image"].append((position, self.table.image[item]))
                if self.table.audio is not None:
                    per_modality["audio"].append((position, self.table.audio[item]))
                groups.append(item)
                ids.append(self.table.rows[item]["id"])
                continue
            extra = self.extras[source]
            texts.append(extra.text[caption])
            per_modality[extra.modality].append((position, extra.row_input(item)))
            groups.append(self.group_offsets[source] + int(extra.group[item]))
            ids.append(extra.rows[item]["id"])
        inputs, present = {"text": torch.stack(texts)}, {"text": list(range(len(pairs)))}
        combine = {extra.modality: extra.combine for extra in self.extras}
        for modality, entries in per_modality.items():
            samples = [sample for _, sample in entries]
            inputs[modality] = combine.get(modality, torch.stack)(samples)
            present[modality] = [position for position, _ in entries]
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
    extras: Sequence[PairedTable] = (),
    matryoshka_dims: Sequence[int] | None = None,
) -> UnifiedEmbedder:
    """A feature embedder of ``variant``, trained for ``epochs`` (the ``untrained`` one is returned as built).

    The train rows of each ``extras`` table (sounds, motion windows) join the emoji in every epoch. With
    ``matryoshka_dims`` the InfoNCE loss is applied at each of those prefix sizes (``MatryoshkaLoss``), and the
    model records them.
    """
    L.seed_everything(seed, verbose=False)
    embedder = feature_embedder(table, variant, embed_dim, extras)
    if variant == "untrained" or epochs == 0:
        return embedder.eval()
    if progress:
        counts = "".join(f", {len(extra.items('train'))} {extra.modality} items" for extra in extras)
        log.info("training the %s aligner: %d epochs on %d emoji%s", variant, epochs, len(table.items("train")), counts)
    objective = MatryoshkaLoss(InfoNCELoss(), list(matryoshka_dims)) if matryoshka_dims else None
    module = UnibindModule(
        embedder, objective, optimizer=lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    )
    train = CaptionPairs(table, table.items("train"), extras=[(extra, extra.items("train")) for extra in extras])
    val_extras = [(extra, extra.items("val")) for extra in extras if len(extra.items("val"))]
    val = CaptionPairs(table, table.items("val"), english_names=True, extras=val_extras)
    quiet_fit(
        module,
        epochs,
        progress,
        train_dataloaders=DataLoader(train, batch_size=batch_size, shuffle=True, collate_fn=train.collate),
        val_dataloaders=DataLoader(val, batch_size=batch_size, collate_fn=val.collate),
    )
    return module.embedder.eval()


def train_aligners(run: Quickstart) -> None:
    """The quickstart's models: each of :data:`VARIANTS` and the Matryoshka-trained MoE on the emoji and the extra
    tables, and (where its features were made) the MoE on English captions through all-MiniLM-L6-v2."""
    table, epochs, progress, extras = run.table, run.options.epochs, run.options.progress, run.extras
    run.trained = {
        variant: train_variant(table, variant, epochs, progress=progress, extras=extras) for variant in VARIANTS
    }
    if run.english is not None:
        run.trained_english = train_variant(run.english, "moe", epochs, progress=progress)
    run.matryoshka = train_variant(
        table, "moe", epochs, progress=progress, extras=extras, matryoshka_dims=MATRYOSHKA_DIMS
    )
