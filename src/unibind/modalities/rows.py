"""Cutting a collated batch of any modality into consecutive row ranges (GradCache's sub-batches)."""

from __future__ import annotations

from typing import Any

import torch


def narrow_rows(batch: Any, start: int, stop: int) -> Any:
    """Rows ``start .. stop - 1`` of a collated batch: a tensor or list (one row per sample) or a batch class
    with a ``narrow_rows`` method (:class:`AudioBatch`, :class:`MotionBatch`).

    Raises ``TypeError`` for batches that cannot be cut by rows (a :class:`GraphBatch` joins its samples into
    one graph).
    """
    if isinstance(batch, torch.Tensor | list):
        return batch[start:stop]
    narrow = getattr(batch, "narrow_rows", None)
    if narrow is None:
        raise TypeError(f"a {type(batch).__name__} cannot be cut into row ranges (no narrow_rows method)")
    return narrow(start, stop)
