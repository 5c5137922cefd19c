"""Neighbour sampling covers every target and, taking all neighbours, reproduces full-graph embeddings."""

import pytest
import torch

from unibind.graphs.encoder import GraphNodeEncoder, subgraph_batch
from unibind.graphs.sampling import NeighborIndex, neighbor_batches
from unibind.modalities import GraphBatch, GraphSpec, InputError


def _random_graph(n: int = 40, e: int = 120, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, n, (2, e), generator=generator)
    edges = edges[:, edges[0] != edges[1]]
    return torch.unique(torch.cat([edges, edges.flip(0)], dim=1), dim=1)


def test_sampled_edges_exist_and_fanout_holds() -> None:
    edges = _random_graph()
    index = NeighborIndex(edges, 40)
    known = {tuple(pair) for pair in edges.T.tolist()}
    sub = index.sample(torch.tensor([3, 7]), fanouts=[2, 2], generator=torch.Generator().manual_seed(1))
    assert sub.n_id[:2].tolist() == [3, 7]
    assert len(set(sub.n_id.tolist())) == len(sub.n_id)
    for source, target in sub.edge_index.T.tolist():
        assert (int(sub.n_id[source]), int(sub.n_id[target])) in known
    into_seeds = torch.bincount(sub.edge_index[1][sub.edge_index[1] < 2], minlength=2)
    assert (into_seeds <= 2).all()
    with pytest.raises(ValueError, match="unique"):
        index.sample(torch.tensor([1, 1]), [2])


def test_every_target_is_a_seed_once_per_epoch() -> None:
    index = NeighborIndex(_random_graph(), 40)
    targets = torch.arange(0, 40, 3)
    seeds = torch.cat([sub.n_id[: sub.num_seeds] for sub in neighbor_batches(index, targets, [3, 3], batch_size=4)])
    assert sorted(seeds.tolist()) == targets.tolist()


@pytest.mark.parametrize("conv", ["gat", "sage"])
def test_full_fanout_sampling_reproduces_full_graph_embeddings(conv: str) -> None:
    torch.manual_seed(0)
    edges = _random_graph()
    features = {"text": torch.randn(40, 6), "image": torch.randn(40, 5)}
    has = {"text": torch.rand(40) > 0.3, "image": torch.zeros(40, dtype=torch.bool)}
    has["image"][~has["text"]] = True  # every node carries at least one attribute
    encoder = GraphNodeEncoder({"text": 6, "image": 5}, width=16, conv=conv, depth=2, heads=2, num_experts=2).eval()
    full = encoder(GraphBatch(features, has, edges, num_seeds=40))
    sub = NeighborIndex(edges, 40).sample(torch.tensor([5, 11, 30]), fanouts=[-1, -1])
    sampled = encoder(subgraph_batch(features, has, sub.n_id, sub.edge_index, sub.num_seeds))
    torch.testing.assert_close(sampled, full[[5, 11, 30]], rtol=1e-4, atol=1e-5)


def test_masked_nodes_and_missing_attributes() -> None:
    encoder = GraphNodeEncoder({"text": 4}, width=8, conv="sage", depth=1).eval()
    batch = GraphSpec().dummy_batch(3)
    batch.features, batch.has = {"text": batch.features["text"][:, :4]}, batch.has
    plain = encoder(batch)
    batch.masked = torch.zeros(batch.num_nodes, dtype=torch.bool)
    batch.masked[0] = True
    assert not torch.allclose(encoder(batch)[0], plain[0])
    batch.has["text"][1] = False
    with pytest.raises(ValueError, match="1 nodes of the batch carry no attribute"):
        encoder(batch)


def test_graph_spec_checks_and_joins_batches() -> None:
    spec = GraphSpec()
    a, b = spec.dummy_batch(2), spec.dummy_batch(3)
    joined = spec.collate([spec.load(a), spec.load(b)])
    assert joined.num_seeds == 5
    assert joined.num_nodes == a.num_nodes + b.num_nodes
    torch.testing.assert_close(joined.features["text"][2:5], b.features["text"][:3])
    encoder = GraphNodeEncoder({"text": 8}, width=8, conv="sage", depth=1).eval()
    torch.testing.assert_close(encoder(joined)[2:5], encoder(b), rtol=1e-4, atol=1e-5)  # no edges between them
    broken = spec.dummy_batch(2)
    broken.edge_index = torch.tensor([[0], [99]])
    with pytest.raises(InputError, match="outside"):
        spec.load(broken)
    with pytest.raises(InputError, match="GraphBatch"):
        spec.load("graph.json")


def test_plain_format_and_pyg_objects_embed_alike(tmp_path) -> None:
    from unibind.datasets.graph_format import read_graph, write_graph
    from unibind.graphs.encoder import batch_from_pyg

    nodes = [{"id": f"n{i}", "text": f"node {i}"} for i in range(6)]
    edges = [("n0", "n1", "e"), ("n1", "n2", "e"), ("n2", "n3", "e"), ("n4", "n5", "e"), ("n5", "n0", "e")]
    graph = read_graph(*write_graph(tmp_path, nodes, edges))
    torch.manual_seed(0)
    features = {"text": torch.randn(6, 4)}
    encoder = GraphNodeEncoder({"text": 4}, width=8, conv="gat", depth=2, heads=2, num_experts=2).eval()
    direct = encoder(GraphBatch(features, {"text": graph.has("text")}, graph.undirected_edges(), num_seeds=6))
    seeds = torch.tensor([3, 0])
    via_pyg = encoder(batch_from_pyg(graph.to_pyg(features), seeds))
    torch.testing.assert_close(via_pyg, direct[seeds], rtol=1e-5, atol=1e-6)
