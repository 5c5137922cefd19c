"""Contrastive objectives over paired, L2-normalised embeddings ``a: [N, D]``, ``b: [N, D]``.

Every objective returns ``dict[str, Tensor]`` whose keys end in ``_loss``. Row ``i`` of ``a`` and of
``b`` form a positive pair; ``groups: [N]`` (optional) marks rows that share content (several
captions of one image): rows of one group are positives of each other for the multi-positive loss
and are never negatives for the others. ``hard_negatives: [M, D]`` adds candidates on the ``b`` side.
``sentence_embeddings: [N, E]`` (optional, unit norm; e.g. a frozen sentence encoder's view of each row's
caption) with ``filter_threshold`` set drops near-duplicate negatives, as TMR does (Petrovich et al. 2023,
https://arxiv.org/abs/2305.00976): pairs whose captions' similarity on the 0..1 scale ``(1 + cos) / 2``
exceeds the threshold (TMR: 0.8) are neither positives nor negatives.
Under DDP the pairs of every rank are gathered first (``gather=True``; ranks may hold different numbers
of pairs, see :mod:`unibind.objectives.distributed`), so negatives span the global batch.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import nn
from torch.nn import functional as F

from unibind.config import RecordsInitArgs
from unibind.objectives.distributed import gather_rows, gather_sizes


class ContrastiveObjective(RecordsInitArgs, nn.Module, ABC):
    """Base class: holds the learnable temperature ``t`` with logits ``exp(t) * a @ b.T``.

    Args:
        init_temperature: initial ``1 / exp(t)`` (CLIP: 0.07).
        max_logit_scale: clamp of ``exp(t)`` (CLIP: 100).
        learn_temperature: make ``t`` a trainable parameter.
        gather: gather embeddings across processes (no-op without torch.distributed).
        filter_threshold: with ``sentence_embeddings``, negatives whose captions are more similar than this
            (0..1 scale) are left out (TMR: 0.8); None keeps every negative.
    """

    def __init__(
        self,
        init_temperature: float = 0.07,
        max_logit_scale: float = 100.0,
        learn_temperature: bool = True,
        gather: bool = True,
        filter_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.log_logit_scale = nn.Parameter(
            torch.tensor(math.log(1 / init_temperature)), requires_grad=learn_temperature
        )
        self.max_logit_scale = max_logit_scale
        self.gather = gather
        if filter_threshold is not None and not 0.0 <= filter_threshold <= 1.0:
            raise ValueError(f"filter_threshold is on the 0..1 scale, got {filter_threshold}")
        self.filter_threshold = filter_threshold

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.log_logit_scale.exp().clamp(max=self.max_logit_scale)

    def forward(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        groups: torch.Tensor | None = None,
        hard_negatives: torch.Tensor | None = None,
        sentence_embeddings: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The loss over the pairs of every rank (``gather``); ``{}`` when fewer than two pairs exist in all.

        Every rank must call this for the same pairs in the same order, also with zero local rows.
        """
        if a.shape != b.shape:
            raise ValueError(f"paired embeddings differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
        if self.gather:
            a, b, groups, hard_negatives, sentence_embeddings = _gather_pairs(
                a, b, groups, hard_negatives, sentence_embeddings if self.filter_threshold is not None else None
            )
        if a.shape[0] < 2:
            return {}
        excluded = None
        if self.filter_threshold is not None and sentence_embeddings is not None:
            if sentence_embeddings.shape[0] != a.shape[0]:
                raise ValueError(f"{sentence_embeddings.shape[0]} sentence embeddings for {a.shape[0]} pairs")
            excluded = near_duplicates(sentence_embeddings.to(a.device), self.filter_threshold)
            excluded &= ~same_group(groups, a.shape[0], a.device)
        return self.compute(a, b, groups, hard_negatives, excluded)

    @abstractmethod
    def compute(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        groups: torch.Tensor | None,
        hard_negatives: torch.Tensor | None,
        excluded: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The loss; ``excluded: [N, N]`` marks pairs that are neither positives nor negatives."""


def _gather_pairs(
    a: torch.Tensor,
    b: torch.Tensor,
    groups: torch.Tensor | None,
    hard_negatives: torch.Tensor | None,
    sentence_embeddings: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Rows of every rank: ``a`` and ``b`` in one gather with gradient, the rest without (hard negatives with).

    The optional tensors must be given on every rank or on none (each is its own collective).
    """
    sizes = gather_sizes(a.shape[0], a.device)
    pairs = gather_rows(torch.cat([a, b], dim=1), sizes)
    a, b = pairs.split(a.shape[1], dim=1)
    groups = gather_rows(groups.detach(), sizes) if groups is not None else None
    if sentence_embeddings is not None:
        sentence_embeddings = gather_rows(sentence_embeddings.detach(), sizes)
    hard_negatives = gather_rows(hard_negatives) if hard_negatives is not None else None
    return a, b, groups, hard_negatives, sentence_embeddings


def near_duplicates(sentence_embeddings: torch.Tensor, threshold: float) -> torch.Tensor:
    """``[N, N]`` bool: off-diagonal pairs with ``(1 + cos) / 2 > threshold`` (TMR's ``2 t - 1`` on cosines)."""
    similarity = sentence_embeddings @ sentence_embeddings.T
    n = similarity.shape[0]
    return (similarity > 2 * threshold - 1) & ~torch.eye(n, dtype=torch.bool, device=similarity.device)


def same_group(groups: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor:
    """``[N, N]`` bool: True where rows ``i`` and ``j`` are positives (same group, or ``i == j``)."""
    if groups is None:
        return torch.eye(n, dtype=torch.bool, device=device)
    return groups.view(-1, 1) == groups.view(1, -1)


class InfoNCELoss(ContrastiveObjective):
    """Symmetric InfoNCE with learnable temperature, as in CLIP (Radford et al. 2021, https://arxiv.org/abs/2103.00020).

    .. math::
        \\mathcal{L} = \\tfrac12 \\big[ \\mathrm{CE}(s\\,A B^\\top, I) + \\mathrm{CE}(s\\,B A^\\top, I) \\big]

    Rows of the same group other than the diagonal are masked out of the softmax (they are not
    negatives). Hard negatives extend the ``a -> b`` direction's candidates.
    """

    def compute(self, a, b, groups, hard_negatives, excluded=None):
        scale = self.logit_scale
        logits_ab = scale * a @ b.T
        logits_ba = logits_ab.T
        n = a.shape[0]
        if groups is not None or excluded is not None:
            false_negatives = same_group(groups, n, a.device) & ~torch.eye(n, dtype=torch.bool, device=a.device)
            if excluded is not None:
                false_negatives |= excluded
            logits_ab = logits_ab.masked_fill(false_negatives, float("-inf"))
            logits_ba = logits_ba.masked_fill(false_negatives, float("-inf"))
        if hard_negatives is not None:
            logits_ab = torch.cat([logits_ab, scale * a @ hard_negatives.T], dim=1)
        labels = torch.arange(n, device=a.device)
        loss = (F.cross_entropy(logits_ab, labels) + F.cross_entropy(logits_ba, labels)) / 2
        return {"contrastive_loss": loss}


class MultiPositiveInfoNCELoss(ContrastiveObjective):
    """InfoNCE where every row of the anchor's group is a positive (SupCon-style, Khosla et al. 2020,
    https://arxiv.org/abs/2004.11362, "L_out"): the loss averages ``-log softmax`` over all positives.

    .. math::
        \\mathcal{L}_i = -\\frac{1}{|P(i)|} \\sum_{p \\in P(i)}
            \\log \\frac{e^{s\\,a_i \\cdot b_p}}{\\sum_j e^{s\\,a_i \\cdot b_j}}
    """

    def compute(self, a, b, groups, hard_negatives, excluded=None):
        scale = self.logit_scale
        n = a.shape[0]
        positives = same_group(groups, n, a.device)
        logits_ab = scale * a @ b.T
        if excluded is not None:
            logits_ab = logits_ab.masked_fill(excluded, float("-inf"))
        logits_ba = logits_ab.T
        if hard_negatives is not None:
            logits_ab = torch.cat([logits_ab, scale * a @ hard_negatives.T], dim=1)
        loss_ab = mean_positive_nll(logits_ab, positives)
        loss_ba = mean_positive_nll(logits_ba, positives.T)
        return {"contrastive_loss": (loss_ab + loss_ba) / 2}


def mean_positive_nll(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the average ``-log softmax`` at the positive columns (extra columns are negatives)."""
    log_probs = logits.log_softmax(dim=1)[:, : positives.shape[1]]
    # where(), not a product: excluded columns hold -inf, and -inf * 0 would be NaN
    per_row = -torch.where(positives, log_probs, 0.0).sum(dim=1) / positives.sum(dim=1)
    return per_row.mean()


class SigLIPLoss(ContrastiveObjective):
    """Pairwise sigmoid loss of SigLIP (Zhai et al. 2023, https://arxiv.org/abs/2303.15343, Alg. 1).

    .. math::
        \\mathcal{L} = -\\frac{1}{N} \\sum_{i,j} \\log \\sigma\\big(z_{ij} (t\\, a_i \\cdot b_j + c)\\big),
        \\quad z_{ij} = 1 \\text{ for positives, } -1 \\text{ otherwise}

    Args:
        init_temperature: initial ``1/t`` (SigLIP: ``t = 10``).
        init_bias: initial ``c`` (SigLIP: -10).
    """

    def __init__(
        self,
        init_temperature: float = 0.1,
        init_bias: float = -10.0,
        max_logit_scale: float = 100.0,
        learn_temperature: bool = True,
        gather: bool = True,
        filter_threshold: float | None = None,
    ) -> None:
        super().__init__(init_temperature, max_logit_scale, learn_temperature, gather, filter_threshold)
        self.bias = nn.Parameter(torch.tensor(init_bias), requires_grad=learn_temperature)

    def compute(self, a, b, groups, hard_negatives, excluded=None):
        n = a.shape[0]
        logits = self.logit_scale * a @ b.T + self.bias
        signs = same_group(groups, n, a.device).to(logits.dtype) * 2 - 1
        pair_losses = -F.logsigmoid(signs * logits)
        if excluded is not None:
            pair_losses = pair_losses.masked_fill(excluded, 0.0)
        loss = pair_losses.sum() / n
        if hard_negatives is not None:
            hard = self.logit_scale * a @ hard_negatives.T + self.bias
            loss = loss - F.logsigmoid(-hard).sum() / n
        return {"siglip_loss": loss}
