"""Graph: (sub)graphs whose nodes carry features of other modalities, embedded per seed node.

A :class:`GraphBatch` holds cached attribute features per modality (``features[m]: [M, W_m]`` with
``has[m]: [M]`` marking the nodes that carry ``m``), message-passing edges in local ids, and the number
of seed nodes, which come first: the graph encoder returns one vector per seed. Graphs are read with
:func:`unibind.datasets.graph_format.read_graph` and cut into batches by :mod:`unibind.graphs.sampling`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unibind.errors import InputError
from unibind.modalities.base import Modality, ModalitySpec


@dataclass
class GraphBatch:
    """``features[m]: [M, W_m]``, ``has[m]: [M]``, ``edge_index: [2, E]`` (local ids), ``num_seeds`` (first rows);
    ``masked: [M]`` nodes whose input is hidden (masked-feature reconstruction); ``n_id: [M]`` global ids."""

    features: dict[str, torch.Tensor]
    has: dict[str, torch.Tensor]
    edge_index: torch.Tensor
    num_seeds: int
    masked: torch.Tensor | None = None
    n_id: torch.Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return next(iter(self.features.values())).shape[0]

    def to(self, device: torch.device | str) -> GraphBatch:
        return GraphBatch(
            {m: x.to(device) for m, x in self.features.items()},
            {m: h.to(device) for m, h in self.has.items()},
            self.edge_index.to(device),
            self.num_seeds,
            self.masked.to(device) if self.masked is not None else None,
            self.n_id,
        )

    def __len__(self) -> int:
        return self.num_seeds


class GraphSpec(ModalitySpec):
    """Checks :class:`GraphBatch` inputs and joins several into one disjoint graph (all seeds first)."""

    modality = Modality.GRAPH

    def load(self, raw: Any, *, item: str | None = None) -> GraphBatch:
        item = item or "input"
        if not isinstance(raw, GraphBatch):
            raise InputError(f"{item}: a graph input is a GraphBatch (see unibind.graphs), got {type(raw).__name__}")
        if not raw.features:
            raise InputError(f"{item}: the graph batch has no node features")
        n = raw.num_nodes
        for modality, x in raw.features.items():
            if modality not in raw.has or x.ndim != 2 or x.shape[0] != n or raw.has[modality].shape != (n,):
                raise InputError(
                    f"{item}: {modality} features [nodes, width] or mask [nodes] do not cover the {n} nodes"
                )
            if not x.is_floating_point() or not bool(torch.isfinite(x).all()):
                raise InputError(f"{item}: {modality} node features must be finite floats")
        if raw.edge_index.numel() and (int(raw.edge_index.min()) < 0 or int(raw.edge_index.max()) >= n):
            raise InputError(f"{item}: edge_index refers to nodes outside 0..{n - 1}")
        if not 0 < raw.num_seeds <= n:
            raise InputError(f"{item}: num_seeds={raw.num_seeds} with {n} nodes")
        return raw

    def collate(self, samples: Sequence[GraphBatch]) -> GraphBatch:
        if not samples:
            raise InputError("cannot collate an empty list of graphs")
        if len(samples) == 1:
            return samples[0]
        # new order: every sample's seeds, then every sample's other nodes
        new_index, offset_seeds = [], 0
        total_seeds = sum(s.num_seeds for s in samples)
        offset_rest = total_seeds
        for sample in samples:
            n, k = sample.num_nodes, sample.num_seeds
            mapping = torch.empty(n, dtype=torch.long)
            mapping[:k] = torch.arange(offset_seeds, offset_seeds + k)
            mapping[k:] = torch.arange(offset_rest, offset_rest + n - k)
            offset_seeds, offset_rest = offset_seeds + k, offset_rest + n - k
            new_index.append(mapping[sample.edge_index])
        modalities = list(samples[0].features)
        features = {
            m: torch.cat(
                [s.features[m][: s.num_seeds] for s in samples] + [s.features[m][s.num_seeds :] for s in samples]
            )
            for m in modalities
        }
        has = {
            m: torch.cat([s.has[m][: s.num_seeds] for s in samples] + [s.has[m][s.num_seeds :] for s in samples])
            for m in modalities
        }
        return GraphBatch(features, has, torch.cat(new_index, dim=1), total_seeds)

    def dummy_batch(self, n: int) -> GraphBatch:
        nodes = 2 * n + 2
        edges = torch.randint(0, nodes, (2, 4 * nodes))
        return GraphBatch({"text": torch.randn(nodes, 8)}, {"text": torch.ones(nodes, dtype=torch.bool)}, edges, n)
