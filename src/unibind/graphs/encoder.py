"""The graph tower, as in UniGraph2 (He et al. 2025, https://arxiv.org/abs/2502.00806): node attributes of any
modality, projected and mixed by a Mixture-of-Experts into one node feature, then a GNN.

A node's attribute features (from the frozen modality towers, cached) go through one linear projection
per modality and the :class:`~unibind.alignment.MoEAligner` (its router sees the modality); a node with
several attributes averages them. A stack of GAT or GraphSAGE layers (residual, layer norm) then mixes
neighbours; the seeds' rows are the output. ``mask_token`` replaces the input of masked nodes for the
masked-feature reconstruction objective.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn

from unibind.alignment import MoEAligner
from unibind.encoders.base import Encoder
from unibind.modalities import GraphBatch, Modality

Conv = Literal["gat", "sage"]


def subgraph_batch(
    features: Mapping[str, torch.Tensor], has: Mapping[str, torch.Tensor], n_id: torch.Tensor, edge_index: torch.Tensor,
    num_seeds: int,
) -> GraphBatch:  # fmt: skip
    """The :class:`GraphBatch` of sampled nodes ``n_id`` (global ids) from full-graph feature tables."""
    return GraphBatch({m: x[n_id] for m, x in features.items()}, {m: h[n_id] for m, h in has.items()}, edge_index,
                      num_seeds, n_id=n_id)  # fmt: skip


def batch_from_pyg(data, seeds: torch.Tensor | None = None) -> GraphBatch:
    """A whole-graph :class:`GraphBatch` from a ``torch_geometric.data.Data`` with ``x_<m>`` / ``has_<m>``
    attributes (as :meth:`MultimodalGraph.to_pyg` writes them); ``seeds`` (default all nodes) come first."""
    modalities = [key[2:] for key in data.keys() if key.startswith("x_")]  # noqa: SIM118 - Data iterates pairs
    if not modalities:
        raise ValueError("the Data object has no x_<modality> node features")
    n = data.num_nodes
    seeds = torch.arange(n) if seeds is None else seeds
    rest = torch.ones(n, dtype=torch.bool)
    rest[seeds] = False
    order = torch.cat([seeds, torch.nonzero(rest).flatten()])
    position = torch.empty(n, dtype=torch.long)
    position[order] = torch.arange(n)
    features = {m: data[f"x_{m}"][order] for m in modalities}
    has = {m: data[f"has_{m}"][order] for m in modalities}
    return GraphBatch(features, has, position[data.edge_index], len(seeds), n_id=order)


def pool_graphs(nodes: torch.Tensor, graph_index: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """Graph-level embeddings ``[G, D]`` from node embeddings ``[N, D]`` and each node's graph ``[N]``.

    ``how``: ``mean``, ``max`` or ``sum`` pooling (torch_geometric's global pooling).
    """
    from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

    pools = {"mean": global_mean_pool, "max": global_max_pool, "sum": global_add_pool}
    if how not in pools:
        raise ValueError(f"pooling must be one of {sorted(pools)}, got {how!r}")
    return pools[how](nodes, graph_index)


class GraphNodeEncoder(Encoder):
    """``GraphBatch`` -> ``Tensor[num_seeds, width]`` node embeddings.

    Args:
        input_dims: feature width of each attribute modality (e.g. ``{"text": 512, "image": 1280}``).
        width: hidden and output size.
        conv: ``gat`` (GATv1, Velickovic et al. 2018) or ``sage`` (GraphSAGE mean aggregation).
        depth: GNN layers (hops).
        heads: attention heads of GAT (``width`` must divide by it).
        num_experts, top_k: the attribute-mixing MoE.
        dropout: after each GNN layer.
    """

    modality = Modality.GRAPH

    def __init__(
        self,
        input_dims: dict[str, int],
        width: int = 256,
        conv: Conv = "gat",
        depth: int = 2,
        heads: int = 4,
        num_experts: int = 4,
        top_k: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        from torch_geometric.nn import GATConv, SAGEConv

        if conv not in ("gat", "sage"):
            raise ValueError(f"conv must be gat or sage, got {conv!r}")
        if conv == "gat" and width % heads:
            raise ValueError(f"width {width} must divide by heads {heads}")
        self.width, self.input_dims = width, dict(input_dims)
        self.project = nn.ModuleDict({m: nn.Linear(d, width) for m, d in input_dims.items()})
        self.mixer = MoEAligner(width, num_experts=num_experts, top_k=top_k, modalities=list(input_dims))
        self.mask_token = nn.Parameter(torch.zeros(width))
        self.convs = nn.ModuleList(
            GATConv(width, width // heads, heads=heads) if conv == "gat" else SAGEConv(width, width)
            for _ in range(depth)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(depth))
        self.dropout = nn.Dropout(dropout)

    def node_inputs(self, batch: GraphBatch) -> torch.Tensor:
        """``[M, width]``: attributes projected, mixed by the MoE and averaged per node; masked nodes get the token."""
        total = torch.zeros(batch.num_nodes, self.width, device=self.mask_token.device)
        count = torch.zeros(batch.num_nodes, 1, device=self.mask_token.device)
        for modality, features in batch.features.items():
            rows = torch.nonzero(batch.has[modality]).flatten()
            if len(rows) == 0:
                continue
            mixed = self.mixer(self.project[modality](features[rows]), modality).embedding
            total[rows] += mixed
            count[rows] += 1
        if bool((count == 0).any()):
            raise ValueError(f"{int((count == 0).sum())} nodes of the batch carry no attribute")
        x = total / count
        if batch.masked is not None:
            x = torch.where(batch.masked.view(-1, 1), self.mask_token.expand_as(x), x)
        return x

    def propagate(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = norm(x + self.dropout(torch.nn.functional.gelu(conv(x, edge_index))))
        return x

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        return self.propagate(self.node_inputs(batch), batch.edge_index)[: batch.num_seeds]
