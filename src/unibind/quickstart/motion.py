"""The quickstart's motion slice: real mocap windows, a TMR-style encoder trained from scratch, retrieval, pictures.

The windows come from :mod:`unibind.datasets.mocap_corpus`; captions go through the frozen text tower
(cached); the motion encoder is a small :class:`~unibind.encoders.MotionTransformerEncoder` trained with
everything else. Evaluation: each label (a clip's first caption) against the held-out windows (every
window of its group counts) and back, R@1/5/10, mAP@10 and median rank; pictures: the top windows
retrieved for a few text queries as keyframe strips, and the best one as a GIF.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from unibind.datasets.mocap_corpus import MocapCorpus
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import MotionTransformerEncoder
from unibind.encoders.base import Encoder
from unibind.features import cached_features
from unibind.metrics.ranking import best_relevant_rank
from unibind.modalities import MotionBatch, MotionSpec
from unibind.motion.canonical import NUM_FEATURES, from_features
from unibind.motion.render import save_gif, save_keyframes
from unibind.quickstart.evaluate import Ranks, embed_features
from unibind.quickstart.features import TEXT_SPEC
from unibind.quickstart.paired import PairedTable, caption_columns

MOTION_SPEC = MotionSpec(NUM_FEATURES, fps=20.0, max_frames=64, crop="center")
QUERIES = (
    "a person does a cartwheel",
    "someone is walking",
    "a boxer throws punches",
    "a person gets up from the floor",
)


def motion_encoder() -> MotionTransformerEncoder:
    """The quickstart's motion tower: small, trained from scratch on the mocap windows."""
    return MotionTransformerEncoder(NUM_FEATURES, width=128, depth=2, heads=4, ff_dim=256, dropout=0.1, max_frames=64)


@dataclass(kw_only=True)
class MotionTable(PairedTable):
    """Windows ``motions`` (``[T, 45]`` each) with their captions and groups; rows follow the manifests."""

    modality: ClassVar[str] = "motion"
    motions: list[torch.Tensor]

    def row_input(self, row: int) -> torch.Tensor:
        return self.motions[row]

    @staticmethod
    def combine(samples: list[torch.Tensor]) -> MotionBatch:
        return MOTION_SPEC.collate(samples)


def motion_features(corpus: MocapCorpus, text_tower: Encoder, cache: Path, progress: bool = True) -> MotionTable:
    """Load every window (checked by :data:`MOTION_SPEC`) and the text-tower features of every caption."""
    rows = [{**row, "split": split} for split in ("train", "test") for row in corpus.rows(split)]
    motions = [MOTION_SPEC.load(corpus.root / row["motion"], item=row["id"]) for row in rows]
    texts, caption_row, caption_is_label, group = caption_columns(rows)
    return MotionTable(
        rows=rows,
        motions=motions,
        text=cached_features(text_tower, TEXT_SPEC, texts, cache, batch_size=256, progress=progress),
        caption_row=caption_row,
        caption_is_label=caption_is_label,
        group=group,
    )


@torch.no_grad()
def motion_ranks(embedder: UnifiedEmbedder, table: MotionTable, split: str = "test") -> dict[str, Ranks]:
    """Label -> held-out windows (every window of the group is right) and window -> labels."""
    rows = table.items(split)
    motions, _ = embed_features(embedder, table.batch(rows), "motion")
    captions, label_groups = table.label_queries(rows)
    texts, _ = embed_features(embedder, table.text[captions], "text")
    relevant = label_groups.view(-1, 1) == table.group[rows].view(1, -1)
    return {
        "text_to_motion": Ranks(best_relevant_rank(texts @ motions.T, relevant), len(rows)),
        "motion_to_text": Ranks(best_relevant_rank(motions @ texts.T, relevant.T), len(captions)),
    }


def motion_summary(ranks: Ranks) -> dict[str, float]:
    """R@1/5/10, mAP@10 and the median rank (1-based)."""
    return {**ranks.summary(), "MedR": float(np.median(ranks.ranks.numpy()) + 1)}


@torch.no_grad()
def retrieval_pictures(
    embedder: UnifiedEmbedder,
    table: MotionTable,
    text_tower: Encoder,
    cache: Path,
    out: Path,
    queries: tuple[str, ...] = QUERIES,
    top: int = 3,
) -> list[dict]:
    """For each query: keyframe strips of the ``top`` held-out windows (one PNG) and a GIF of the first."""
    out.mkdir(parents=True, exist_ok=True)
    rows = table.items("test")
    motions, _ = embed_features(embedder, table.batch(rows), "motion")
    query_features = cached_features(text_tower, TEXT_SPEC, list(queries), cache, progress=False)
    texts, _ = embed_features(embedder, query_features, "text")
    results = []
    for number, (query, scores) in enumerate(zip(queries, texts @ motions.T, strict=True)):
        best = scores.topk(min(top, len(rows))).indices.tolist()
        strips = []
        for rank, index in enumerate(best):
            row = table.rows[int(rows[index])]
            positions = from_features(table.motions[int(rows[index])].numpy())
            title = f"{rank + 1}. {row['clip']} ({float(scores[index]):.2f})"
            strips.append(save_keyframes(positions, out / f"query{number}_{rank}.png", count=5, size=120, title=title))
            if rank == 0:
                save_gif(positions, out / f"query{number}.gif")
        sheet = _stack([Image.open(path) for path in strips])
        sheet.save(out / f"query{number}.png")
        for path in strips:
            path.unlink()
        results.append({"query": query, "top": [table.rows[int(rows[i])]["clip"] for i in best]})
    return results


def _stack(images: list[Image.Image]) -> Image.Image:
    width = max(image.width for image in images)
    sheet = Image.new("RGB", (width, sum(image.height for image in images)), "white")
    y = 0
    for image in images:
        sheet.paste(image, (0, y))
        y += image.height
    return sheet
