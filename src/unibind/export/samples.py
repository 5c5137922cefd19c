"""The inputs an export validates its graphs on: the given samples, else synthetic ones per modality."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from unibind.modalities import ModalitySpec

SENTENCES = (
    "a dog",
    "a person walks forward, turns around and sits down on a chair",
    "red circle",
    "the cat sleeps on the warm windowsill while rain taps against the glass outside",
    "a man kicks with his left leg",
    "smiling face with heart-shaped eyes",
)


def synthetic_samples(modality: str, spec: ModalitySpec, count: int = 6, seed: int = 0) -> list[Any]:
    """Raw inputs for validation when none are given: fixed sentences, rendered shapes, tones of 1 to 3 s,
    smooth random motions of varied length, or random feature rows."""
    from unibind.datasets.shapes import COLOURS, SAMPLE_RATE, SHAPES, draw_shape, tone
    from unibind.encoders.preprocessing import FeatureSpec

    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    concepts = [(list(COLOURS)[i % len(COLOURS)], SHAPES[i % len(SHAPES)]) for i in range(count)]
    if isinstance(spec, FeatureSpec):
        return list(torch.randn(count, spec.width, generator=generator))
    if modality == "text":
        return [SENTENCES[i % len(SENTENCES)] for i in range(count)]
    if modality == "image":
        return [draw_shape(colour, shape, 96 + 16 * i, rng) for i, (colour, shape) in enumerate(concepts)]
    if modality == "audio":
        return [(tone(c, s, 1.0 + 0.4 * i, rng), SAMPLE_RATE) for i, (c, s) in enumerate(concepts)]
    if modality == "motion":
        features = getattr(spec, "num_features", 263)
        longest = getattr(spec, "max_frames", 196)
        lengths = [max(2, min(longest, 12 + 9 * ((i * 5) % count))) for i in range(count)]
        steps = [0.1 * torch.randn(length, features, generator=generator) for length in lengths]
        return [step.cumsum(dim=0).numpy() for step in steps]
    raise ValueError(f"no synthetic {modality} inputs; pass samples for it")


def validation_samples(
    modality: str, spec: ModalitySpec, given: Sequence[Any] | None, limit: int
) -> tuple[list[Any], str]:
    """Loaded samples (at least 2: the export traces with more than one row) and a description of them."""
    if given:
        raws = list(given)[:limit]
        what = f"{len(raws)} given inputs"
    else:
        raws = synthetic_samples(modality, spec)
        what = f"{len(raws)} synthetic inputs (pass samples for real ones)"
    loaded = [spec.load(raw, item=f"{modality} sample {i}") for i, raw in enumerate(raws)]
    if len(loaded) == 1:
        loaded = loaded * 2
    return loaded, what
