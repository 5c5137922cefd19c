"""Neighbour sampling in plain PyTorch (GraphSAGE, Hamilton et al. 2017, https://arxiv.org/abs/1706.02216).

torch_geometric's ``NeighborLoader`` needs a compiled extension (``pyg-lib`` or ``torch-sparse``); neither
ships as a wheel on PyPI for this torch, so unibind samples itself: a CSR index of each node's incoming
neighbours, and per layer, for every frontier node, up to ``fanout`` of them drawn without replacement
(all of them when it has fewer; ``-1`` takes all). Vectorised: one random key per candidate edge, sorted
within each node's segment. Seeds come first in the sampled node list, so a model reads its outputs
from rows ``[:num_seeds]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch


@dataclass
class SampledSubgraph:
    """``n_id: [M]`` global ids (seeds first), ``edge_index: [2, E]`` in local ids, ``num_seeds``."""

    n_id: torch.Tensor
    edge_index: torch.Tensor
    num_seeds: int


class NeighborIndex:
    """Incoming neighbours of every node as CSR: node ``v`` hears from ``col[rowptr[v]:rowptr[v + 1]]``.

    ``edge_index: [2, E]`` lists message-passing edges ``source -> target`` (pass both directions for an
    undirected graph).
    """

    def __init__(self, edge_index: torch.Tensor, num_nodes: int) -> None:
        if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
            raise ValueError(f"edge_index refers to nodes outside 0..{num_nodes - 1}")
        order = torch.argsort(edge_index[1] * num_nodes + edge_index[0])
        self.col = edge_index[0, order].contiguous()
        counts = torch.bincount(edge_index[1], minlength=num_nodes)
        self.rowptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        self.num_nodes = num_nodes

    def degree(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.rowptr[nodes + 1] - self.rowptr[nodes]

    def sample(
        self, seeds: torch.Tensor, fanouts: Sequence[int], generator: torch.Generator | None = None
    ) -> SampledSubgraph:
        """The ``len(fanouts)``-hop sampled neighbourhood of ``seeds`` (unique ids)."""
        seeds = seeds.long()
        if torch.unique(seeds).numel() != seeds.numel():
            raise ValueError("seeds must be unique")
        local = torch.full((self.num_nodes,), -1, dtype=torch.long)
        local[seeds] = torch.arange(len(seeds))
        nodes, frontier, sources, targets = [seeds], seeds, [], []
        count = len(seeds)
        for fanout in fanouts:
            if len(frontier) == 0:
                break
            degree = self.degree(frontier)
            segment = torch.repeat_interleave(torch.arange(len(frontier)), degree)
            if segment.numel() == 0:
                break
            starts = torch.cumsum(degree, 0) - degree
            position = torch.arange(segment.numel()) - starts[segment]
            edge = self.rowptr[frontier][segment] + position
            if fanout >= 0:
                keys = segment.double() + torch.rand(segment.numel(), generator=generator, dtype=torch.float64)
                order = torch.argsort(keys)
                rank = torch.empty_like(order)
                rank[order] = torch.arange(order.numel())
                keep = (rank - starts[segment]) < fanout
                edge, segment = edge[keep], segment[keep]
            neighbours = self.col[edge]
            new = torch.unique(neighbours[local[neighbours] < 0])
            local[new] = torch.arange(count, count + len(new))
            count += len(new)
            nodes.append(new)
            sources.append(local[neighbours])
            targets.append(local[frontier[segment]])
            frontier = new
        n_id = torch.cat(nodes)
        if sources:
            edge_index = torch.stack([torch.cat(sources), torch.cat(targets)])
        else:
            edge_index = torch.empty(2, 0, dtype=torch.long)
        return SampledSubgraph(n_id, edge_index, len(seeds))


def neighbor_batches(
    index: NeighborIndex,
    targets: torch.Tensor,
    fanouts: Sequence[int],
    batch_size: int,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
) -> Iterator[SampledSubgraph]:
    """One epoch: every node of ``targets`` is a seed exactly once, ``batch_size`` seeds per subgraph."""
    order = targets[torch.randperm(len(targets), generator=generator)] if shuffle else targets
    for start in range(0, len(order), batch_size):
        yield index.sample(order[start : start + batch_size], fanouts, generator)
