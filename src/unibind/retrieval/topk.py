"""Exact top-k inner products, chunk by chunk: plain float32, or candidates from low-precision scores re-scored.

Batched searches over many items spend their time in one matrix product per chunk. The fast paths let a
cheaper product (bfloat16 here, int8 in :mod:`unibind.retrieval.int8`) pick ``k + overfetch`` candidates per
query through a running pool (:func:`pool_candidates`), then score only those candidates in float32
(:func:`rescore`): the returned scores are the stored vectors' exact inner products, and a true top-k item is
missed only when rounding pushes it below ``k + overfetch`` others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

OVERFETCH = 22  # candidates per query beyond k: a pool of 32 for the usual k = 10
GROUP = 64  # score columns per group in the pools' group maxima


def top_k_chunked(
    queries: torch.Tensor, items: torch.Tensor, k: int, chunk_size: int = 8192
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` inner products of ``queries: [Q, D]`` against ``items: [N, D]``, all in float32.

    Returns ``(scores [Q, k], indices [Q, k])``, best first. Scores ``chunk_size`` items at a time and merges
    running top-k lists (small chunks keep the score block in cache); 16-bit items are upcast chunk by chunk.
    """
    q = queries.float()
    if q.shape[0] == 1 and items.dtype == torch.float32:  # one query: one matrix-vector product
        scores, indices = torch.mv(items, q[0]).topk(min(k, items.shape[0]))
        return scores.unsqueeze(0), indices.unsqueeze(0)
    best_scores = torch.full((q.shape[0], 0), float("-inf"))
    best_indices = torch.zeros((q.shape[0], 0), dtype=torch.long)
    for start in range(0, items.shape[0], chunk_size):
        scores = q @ items[start : start + chunk_size].float().T
        chunk_scores, chunk_indices = scores.topk(min(k, scores.shape[1]), dim=1)
        merged_scores = torch.cat([best_scores, chunk_scores], dim=1)
        merged_indices = torch.cat([best_indices, chunk_indices + start], dim=1)
        best_scores, order = merged_scores.topk(min(k, merged_scores.shape[1]), dim=1)
        best_indices = merged_indices.gather(1, order)
    return best_scores, best_indices


