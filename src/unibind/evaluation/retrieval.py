"""Retrieval metrics from a similarity matrix and a relevance matrix."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def recall_at_k(similarity: torch.Tensor, relevant: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Fraction of queries with at least one relevant item among their top ``k``.

    Args:
        similarity: ``[Q, N]`` query-item scores (higher is better).
        relevant: ``[Q, N]`` bool, True where item ``j`` is a correct answer to query ``i``.
        ks: cut-offs; a ``k`` larger than ``N`` is clipped to ``N``.
    Returns:
        ``{"R@1": ..., "R@5": ..., ...}`` in [0, 1].

    Ties are broken pessimistically (a relevant item tied with an irrelevant one ranks below it), so
    a constant scorer does not look good. Queries with no relevant item are an error.
    """
    if similarity.shape != relevant.shape:
        raise ValueError(f"similarity {tuple(similarity.shape)} and relevant {tuple(relevant.shape)} differ")
    if not bool(relevant.any(dim=1).all()):
        raise ValueError("every query needs at least one relevant item")
    similarity = similarity.float()
    best_relevant = similarity.masked_fill(~relevant, float("-inf")).max(dim=1).values
    # rank of the best relevant item = number of items scoring at least as high that are irrelevant
    rank = ((similarity >= best_relevant.unsqueeze(1)) & ~relevant).sum(dim=1)
    return {f"R@{k}": (rank < min(k, similarity.shape[1])).double().mean().item() for k in ks}


def cross_modal_recall(
    query: torch.Tensor,
    items: torch.Tensor,
    query_groups: torch.Tensor,
    item_groups: torch.Tensor,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """Recall@k of unit-norm ``query: [Q, D]`` against ``items: [N, D]``; relevant = same group."""
    relevant = query_groups.view(-1, 1) == item_groups.view(1, -1)
    return recall_at_k(query @ items.T, relevant, ks)
