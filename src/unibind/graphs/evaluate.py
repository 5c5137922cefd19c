"""Graph tasks on node embeddings: link prediction (AUC, MRR), node classification, held-out edge splits.

- AUC: the probability that a held-out edge scores above a random non-edge (Mann-Whitney U over ranks,
  ties counted half), scored by cosine similarity of the two nodes' embeddings.
- MRR: for each held-out edge ``(u, v)``, the reciprocal rank of ``v`` among ``v`` and ``num_negatives``
  random nodes that are not neighbours of ``u``, ranked by cosine with ``u`` (ties: the average position).
- Node classification: a linear probe (multinomial logistic regression on frozen embeddings) trained on
  one split and scored on another; accuracy and macro-F1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unibind.metrics.classification import accuracy_and_macro_f1


def undirected_pairs(edge_index: torch.Tensor) -> torch.Tensor:
    """``[2, P]`` unique unordered pairs (smaller id first) of ``edge_index``, self-loops dropped."""
    low, high = edge_index.min(0).values, edge_index.max(0).values
    keep = low != high
    return torch.unique(torch.stack([low[keep], high[keep]]), dim=1)


def split_edges(edge_index: torch.Tensor, held_out: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(message-passing edges [2, 2T] in both directions, held-out pairs [2, H])`` from an undirected graph."""
    pairs = undirected_pairs(edge_index)
    order = torch.randperm(pairs.shape[1], generator=torch.Generator().manual_seed(seed))
    count = round(held_out * pairs.shape[1])
    test, train = pairs[:, order[:count]], pairs[:, order[count:]]
    return torch.cat([train, train.flip(0)], dim=1), test


def auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """ROC AUC of ``positive`` scores against ``negative`` scores (average ranks for ties)."""
    scores = torch.cat([positive, negative]).double()
    _, inverse, counts = torch.unique(scores, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    ranks = (ends - (counts.double() - 1) / 2)[inverse]  # 1-based, ties share their average rank
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _edge_keys(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Sorted keys ``u * N + v`` of every edge in both directions, for membership tests."""
    keys = edge_index[0] * num_nodes + edge_index[1]
    return torch.unique(torch.cat([keys, edge_index[1] * num_nodes + edge_index[0]]))


def link_prediction(
    embeddings: torch.Tensor,
    held_out: torch.Tensor,
    all_edges: torch.Tensor,
    num_negatives: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """AUC (one random non-edge per held-out edge) and MRR (``num_negatives`` corrupted tails per edge).

    ``embeddings: [N, D]``; ``held_out: [2, H]``; ``all_edges``: every known edge (never drawn as a negative).
    """
    n = embeddings.shape[0]
    unit = F.normalize(embeddings, dim=-1)
    known = _edge_keys(all_edges, n)
    generator = torch.Generator().manual_seed(seed)

    def non_edges(heads: torch.Tensor, count: int) -> torch.Tensor:
        tails = torch.randint(0, n, (len(heads), count), generator=generator)
        bad = torch.isin(heads.view(-1, 1) * n + tails, known) | (tails == heads.view(-1, 1))
        while bool(bad.any()):  # redraw the few that hit an edge or the head itself
            tails[bad] = torch.randint(0, n, (int(bad.sum()),), generator=generator)
            bad = torch.isin(heads.view(-1, 1) * n + tails, known) | (tails == heads.view(-1, 1))
        return tails

    u, v = held_out
    positive = (unit[u] * unit[v]).sum(-1)
    negative_tails = non_edges(u, 1).flatten()
    negative = (unit[u] * unit[negative_tails]).sum(-1)
    tails = non_edges(u, num_negatives)
    candidate_scores = torch.einsum("hd,hkd->hk", unit[u], unit[tails])
    above = (candidate_scores > positive.view(-1, 1)).sum(1).double()
    tied = (candidate_scores == positive.view(-1, 1)).sum(1).double()
    rank = above + tied / 2 + 1
    return {"AUC": auc(positive, negative), "MRR": float((1 / rank).mean()), "held_out_edges": int(u.numel())}


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
    epochs: int = 300,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> dict[str, float]:
    """Multinomial logistic regression on frozen (standardised) embeddings; accuracy and macro-F1 on the test set."""
    torch.manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    probe = torch.nn.Linear(train_x.shape[1], num_classes)
    optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=epochs, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(probe(train_x), train_y) + weight_decay * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        predicted = probe(test_x).argmax(1)
    return accuracy_and_macro_f1(predicted, test_y, num_classes)
