"""Training the graph tower: cross-modal contrast plus masked-feature reconstruction, on sampled subgraphs.

Each step takes a neighbour-sampled subgraph. The seeds' graph embeddings (GNN -> graph head -> aligner)
are contrasted with the embeddings of their own attributes (text, image, ... through their heads and the
same aligner): a node must find its own text among the batch's texts and back. With ``mask_ratio`` > 0,
that share of the seeds has its input replaced by the learned mask token and the GNN output must
reconstruct the hidden attribute features through a linear decoder, scored with the scaled cosine error
of GraphMAE / UniGraph2, ``(1 - cos(x_hat, x)) ** gamma`` (Hou et al. 2022, https://arxiv.org/abs/2205.10803).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset

from unibind.alignment import MoEAligner
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import PrecomputedFeatures
from unibind.encoders.base import Encoder
from unibind.graphs.encoder import Conv, GraphNodeEncoder, subgraph_batch
from unibind.graphs.sampling import NeighborIndex, neighbor_batches
from unibind.modalities import GraphBatch
from unibind.objectives import InfoNCELoss
from unibind.objectives.contrastive import mean_positive_nll
from unibind.training.quiet import quiet_fit


def graph_embedder(widths: dict[str, int], embed_dim: int = 256, conv: Conv = "gat", depth: int = 2) -> UnifiedEmbedder:
    """Cached-feature stand-ins for the attributes, a GNN graph tower (GAT by default), one MoE over all of them."""
    encoders: dict[str, Encoder] = {m: PrecomputedFeatures(m, w) for m, w in widths.items()}
    encoders["graph"] = GraphNodeEncoder(widths, width=embed_dim, conv=conv, depth=depth, heads=4, num_experts=4)
    aligner = MoEAligner(embed_dim, num_experts=8, top_k=2, hidden_dim=2 * embed_dim, modalities=list(encoders))
    return UnifiedEmbedder(encoders, embed_dim, aligner)


def scaled_cosine_error(predicted: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """``mean((1 - cos(predicted, target)) ** gamma)`` over rows."""
    return (1 - F.cosine_similarity(predicted, target, dim=-1)).pow(gamma).mean()


class SampledGraph(IterableDataset):
    """Each pass yields one epoch of neighbour-sampled :class:`GraphBatch` es whose seeds cover ``targets``."""

    def __init__(
        self,
        features: Mapping[str, torch.Tensor],
        has: Mapping[str, torch.Tensor],
        edge_index: torch.Tensor,
        targets: torch.Tensor,
        fanouts: Sequence[int] = (10, 10),
        batch_size: int = 256,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        self.features, self.has = dict(features), dict(has)
        self.index = NeighborIndex(edge_index, next(iter(features.values())).shape[0])
        self.targets, self.fanouts, self.batch_size, self.shuffle = targets, list(fanouts), batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[GraphBatch]:
        for sub in neighbor_batches(
            self.index, self.targets, self.fanouts, self.batch_size, self.shuffle, self.generator
        ):
            yield subgraph_batch(self.features, self.has, sub.n_id, sub.edge_index, sub.num_seeds)

    def __len__(self) -> int:
        return -(-len(self.targets) // self.batch_size)


class GraphModule(L.LightningModule):
    """Trains a :class:`UnifiedEmbedder` whose ``graph`` encoder is a :class:`GraphNodeEncoder`.

    Args:
        embedder: encoders for ``graph`` and for each attribute modality (e.g. cached-feature stand-ins).
        objective: contrastive loss (default InfoNCE).
        mask_ratio: share of seeds whose input is masked and reconstructed (UniGraph2: 0.5 or so; 0: off).
        reconstruction_weight: weight of the scaled cosine error.
        gamma: exponent of the scaled cosine error.
        neighbor_positives: also count the attributes of a seed's neighbours (among the seeds) as its
            positives (multi-positive InfoNCE at the objective's temperature) instead of the plain objective.
        lr: AdamW learning rate.
    """

    def __init__(
        self,
        embedder: UnifiedEmbedder,
        objective: torch.nn.Module | None = None,
        mask_ratio: float = 0.3,
        reconstruction_weight: float = 1.0,
        gamma: float = 2.0,
        lr: float = 1e-3,
        neighbor_positives: bool = False,
    ) -> None:
        super().__init__()
        graph = dict(embedder.encoders).get("graph")
        if not isinstance(graph, GraphNodeEncoder):
            raise TypeError(f"the embedder needs a GraphNodeEncoder for 'graph', has {type(graph).__name__}")
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.embedder = embedder
        self.objective = objective if objective is not None else InfoNCELoss()
        self.decoders = torch.nn.ModuleDict({m: torch.nn.Linear(graph.width, d) for m, d in graph.input_dims.items()})
        self.mask_ratio, self.reconstruction_weight, self.gamma, self.lr = mask_ratio, reconstruction_weight, gamma, lr
        self.neighbor_positives = neighbor_positives

    def losses(self, batch: GraphBatch) -> dict[str, torch.Tensor]:
        seeds = batch.num_seeds
        masked = torch.zeros(batch.num_nodes, dtype=torch.bool, device=batch.edge_index.device)
        if self.training and self.mask_ratio > 0:
            masked[:seeds] = torch.rand(seeds, device=masked.device) < self.mask_ratio
        batch.masked = masked
        hidden = self.embedder.encoders["graph"](batch)
        graph = self.embedder.aligner(self.embedder.heads["graph"](hidden), "graph")
        losses = {f"graph_{k}": v for k, v in graph.losses.items()}
        balance = getattr(self.embedder.aligner, "balance_loss", None)
        if self.training and balance is not None and graph.router_probs_sum is not None:
            losses["graph_moe_balance_loss"] = balance(graph.router_probs_sum, graph.expert_counts)
        ids = torch.arange(seeds, device=hidden.device)
        positives = self._seed_adjacency(batch) if self.neighbor_positives else None
        for modality, features in batch.features.items():
            rows = torch.nonzero(batch.has[modality][:seeds]).flatten()
            if len(rows) >= 2:
                own = self.embedder.align(modality, features[rows])
                if positives is not None:
                    scale = getattr(self.objective, "logit_scale", torch.tensor(1 / 0.07))
                    logits = scale * graph.embedding[rows] @ own.embedding.T
                    sub = positives[rows][:, rows]
                    loss = (mean_positive_nll(logits, sub) + mean_positive_nll(logits.T, sub.T)) / 2
                    losses[f"graph_{modality}_neighbor_contrastive_loss"] = loss
                    continue
                for key, value in self.objective(graph.embedding[rows], own.embedding, ids[rows]).items():
                    losses[f"graph_{modality}_{key}"] = value
            hidden_rows = torch.nonzero(batch.has[modality][:seeds] & masked[:seeds]).flatten()
            if len(hidden_rows) and self.reconstruction_weight > 0:
                predicted = self.decoders[modality](hidden[hidden_rows])
                error = scaled_cosine_error(predicted, features[hidden_rows], self.gamma)
                losses[f"{modality}_reconstruction_loss"] = self.reconstruction_weight * error
        batch.masked = None
        return losses

    @staticmethod
    def _seed_adjacency(batch: GraphBatch) -> torch.Tensor:
        """``[S, S]`` bool: each seed itself and the seeds it shares an edge with."""
        seeds = batch.num_seeds
        adjacency = torch.eye(seeds, dtype=torch.bool, device=batch.edge_index.device)
        source, target = batch.edge_index
        inside = (source < seeds) & (target < seeds)
        adjacency[source[inside], target[inside]] = True
        adjacency[target[inside], source[inside]] = True
        return adjacency

    def training_step(self, batch: GraphBatch, batch_idx: int) -> torch.Tensor:
        losses = self.losses(batch)
        total = sum(losses.values())
        for key, value in losses.items():
            self.log(f"train/{key}", value, batch_size=batch.num_seeds)
        self.log("train/loss", total, prog_bar=True, batch_size=batch.num_seeds)
        return total

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW([p for p in self.parameters() if p.requires_grad], lr=self.lr, weight_decay=0.01)


def fit_graph(module: GraphModule, data: SampledGraph, epochs: int, progress: bool = True) -> UnifiedEmbedder:
    """Train ``module`` for ``epochs`` passes over ``data`` (any accelerator); returns its embedder in eval mode."""
    quiet_fit(module, epochs, progress, train_dataloaders=DataLoader(data, batch_size=None))
    return module.embedder.eval()


@torch.no_grad()
def embed_nodes(
    embedder: UnifiedEmbedder,
    features: Mapping[str, torch.Tensor],
    has: Mapping[str, torch.Tensor],
    edge_index: torch.Tensor,
    nodes: torch.Tensor | None = None,
    fanouts: Sequence[int] | None = None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Shared-space embeddings ``[len(nodes), D]`` of ``nodes`` (default all), in batches of sampled
    neighbourhoods (``fanouts`` default: every neighbour, one hop per GNN layer: exact)."""
    embedder.eval()
    num_nodes = next(iter(features.values())).shape[0]
    nodes = torch.arange(num_nodes) if nodes is None else nodes
    graph = embedder.encoders["graph"]
    fanouts = list(fanouts) if fanouts is not None else [-1] * len(graph.convs)
    index = NeighborIndex(edge_index, num_nodes)
    out = []
    for sub in neighbor_batches(index, nodes, fanouts, batch_size, shuffle=False):
        out.append(
            embedder.align("graph", subgraph_batch(features, has, sub.n_id, sub.edge_index, sub.num_seeds)).embedding
        )
    return torch.cat(out)
