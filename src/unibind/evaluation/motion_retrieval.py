"""Text <-> motion retrieval protocols of TMR (Petrovich et al. 2023, https://arxiv.org/abs/2305.00976, Sec. 4).

Queries and candidates pair up one to one (text ``i`` describes motion ``i``); ``sims: [N, N]`` holds
text-to-motion cosine similarities.

- ``all``: every test pair; the right answer is the paired item.
- ``threshold``: a candidate also counts as right when its text is near-identical to the query's text:
  text-text similarity above ``threshold`` on TMR's 0..1 scale (``(1 + cos) / 2``; 0.95 in the paper).
- ``nsim``: ``all`` on TMR's ``nsim_test`` split (100 dissimilar pairs), i.e. a different id list.
- ``guo``: the test set shuffled with seed 0, cut into batches of 32 (the remainder dropped), metrics
  averaged over batches, as Guo et al. (2022) evaluate.

Ranks are 0-based; candidates tied with the right answer share the average of their positions. Metrics:
R@1/2/3/5/10 in percent and MedR (median rank, 1-based).
"""

from __future__ import annotations

import numpy as np
import torch

RECALL_AT = (1, 2, 3, 5, 10)
PROTOCOLS = ("all", "threshold", "guo")


def ranks_of_right_answers(sims: torch.Tensor, relevant: torch.Tensor | None = None) -> torch.Tensor:
    """0-based rank of the best right answer per row of ``sims: [Q, N]``; ties average their positions.

    ``relevant: [Q, N]`` bool marks right answers (default: the diagonal).
    """
    if sims.dim() != 2:
        raise ValueError(f"sims must be [queries, candidates], got shape {tuple(sims.shape)}")
    if relevant is None:
        if sims.shape[0] != sims.shape[1]:
            raise ValueError(f"without `relevant`, sims must be square, got {tuple(sims.shape)}")
        relevant = torch.eye(sims.shape[0], dtype=torch.bool, device=sims.device)
    if not bool(relevant.any(dim=1).all()):
        raise ValueError("every query needs at least one right answer")
    target = sims.masked_fill(~relevant, float("-inf")).max(dim=1, keepdim=True).values
    above = (sims > target).sum(dim=1).double()
    tied = (sims == target).sum(dim=1).double()  # includes the right answer itself
    return above + (tied - 1) / 2


def recall_and_median_rank(ranks: torch.Tensor) -> dict[str, float]:
    """``R01 .. R10`` (percent of queries whose rank is below k) and ``MedR`` (1-based median rank)."""
    metrics = {f"R{k:02d}": 100.0 * (ranks < k).double().mean().item() for k in RECALL_AT}
    metrics["MedR"] = float(np.median(ranks.cpu().numpy()) + 1)
    return metrics


def both_directions(sims: torch.Tensor, text_similarity: torch.Tensor | None = None, threshold: float | None = None):
    """``{"t2m/R01": .., "m2t/MedR": ..}`` for ``sims: [N, N]`` (text rows, motion columns).

    With ``text_similarity: [N, N]`` (cosine between the captions) and ``threshold`` (0..1 scale), the
    candidates whose caption is above the threshold also count as right (TMR's ``threshold`` protocol).
    """
    relevant = None
    if threshold is not None:
        if text_similarity is None:
            raise ValueError("the threshold protocol needs the captions' text_similarity")
        relevant = text_similarity > 2 * threshold - 1
        relevant |= torch.eye(len(sims), dtype=torch.bool, device=sims.device)
    t2m = recall_and_median_rank(ranks_of_right_answers(sims, relevant))
    m2t = recall_and_median_rank(ranks_of_right_answers(sims.T, None if relevant is None else relevant.T))
    return {**{f"t2m/{k}": v for k, v in t2m.items()}, **{f"m2t/{k}": v for k, v in m2t.items()}}


def guo_batches(num_items: int, batch_size: int = 32, seed: int = 0) -> list[np.ndarray]:
    """Item indices shuffled with numpy's legacy seeded generator, in full batches of ``batch_size``."""
    order = np.random.RandomState(seed).permutation(num_items)
    return [order[start : start + batch_size] for start in range(0, num_items - batch_size + 1, batch_size)]


def retrieval_protocols(
    texts: torch.Tensor,
    motions: torch.Tensor,
    text_similarity: torch.Tensor | None = None,
    protocols: tuple[str, ...] = PROTOCOLS,
    threshold: float = 0.95,
    batch_size: int = 32,
) -> dict[str, dict[str, float]]:
    """Metrics per protocol for unit-norm ``texts: [N, D]`` and ``motions: [N, D]`` (row ``i`` paired).

    ``text_similarity: [N, N]``: caption-caption cosine, needed by ``threshold``. Items must be in a
    stable order (e.g. sorted ids) for ``guo`` to match other implementations' batches.
    """
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise ValueError(
            f"unknown protocols {sorted(unknown)}; expected some of {PROTOCOLS} (nsim: 'all' on nsim_test)"
        )
    if texts.shape != motions.shape:
        raise ValueError(f"texts {tuple(texts.shape)} and motions {tuple(motions.shape)} must pair up")
    sims = texts @ motions.T
    results = {}
    if "all" in protocols:
        results["all"] = both_directions(sims)
    if "threshold" in protocols:
        results[f"threshold_{threshold:g}"] = both_directions(sims, text_similarity, threshold)
    if "guo" in protocols:
        batches = guo_batches(len(sims), batch_size)
        if batches:
            per_batch = [both_directions(sims[np.ix_(b, b)]) for b in batches]
            results["guo"] = {key: float(np.mean([m[key] for m in per_batch])) for key in per_batch[0]}
    return results