def rescore(
    queries: torch.Tensor, items: torch.Tensor, candidates: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-``k`` of ``candidates: [Q, C]`` (rows of ``items: [N, D]``) by exact float32 inner products
    with ``queries: [Q, D]``: ``(scores [Q, min(k, C)], rows)``, best first."""
    exact = torch.einsum("qd,qcd->qc", queries.float(), items[candidates].float())
    scores, order = exact.topk(min(k, candidates.shape[1]), dim=1)
    return scores, candidates.gather(1, order)


def top_k_rescored(
    queries: torch.Tensor,
    items: torch.Tensor,
    approximate: torch.Tensor,
    k: int,
    chunk_size: int = 16384,
    overfetch: int = OVERFETCH,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k``: ``k + overfetch`` candidates from 16-bit scores against ``approximate`` (a 16-bit copy of
    ``items``, or ``items`` themselves), then those candidates scored in float32 against ``items``.

    One query: a 16-bit matrix-vector product; a batch: bfloat16 matrix products chunk by chunk (AVX-512
    BF16 where the CPU has it) feeding :func:`pool_candidates`.
    """
    q = queries.float()
    take = min(items.shape[0], k + overfetch)
    if q.shape[0] == 1:
        candidates = torch.mv(approximate, q[0].to(approximate.dtype)).float().topk(take).indices.unsqueeze(0)
    else:
        qb = q.to(torch.bfloat16)
        blocks = (
            (start, qb @ _bfloat16(approximate[start : start + chunk_size]).T)
            for start in range(0, approximate.shape[0], chunk_size)
        )
        candidates = pool_candidates(blocks, take)
    return rescore(q, items, candidates, k)


def top_k_half(
    queries: torch.Tensor, items: torch.Tensor, k: int, chunk_size: int = 16384, overfetch: int = OVERFETCH
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` over 16-bit ``items``: candidates from 16-bit scores, then exact float32 re-scoring."""
    return top_k_rescored(queries, items, items, k, chunk_size, overfetch)


def _bfloat16(chunk: torch.Tensor) -> torch.Tensor:
    """``chunk`` as bfloat16; float16 goes through float32 (exact), twice as fast here as a direct cast."""
    return chunk.float().bfloat16() if chunk.dtype == torch.float16 else chunk.to(torch.bfloat16)


def _comparable(scores: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """bfloat16 ``scores`` and a float ``threshold`` in a form where ``>`` and ``max`` are fast and exact.

    With every threshold non-negative both are read as their raw 16-bit patterns (int16), several times
    faster than bfloat16 arithmetic here: non-negative bfloat16 values order like their bit patterns, and
    negative ones (sign bit set) read as negative integers, below any non-negative threshold, so every
    "above the threshold" answer is unchanged. Otherwise both stay bfloat16.
    """
    if bool((threshold >= 0).all()):
        return scores.view(torch.int16), threshold.to(torch.bfloat16).view(torch.int16)
    return scores, threshold.to(scores.dtype)


def _grouped(block: torch.Tensor, group: int) -> torch.Tensor:
    """``[Q, C]`` scores as ``[Q, ceil(C / group), group]``, the last group padded with ``-inf``."""
    if block.shape[1] % group:
        block = torch.nn.functional.pad(block, (0, group - block.shape[1] % group), value=float("-inf"))
    return block.view(block.shape[0], -1, group)


def _first_pool(groups: torch.Tensor, take: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``take`` scores ``[Q, take]`` (float32) and their columns of the first block, via its groups.

    Each of a query's ``take`` best scores lies in a group whose maximum is at least the ``take``-th best,
    and at most ``take`` groups have such a maximum: so a top-k over the groups' maxima, then over the
    scores of the chosen groups, equals a top-k over the whole block, at a fraction of its cost.
    """
    num_queries, num_groups, group = groups.shape
    chosen = groups.amax(dim=2).float().topk(min(take, num_groups), dim=1).indices
    scores = groups.gather(1, chosen.unsqueeze(2).expand(-1, -1, group)).reshape(num_queries, -1).float()
    columns = (chosen.unsqueeze(2) * group + torch.arange(group)).reshape(num_queries, -1)
    top_scores, order = scores.topk(take, dim=1)
    return top_scores, columns.gather(1, order)


def pool_candidates(blocks: Iterable[tuple[int, torch.Tensor]], take: int, group: int = GROUP) -> torch.Tensor:
    """``[Q, take]`` candidate rows from ``blocks`` of bfloat16 scores ``(first row, [Q, C])``, best first.

    The first block's top-``take`` starts each query's pool (:func:`_first_pool`; it must hold at least
    ``take`` columns). Later blocks are cut into groups of ``group`` columns; only groups whose maximum beats
    the query's current ``take``-th best are opened, and only their scores above it are merged into the pool
    (comparisons as :func:`_comparable`). The group maxima cost one pass over the block; comparing and
    gathering every score (let alone a top-k over all of them) costs several.
    """
    iterator: Iterator[tuple[int, torch.Tensor]] = iter(blocks)
    first_start, first = next(iterator)
    num_queries = first.shape[0]
    if first.shape[1] < take:
        raise ValueError(f"the first block has {first.shape[1]} columns, fewer than the {take} candidates wanted")
    pool_scores, pool_rows = _first_pool(_grouped(first, group), take)
    pool_rows = pool_rows + first_start
    offsets = torch.arange(group)
    for start, block in iterator:
        groups = _grouped(block, group)
        ordered, limit = _comparable(groups, pool_scores[:, -1:])
        group_queries, group_index = (ordered.amax(dim=2) > limit).nonzero(as_tuple=True)
        if len(group_queries) == 0:
            continue
        values = groups[group_queries, group_index]
        above = values.view(ordered.dtype) > limit[group_queries]
        query_rows = group_queries.unsqueeze(1).expand(-1, group)[above]
        columns = (group_index.unsqueeze(1) * group + offsets)[above]
        counts = torch.bincount(query_rows, minlength=num_queries)
        position = torch.arange(len(query_rows)) - (torch.cumsum(counts, 0) - counts)[query_rows]
        width = int(counts.max())
        new_scores = torch.full((num_queries, width), float("-inf"))
        new_rows = torch.full((num_queries, width), -1, dtype=torch.long)
        new_scores[query_rows, position] = values[above].float()
        new_rows[query_rows, position] = columns + start
        merged_scores = torch.cat([pool_scores, new_scores], dim=1)
        merged_rows = torch.cat([pool_rows, new_rows], dim=1)
        pool_scores, order = merged_scores.topk(take, dim=1)
        pool_rows = merged_rows.gather(1, order)
    return pool_rows
