"""Benchmark protocols (the metrics themselves are :mod:`unibind.metrics`).

The zero-shot helpers are importable from here; they are loaded lazily, so that ``unibind --help`` (whose parser
imports :mod:`unibind.evaluation.records`) does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "label_prompts": "unibind.evaluation.zero_shot",
    "zero_shot_predict": "unibind.evaluation.zero_shot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'unibind.evaluation' has no attribute {name!r}")
