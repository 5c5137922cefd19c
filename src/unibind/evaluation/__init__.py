"""Metrics and benchmark protocols."""

from unibind.evaluation.retrieval import average_precision_at_k, cross_modal_recall, recall_at_k
from unibind.evaluation.zero_shot import accuracy_and_macro_f1, label_prompts, zero_shot_predict

__all__ = [
    "accuracy_and_macro_f1",
    "average_precision_at_k",
    "cross_modal_recall",
    "label_prompts",
    "recall_at_k",
    "zero_shot_predict",
]
