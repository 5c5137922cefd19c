"""Mixture-of-Experts alignment layer with a top-k router and Switch-style load balancing.

Routing follows Shazeer et al. 2017 (https://arxiv.org/abs/1701.06538) and the balance loss follows
Switch Transformers (Fedus et al. 2021, https://arxiv.org/abs/2101.03961, eq. 4):

.. math::
    \\mathcal{L}_{bal} = \\alpha \\, E \\sum_{e=1}^{E} f_e \\, P_e

with :math:`f_e` the fraction of routed slots (``B * k``) sent to expert ``e`` and :math:`P_e` the mean
router probability of ``e`` over the batch. It equals ``alpha`` under perfectly uniform routing.
The aligner returns the two sums it needs (slots per expert, summed router probabilities); the trainer
sums them over the processes before taking the loss, so balance is measured on the global batch (as
Qiu et al. 2025, https://arxiv.org/abs/2501.11873, recommend) and equals the one-process loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from unibind.alignment.aligner import Aligner, AlignerOutput, FeedForward


class GroupedExperts(nn.Module):
    """``E`` two-layer GELU MLPs (:class:`~unibind.alignment.aligner.FeedForward`) over tokens grouped by expert.

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
        # an expert without slots still runs (on zero rows): every expert stays in the autograd graph, so
        # DDP sees a gradient (zero) for each and no rank skips a parameter another rank uses
        for expert, expert_inputs, expert_rows, expert_weights in zip(self.experts, inputs, rows, weights, strict=True):
            mixed.index_add_(0, expert_rows, expert(expert_inputs) * expert_weights)
        return mixed

    def forward_masked(self, h: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """Every expert over every row, weighted by ``gates: [B, E]`` (zero where a row is not routed).

        ``E / k`` times the FLOPs of :meth:`forward`, but no slot count ever leaves the device: the
        dispatch for accelerators, where reading ``counts`` would stall the host every step.
        """
        mixed = torch.zeros_like(h)
        for e, expert in enumerate(self.experts):
            mixed = mixed + gates[:, e : e + 1] * expert(h)
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
        dispatch: ``grouped`` (rows sorted by expert, each expert over its own rows; needs the slot counts on
            the host), ``masked`` (every expert over every row, no host sync) or ``auto``: grouped on the
            CPU, masked on accelerators. Both give the same output.
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
        dispatch: Literal["auto", "grouped", "masked"] = "auto",
    ) -> None:
        super().__init__()
        if dispatch not in ("auto", "grouped", "masked"):
            raise ValueError(f"dispatch must be auto, grouped or masked, got {dispatch!r}")
        self.dispatch = dispatch
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

    def balance_loss(self, router_probs_sum: torch.Tensor, expert_counts: torch.Tensor) -> torch.Tensor:
        """Switch loss ``alpha * E * sum_e f_e P_e`` from the sums of :class:`AlignerOutput` (``[E]`` each).

        ``f_e = counts_e / sum(counts)``; ``P_e = probs_sum_e / rows`` with ``rows = sum(counts) / k``. Sums
        over several batches or processes give the loss of their union.
        """
        slots = expert_counts.sum().clamp_min(1).to(router_probs_sum.dtype)
        fraction = expert_counts.to(router_probs_sum.dtype) / slots
        mean_probs = router_probs_sum * self.top_k / slots
        return self.balance_coef * self.num_experts * (fraction * mean_probs).sum()

    def forward(self, x: torch.Tensor, modality: str) -> AlignerOutput:
        h = self.norm(x)
        probs, gates, experts = self.route(h, modality)
        flat_experts = experts.reshape(-1)  # [B*k]
        # a scatter, not bincount: bincount on an accelerator reads the maximum back to the host
        counts = torch.zeros(self.num_experts, dtype=torch.long, device=x.device)
        counts.scatter_add_(0, flat_experts, torch.ones_like(flat_experts))
        if self.dispatch == "grouped" or (self.dispatch == "auto" and x.device.type == "cpu"):
            order = flat_experts.argsort(stable=True)
            token = order // self.top_k  # which input row each sorted slot reads
            mixed = self.experts(h, token, gates.reshape(-1)[order], counts.tolist())
        else:
            dense_gates = torch.zeros_like(probs, dtype=gates.dtype).scatter(1, experts, gates)
            mixed = self.experts.forward_masked(h, dense_gates)
        y = x + mixed if self.residual else mixed
        if self.normalize:
            y = nn.functional.normalize(y, dim=-1)
        return AlignerOutput(y, expert_counts=counts, router_probs_sum=probs.sum(dim=0))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_experts={self.num_experts}, top_k={self.top_k}"
