"""Benchmark protocols (the metrics themselves are :mod:`unibind.metrics`).

The zero-shot helpers are importable from here; they are loaded lazily, so that ``unibind --help`` (whose parser
imports :mod:`unibind.evaluation.records`) does not import torch.
"""

from __future__ import annotations

from unibind.lazy import lazy_attributes

_EXPORTS = {
    "label_prompts": "unibind.evaluation.zero_shot",
    "zero_shot_predict": "unibind.evaluation.zero_shot",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS)
