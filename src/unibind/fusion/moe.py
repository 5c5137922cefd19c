"""Mixture-of-Experts alignment layer with a top-k router and Switch-style load balancing.

Routing follows Shazeer et al. 2017 (https://arxiv.org/abs/1701.06538) and the balance loss follows
Switch Transformers (Fedus et al. 2021, https://arxiv.org/abs/2101.03961, eq. 4):

.. math::
    \\mathcal{L}_{bal} = \\alpha \\, E \\sum_{e=1}^{E} f_e \\, P_e

with :math:`f_e` the fraction of routed slots (``B * k``) sent to expert ``e`` and :math:`P_e` the mean
router probability of ``e`` over the batch. It equals ``alpha`` under perfectly uniform routing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from unibind.fusion.aligner import Aligner, AlignerOutput


class GroupedExperts(nn.Module):
    """``E`` two-layer GELU MLPs stored as stacked weights, applied to tokens grouped by expert.

    Weights: ``w1: [E, D, H]``, ``b1: [E, H]``, ``w2: [E, H, D]``, ``b2: [E, D]``.
    """

    def __init__(self, num_experts: int, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(num_experts, dim, hidden_dim))
        self.b1 = nn.Parameter(torch.zeros(num_experts, hidden_dim))
        self.w2 = nn.Parameter(torch.empty(num_experts, hidden_dim, dim))
        self.b2 = nn.Parameter(torch.zeros(num_experts, dim))
        for weight, fan_in in ((self.w1, dim), (self.w2, hidden_dim)):
            nn.init.uniform_(weight, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, h: torch.Tensor, token: torch.Tensor, gate: torch.Tensor, counts: Sequence[int]) -> torch.Tensor:
        """Mix the experts' outputs back into ``[B, D]``.

        Args:
            h: ``[B, D]`` inputs.
            token: ``[S]`` input row of each routed slot, grouped by expert (``counts[e]`` slots for expert ``e``).
            gate: ``[S]`` weight of each slot.
            counts: slots per expert, summing to ``S``.

        One gather, two matmuls and one scatter-add per expert over its contiguous slots: a loop over
        the ``E`` experts, never over samples.
        """
        # unbind once: its backward stacks the E gradients in one allocation, where indexing w1[e]
        # would zero-fill a full [E, D, H] gradient per expert
        w1, b1, w2, b2 = (p.unbind(0) for p in (self.w1, self.b1, self.w2, self.b2))
        mixed = torch.zeros_like(h)
        for e, (rows, weights) in enumerate(zip(torch.split(token, list(counts)), torch.split(gate, list(counts)))):
            if rows.shape[0] == 0:
                continue
            hidden = nn.functional.gelu(torch.addmm(b1[e], h.index_select(0, rows), w1[e]))
            out = torch.addmm(b2[e], hidden, w2[e]) * weights.unsqueeze(-1)
            mixed.index_add_(0, rows, out)
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
