"""Zero-shot classification in the shared space: label names through a prompt, nearest label wins."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def label_prompts(labels: Sequence[str], template: str = "a photo of {}") -> list[str]:
    """``template`` filled with each label, e.g. ``"the sound of {}"`` for audio."""
    if "{}" not in template:
        raise ValueError(f"template must contain '{{}}' for the label, got {template!r}")
    return [template.format(label) for label in labels]


def zero_shot_predict(items: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Index of the most similar label for each item: ``[N, D]``, ``[C, D]`` (unit norm) -> ``[N]``."""
    return (items @ labels.T).argmax(dim=1)
