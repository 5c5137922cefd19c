"""Classification metrics: accuracy and macro-F1 of predicted class indices."""

from __future__ import annotations

import torch


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
