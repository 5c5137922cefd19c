"""Metrics and benchmark protocols.

The common metrics are importable from here; they are loaded lazily, so that ``unibind --help`` and the
command-line parser (:mod:`unibind.evaluation.commands`) do not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "accuracy_and_macro_f1": "unibind.evaluation.zero_shot",
    "average_precision_at_k": "unibind.evaluation.retrieval",
    "cross_modal_recall": "unibind.evaluation.retrieval",
    "label_prompts": "unibind.evaluation.zero_shot",
    "recall_at_k": "unibind.evaluation.retrieval",
    "zero_shot_predict": "unibind.evaluation.zero_shot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'unibind.evaluation' has no attribute {name!r}")
