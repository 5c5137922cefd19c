"""Gather features across processes with gradients, so that negatives span the global batch."""

from __future__ import annotations

from typing import TypeVar

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn

T = TypeVar("T")


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """``[N, ...]`` on each of ``W`` processes -> ``[W * N, ...]`` in rank order, differentiable.

    The backward of ``torch.distributed.nn.functional.all_gather`` sums each slice's gradient over
    processes; with every process computing the same global loss and DDP averaging parameter
    gradients, the result equals the single-process gradient on the global batch.
    """
    if world_size() == 1:
        return x
    return torch.cat(dist_fn.all_gather(x.contiguous()), dim=0)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """``[N, ...]`` -> ``[W * N, ...]`` without gradients (labels, group ids)."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def gather_objects(obj: T) -> list[T]:
    """Every process's ``obj`` in rank order (``[obj]`` without torch.distributed); for evaluation outputs."""
    if world_size() == 1:
        return [obj]
    parts: list[T] = [None] * world_size()  # type: ignore[list-item]
    dist.all_gather_object(parts, obj)
    return parts
