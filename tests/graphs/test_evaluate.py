"""Graph metrics against naive references and on embeddings with known answers."""

import itertools

import pytest
import torch

from unibind.graphs.evaluate import auc, linear_probe, link_prediction, split_edges, undirected_pairs


def _naive_auc(positive: list[float], negative: list[float]) -> float:
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positive, negative))
    return wins / (len(positive) * len(negative))


def test_auc_matches_pairwise_counting_with_ties() -> None:
    generator = torch.Generator().manual_seed(0)
    positive = (torch.rand(30, generator=generator) * 5).round()
    negative = (torch.rand(40, generator=generator) * 5).round() - 1
    assert auc(positive, negative) == pytest.approx(_naive_auc(positive.tolist(), negative.tolist()))
    assert auc(torch.tensor([1.0, 2.0]), torch.tensor([0.0])) == 1.0
    assert auc(torch.tensor([0.0]), torch.tensor([0.0])) == 0.5


def test_split_edges_holds_out_pairs_from_message_passing() -> None:
    edges = torch.tensor([[0, 1, 1, 2, 3, 4, 0], [1, 0, 2, 3, 4, 0, 0]])
    assert undirected_pairs(edges).tolist() == [[0, 0, 1, 2, 3], [1, 4, 2, 3, 4]]
    train, test = split_edges(edges, held_out=0.4, seed=1)
    assert test.shape == (2, 2)
    train_pairs = {tuple(p) for p in undirected_pairs(train).T.tolist()}
    assert not train_pairs & {tuple(p) for p in test.T.tolist()}
    assert len(train_pairs) == 3


def test_link_prediction_on_embeddings_that_know_the_graph() -> None:
    # two cliques of 10 nodes; embeddings: one direction per clique (plus noise)
    clique = [(i, j) for i in range(10) for j in range(10) if i < j]
    edges = torch.tensor(clique + [(i + 10, j + 10) for i, j in clique]).T
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.cat([torch.tensor([[1.0, 0.0]]).repeat(10, 1), torch.tensor([[0.0, 1.0]]).repeat(10, 1)])
    embeddings = embeddings + 0.01 * torch.randn(20, 2, generator=generator)
    _, held_out = split_edges(edges, 0.2)
    metrics = link_prediction(embeddings, held_out, edges, num_negatives=5)
    # every non-edge crosses the cliques, so every held-out edge beats it
    assert metrics["AUC"] == 1.0
    assert metrics["MRR"] == 1.0
    shuffled = link_prediction(torch.randn(20, 2, generator=generator), held_out, edges, num_negatives=5)
    assert shuffled["MRR"] < 1.0


def test_linear_probe_separates_separable_classes() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    y = torch.arange(3).repeat(20)
    x = centres[y] + 0.3 * torch.randn(60, 3, generator=generator)
    scores = linear_probe(x[:45], y[:45], x[45:], y[45:], num_classes=3)
    assert scores["accuracy"] == 1.0
    assert scores["macro_f1"] == 1.0
