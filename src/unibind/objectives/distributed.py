"""Collectives for contrastive training across processes: every rank calls them in the same order.

Ranks may hold different numbers of rows (a mixed-modality batch gives each rank a different number of
image-text pairs, a skipped bad item shortens one rank's batch), so rows are gathered sizes first: the
row counts are exchanged, each rank pads to the largest, the padded tensors are gathered (with gradient
where needed) and the padding is cut away. A rank with no rows still takes part with an empty tensor.
Without an initialised process group every function is the identity (one process).
"""

from __future__ import annotations

from typing import TypeVar

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn

T = TypeVar("T")


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def gather_sizes(count: int, device: torch.device) -> list[int]:
    """Every rank's ``count``, in rank order (one small all-gather; ``[count]`` in one process)."""
    if world_size() == 1:
        return [count]
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([count], dtype=torch.long, device=device))
    return [int(size) for size in sizes]


def gather_rows(x: torch.Tensor, sizes: list[int] | None = None) -> torch.Tensor:
    """``[n_r, ...]`` on rank ``r`` -> ``[sum_r n_r, ...]`` in rank order; differentiable when ``x`` needs grad.

    ``sizes`` (every rank's ``n_r``, from :func:`gather_sizes`) saves the size exchange when known.

    The backward of ``torch.distributed.nn.functional.all_gather`` sums each slice's gradient over the
    ranks. With every rank computing the same loss on the gathered rows and DDP averaging parameter
    gradients, the result equals the one-process gradient on the global batch (open_clip's
    ``gather_features`` with ``gather_with_grad``, extended to unequal row counts).
    """
    if world_size() == 1:
        return x
    if sizes is None:
        sizes = gather_sizes(x.shape[0], x.device)
    if len(sizes) != world_size() or sizes[rank()] != x.shape[0]:
        raise ValueError(f"sizes {sizes} do not match this rank's {x.shape[0]} rows")
    padded = torch.cat([x, x.new_zeros((max(sizes) - x.shape[0], *x.shape[1:]))])
    if x.requires_grad:
        parts = dist_fn.all_gather(padded.contiguous())
    else:
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)])


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of ``x`` over ranks, differentiable (the backward sums the gradients over ranks, as :func:`gather_rows`)."""
    if world_size() == 1:
        return x
    if x.requires_grad:
        return dist_fn.all_reduce(x.contiguous())
    out = x.clone()
    dist.all_reduce(out)
    return out


def gather_objects(obj: T) -> list[T]:
    """Every process's ``obj`` in rank order (``[obj]`` without torch.distributed); for evaluation outputs."""
    if world_size() == 1:
        return [obj]
    parts: list[T] = [None] * world_size()  # type: ignore[list-item]
    dist.all_gather_object(parts, obj)
    return parts
