"""Which rows of a mixed-modality batch the training module contrasts: modality pairs, the items that carry both
sides of a pair, and the bookkeeping around them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal

import torch


def modality_pairs(
    modalities: Sequence[str], mode: Literal["all", "anchor"], anchor: str | None
) -> list[tuple[str, str]]:
    """Pairs to contrast: all unordered pairs, or ``(anchor, m)`` for every other ``m`` (ImageBind / LanguageBind)."""
    if mode == "all":
        return list(itertools.combinations(modalities, 2))
    if anchor not in modalities:
        raise ValueError(f"pairs='anchor' needs anchor among {list(modalities)}, got {anchor!r}")
    return [(anchor, m) for m in modalities if m != anchor]


def paired_rows(
    present: dict[str, torch.Tensor], a: str, b: str, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of ``a``'s and ``b``'s embeddings for the items that carry both, and those items' batch positions.

    ``present[m]`` is a list of batch positions (as :func:`~unibind.datasets.collate_items` makes it: a list
    stays on the host when Lightning moves the batch to an accelerator, so no step reads it back) or a
    tensor; a modality missing from it has no rows.
    """
    row_in = {}
    for modality in (a, b):
        lookup = torch.full((batch_size,), -1, dtype=torch.long)
        if modality in present:
            positions = torch.as_tensor(present[modality], dtype=torch.long).cpu()
            lookup[positions] = torch.arange(len(positions))
        row_in[modality] = lookup
    both = torch.nonzero((row_in[a] >= 0) & (row_in[b] >= 0)).squeeze(1)
    return row_in[a][both], row_in[b][both], both


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """``module`` and its children in eval mode for the block, each restored to its own mode after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def pairs_contrasted(losses: Mapping[str, torch.Tensor]) -> int:
    """How many of ``losses`` are pair losses, that is, not the MoE balance loss."""
    return sum(1 for key in losses if key != "moe_balance_loss")


def first_of_each(
    embeddings: torch.Tensor, groups: torch.Tensor, index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows whose dataset ``index`` was not seen before (rows with index -1 are all kept)."""
    seen: set[int] = set()
    keep = []
    for row, i in enumerate(index.tolist()):
        if i < 0 or i not in seen:
            keep.append(row)
            seen.add(i)
    rows = torch.tensor(keep, dtype=torch.long)
    return embeddings[rows], groups[rows]
