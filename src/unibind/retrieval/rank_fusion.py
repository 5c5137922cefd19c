"""Fusing ranked lists: statistically normalised scores (z-scores per list, as in CMRAG) or reciprocal ranks.

Each list maps item ids to scores (one list per modality, per query vector, per first stage).
- ``zscore``: each list's scores become ``(s - mean) / std`` over that list's candidates, then an item's fused
  score is the sum over the lists it appears in (weights optional).
- ``rrf``: reciprocal rank fusion (Cormack et al. 2009), ``sum 1 / (k + rank)`` with ``k = 60``, rank from 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

Fusion = Literal["zscore", "rrf"]


def zscore_fusion(lists: Sequence[Mapping[str, float]], weights: Sequence[float] | None = None) -> dict[str, float]:
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    fused: dict[str, float] = {}
    for scores, weight in zip(lists, weights, strict=True):
        if not scores:
            continue
        values = list(scores.values())
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
        for item, value in scores.items():
            fused[item] = fused.get(item, 0.0) + weight * (value - mean) / std
    return fused


def rrf_fusion(lists: Sequence[Mapping[str, float]], k: int = 60) -> dict[str, float]:
    fused: dict[str, float] = {}
    for scores in lists:
        ranked = sorted(scores, key=lambda item: -scores[item])
        for rank, item in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def fuse_rankings(
    lists: Sequence[Mapping[str, float]], how: Fusion = "zscore", top_k: int | None = None
) -> list[tuple[str, float]]:
    """Fused ``(id, score)`` pairs, best first (ties by id)."""
    if how == "zscore":
        fused = zscore_fusion(lists)
    elif how == "rrf":
        fused = rrf_fusion(lists)
    else:
        raise ValueError(f"fusion must be zscore or rrf, got {how!r}")
    ranked = sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))
    return ranked[:top_k] if top_k is not None else ranked
