"""Mixture-of-Experts alignment layer with a top-k router and Switch-style load balancing.

Routing follows Shazeer et al. 2017 (https://arxiv.org/abs/1701.06538) and the balance loss follows
Switch Transformers (Fedus et al. 2021, https://arxiv.org/abs/2101.03961, eq. 4):

.. math::
    \\mathcal{L}_{bal} = \\alpha \\, E \\sum_{e=1}^{E} f_e \\, P_e

with :math:`f_e` the fraction of routed slots (``B * k``) sent to expert ``e`` and :math:`P_e` the mean
router probability of ``e`` over the batch. It equals ``alpha`` under perfectly uniform routing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from unibind.fusion.aligner import Aligner, AlignerOutput, FeedForward


class GroupedExperts(nn.Module):
    """``E`` two-layer GELU MLPs (:class:`~unibind.fusion.aligner.FeedForward`) over tokens grouped by expert.

    Each expert keeps its own parameters, so backward writes every gradient in place: a stacked
    ``[E, D, H]`` weight would pay a full-size copy (``unbind``/``stack``) or zero-fill (indexing) per step.
    """

    def __init__(self, num_experts: int, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(FeedForward(dim, hidden_dim) for _ in range(num_experts))

    def forward(self, h: torch.Tensor, token: torch.Tensor, gate: torch.Tensor, counts: Sequence[int]) -> torch.Tensor:
        """Mix the experts' outputs back into ``[B, D]``.

        Args:
            h: ``[B, D]`` inputs.
            token: ``[S]`` input row of each routed slot, grouped by expert (``counts[e]`` slots for expert ``e``).
            gate: ``[S]`` weight of each slot.
            counts: slots per expert, summing to ``S``.

        One expert MLP and one scatter-add per expert over its contiguous slots: a loop over the ``E``
        experts, never over samples.
        """
        # one gather for all slots: its backward is one scatter-add into a [B, D] gradient, where a
        # gather per expert would allocate and accumulate E full-size gradients
        inputs = h.index_select(0, token).split(list(counts))
        rows = token.split(list(counts))
        weights = gate.unsqueeze(-1).split(list(counts))
        mixed = torch.zeros_like(h)
        for expert, expert_inputs, expert_rows, expert_weights in zip(self.experts, inputs, rows, weights, strict=True):
            if expert_rows.shape[0]:
                mixed.index_add_(0, expert_rows, expert(expert_inputs) * expert_weights)
        return mixed


class MoEAligner(Aligner):
    """``y = normalize(x + sum_{e in topk} g_e(x) * Expert_e(LN(x)))``.

    Args:
        dim: shared embedding size ``D``.
        num_experts: ``E``.
        top_k: experts per token.
        hidden_dim: expert hidden size (default ``2 * dim``, as :class:`DenseAligner`).
        modalities: when given, the router also sees a learned embedding of the input's modality.
        balance_coef: weight ``alpha`` of the Switch balance loss.
        renormalize_gates: rescale the top-k gates to sum to 1.
        residual: add the input back.
        normalize: L2-normalise the output.
    """

    def __init__(
        self,
        dim: int,
        num_experts: int = 8,
        top_k: int = 2,
        hidden_dim: int | None = None,
        modalities: list[str] | None = None,
        balance_coef: float = 0.01,
        renormalize_gates: bool = True,
        residual: bool = True,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in [1, num_experts={num_experts}], got {top_k}")
        self.dim, self.num_experts, self.top_k = dim, num_experts, top_k
        self.balance_coef, self.renormalize_gates = balance_coef, renormalize_gates
        self.residual, self.normalize = residual, normalize
        self.norm = nn.LayerNorm(dim)
        self.router = nn.Linear(dim, num_experts, bias=False)
        self.modality_index = {m: i for i, m in enumerate(modalities or [])}
        self.modality_embedding = nn.Embedding(len(self.modality_index), dim) if modalities else None
        if self.modality_embedding is not None:
            nn.init.normal_(self.modality_embedding.weight, std=0.02)
        self.experts = GroupedExperts(num_experts, dim, hidden_dim or 2 * dim)

    def route(self, h: torch.Tensor, modality: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Router probabilities ``[B, E]``, top-k gates ``[B, k]`` and expert ids ``[B, k]``."""
        router_input = h
        if self.modality_embedding is not None:
            if modality not in self.modality_index:
                raise KeyError(f"router has no embedding for modality {modality!r}; known: {list(self.modality_index)}")
            router_input = h + self.modality_embedding.weight[self.modality_index[modality]]
        probs = self.router(router_input).float().softmax(dim=-1)
        gates, experts = probs.topk(self.top_k, dim=-1)
        if self.renormalize_gates:
            gates = gates / gates.sum(dim=-1, keepdim=True)
        return probs, gates.to(h.dtype), experts

    def balance_loss(self, probs: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Switch loss ``alpha * E * sum_e f_e P_e`` from ``probs: [B, E]`` and ``counts: [E]``."""
        fraction = counts.to(probs.dtype) / counts.sum().clamp_min(1)
        return self.balance_coef * self.num_experts * (fraction * probs.mean(dim=0)).sum()

    def forward(self, x: torch.Tensor, modality: str) -> AlignerOutput:
        h = self.norm(x)
        probs, gates, experts = self.route(h, modality)
        flat_experts = experts.reshape(-1)  # [B*k]
        order = flat_experts.argsort(stable=True)
        token = order // self.top_k  # which input row each sorted slot reads
        counts = torch.bincount(flat_experts, minlength=self.num_experts)
        mixed = self.experts(h, token, gates.reshape(-1)[order], counts.tolist())
        y = x + mixed if self.residual else mixed
        if self.normalize:
            y = nn.functional.normalize(y, dim=-1)
        losses = {"moe_balance_loss": self.balance_loss(probs, counts)} if self.training else {}
        return AlignerOutput(y, losses, counts.detach())

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_experts={self.num_experts}, top_k={self.top_k}"
