"""Retrieval metrics from a similarity matrix and a relevance matrix."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def best_relevant_rank(similarity: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """0-based rank of each query's best-scored relevant item: ``[Q, N]`` x2 -> ``Tensor[Q]``.

    Ties are broken pessimistically (a relevant item tied with an irrelevant one ranks below it), so
    a constant scorer does not look good. Queries with no relevant item are an error.
    """
    if similarity.shape != relevant.shape:
        raise ValueError(f"similarity {tuple(similarity.shape)} and relevant {tuple(relevant.shape)} differ")
    if not bool(relevant.any(dim=1).all()):
        raise ValueError("every query needs at least one relevant item")
    similarity = similarity.float()
    best_relevant = similarity.masked_fill(~relevant, float("-inf")).max(dim=1).values
    return ((similarity >= best_relevant.unsqueeze(1)) & ~relevant).sum(dim=1)


def recall_from_ranks(ranks: torch.Tensor, num_items: int, ks: Sequence[int]) -> dict[str, float]:
    """``{"R@k": fraction of ranks < k}``; a ``k`` larger than ``num_items`` is clipped to it."""
    return {f"R@{k}": (ranks < min(k, num_items)).double().mean().item() for k in ks}


def map_from_ranks(ranks: torch.Tensor, k: int = 10) -> float:
    """mAP@k when each query has one relevant item at 0-based ``ranks``: the mean reciprocal rank within ``k``.

    Equals :func:`average_precision_at_k` for single-relevant queries, without the similarity matrix.
    """
    return torch.where(ranks < k, 1.0 / (ranks + 1).double(), torch.zeros((), dtype=torch.double)).mean().item()


def recall_at_k(similarity: torch.Tensor, relevant: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Fraction of queries with at least one relevant item among their top ``k``.

    Args:
        similarity: ``[Q, N]`` query-item scores (higher is better).
        relevant: ``[Q, N]`` bool, True where item ``j`` is a correct answer to query ``i``.
        ks: cut-offs.
    Returns:
        ``{"R@1": ..., "R@5": ..., ...}`` in [0, 1] (ties pessimistic, see :func:`best_relevant_rank`).
    """
    return recall_from_ranks(best_relevant_rank(similarity, relevant), similarity.shape[1], ks)


def cross_modal_recall(
    query: torch.Tensor,
    items: torch.Tensor,
    query_groups: torch.Tensor,
    item_groups: torch.Tensor,
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: int = 1024,
) -> dict[str, float]:
    """Recall@k of unit-norm ``query: [Q, D]`` against ``items: [N, D]``; relevant = same group.

    Queries are scored ``chunk_size`` at a time, so memory stays ``O(chunk_size * N)``.
    """
    ranks = []
    for start in range(0, query.shape[0], chunk_size):
        chunk, groups = query[start : start + chunk_size], query_groups[start : start + chunk_size]
        ranks.append(best_relevant_rank(chunk @ items.T, groups.view(-1, 1) == item_groups.view(1, -1)))
    return recall_from_ranks(torch.cat(ranks), items.shape[0], ks)


def average_precision_at_k(similarity: torch.Tensor, relevant: torch.Tensor, k: int = 10) -> float:
    """mAP@k over queries (the DCASE / AudioCaps-Clotho retrieval protocol).

    .. math::
        \\mathrm{AP@}k = \\frac{1}{\\min(R, k)} \\sum_{i=1}^{k} P@i \\cdot \\mathrm{rel}_i

    with ``R`` the number of relevant items of the query. With one relevant item this is the
    reciprocal rank when it ranks within ``k``, else 0. Ties rank relevant items last.
    """
    if similarity.shape != relevant.shape:
        raise ValueError(f"similarity {tuple(similarity.shape)} and relevant {tuple(relevant.shape)} differ")
    num_relevant = relevant.sum(dim=1)
    if not bool((num_relevant > 0).all()):
        raise ValueError("every query needs at least one relevant item")
    # two stable sorts: relevance ascending, then score descending, so ties put irrelevant items first
    by_relevance = relevant.to(torch.uint8).argsort(dim=1, stable=True)
    by_score = similarity.gather(1, by_relevance).argsort(dim=1, descending=True, stable=True)
    order = by_relevance.gather(1, by_score)[:, :k]
    hits = relevant.gather(1, order).float()  # [Q, k]
    precision = hits.cumsum(dim=1) / torch.arange(1, hits.shape[1] + 1, device=hits.device)
    ap = (precision * hits).sum(dim=1) / num_relevant.clamp(max=k).float()
    return ap.mean().item()
