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


def accuracy_and_macro_f1(predicted: torch.Tensor, target: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Accuracy, and macro-F1 averaged over the classes present in ``target`` or ``predicted``."""
    accuracy = (predicted == target).float().mean().item()
    scores = []
    for c in range(num_classes):
        true_positive = ((predicted == c) & (target == c)).sum().item()
        predicted_c, actual_c = (predicted == c).sum().item(), (target == c).sum().item()
        if predicted_c == 0 and actual_c == 0:
            continue
        scores.append(2 * true_positive / (predicted_c + actual_c))
    return {"accuracy": accuracy, "macro_f1": sum(scores) / len(scores)}
