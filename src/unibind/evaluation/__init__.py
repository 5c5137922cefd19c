"""Metrics and benchmark protocols."""

from unibind.evaluation.retrieval import cross_modal_recall, recall_at_k

__all__ = ["cross_modal_recall", "recall_at_k"]
