"""The graph tower trains (contrast + masked reconstruction) and embeds every node; the emoji graph builds."""

from pathlib import Path

import pytest
import torch

from unibind.datasets.emoji import EmojiCorpus
from unibind.datasets.emoji_graph import emoji_graph_edges, keywords, write_emoji_graph
from unibind.datasets.graph_format import read_graph
from unibind.graphs.training import (
    GraphModule,
    SampledGraph,
    embed_nodes,
    fit_graph,
    graph_embedder,
    scaled_cosine_error,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "emoji" / "corpus"


def _two_communities(n: int = 24) -> tuple[dict, dict, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    half = n // 2
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if (i < half) == (j < half) and (j - i) <= 3]
    edges = torch.tensor(pairs).T
    edges = torch.cat([edges, edges.flip(0)], dim=1)
    community = (torch.arange(n) >= half).float().view(-1, 1)
    features = {
        "text": torch.randn(n, 6, generator=generator) + 2 * community,
        "image": torch.randn(n, 5, generator=generator),
    }
    has = {"text": torch.ones(n, dtype=torch.bool), "image": torch.arange(n) % 2 == 0}
    return features, has, edges


def test_scaled_cosine_error() -> None:
    x = torch.randn(4, 3)
    assert scaled_cosine_error(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert scaled_cosine_error(x, -x, gamma=2.0).item() == pytest.approx(4.0, rel=1e-5)


def test_graph_module_trains_and_embeds_every_node() -> None:
    torch.manual_seed(0)
    features, has, edges = _two_communities()
    embedder = graph_embedder({"text": 6, "image": 5}, embed_dim=16)
    module = GraphModule(embedder, mask_ratio=0.5)
    data = SampledGraph(features, has, edges, torch.arange(24), fanouts=(3, 3), batch_size=8)
    batch = next(iter(data))
    module.train()
    losses = module.losses(batch)
    assert {"graph_text_contrastive_loss", "graph_image_contrastive_loss"} <= set(losses)
    assert any(key.endswith("_reconstruction_loss") for key in losses)
    before = sum(module.losses(b).get("graph_text_contrastive_loss", 0) for b in data).item()
    fit_graph(module, data, epochs=15, progress=False)
    module.train()
    torch.manual_seed(1)
    after = sum(module.losses(b).get("graph_text_contrastive_loss", 0) for b in data).item()
    assert after < before
    nodes = embed_nodes(embedder, features, has, edges)
    assert nodes.shape == (24, 16)
    with pytest.raises(TypeError, match="GraphNodeEncoder"):
        GraphModule(_no_graph())


def _no_graph():
    from unibind.alignment import DenseAligner
    from unibind.embedder import UnifiedEmbedder
    from unibind.encoders import PrecomputedFeatures

    return UnifiedEmbedder({"text": PrecomputedFeatures("text", 4)}, 8, DenseAligner(8))


def test_emoji_graph_from_the_fixture(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(FIXTURE, tmp_path / "corpus")
    corpus = EmojiCorpus(tmp_path / "corpus")
    rows = corpus.rows()
    assert "grin" in keywords(next(r for r in rows if r["id"] == "1f600"))
    edges = emoji_graph_edges(rows, max_keyword_size=8)
    assert all(kind in {"keyword", "subgroup"} for _, _, kind in edges)
    assert all(a < b for a, b, kind in edges if kind == "keyword")
    graph = read_graph(*write_emoji_graph(corpus))
    assert graph.num_nodes == len(rows)
    assert graph.has("image").all()
    assert graph.labels[0] == rows[0]["category"]


def test_neighbor_positives_use_the_seed_adjacency() -> None:
    from unibind.modalities import GraphBatch

    batch = GraphBatch(
        {"text": torch.randn(5, 6)},
        {"text": torch.ones(5, dtype=torch.bool)},
        torch.tensor([[0, 1, 3, 4], [1, 0, 4, 2]]),
        num_seeds=3,
    )
    adjacency = GraphModule._seed_adjacency(batch)
    assert adjacency.tolist() == [[True, True, False], [True, True, False], [False, False, True]]
    module = GraphModule(graph_embedder({"text": 6}, embed_dim=16), mask_ratio=0.0, neighbor_positives=True)
    losses = module.losses(batch)
    assert "graph_text_neighbor_contrastive_loss" in losses
    assert torch.isfinite(losses["graph_text_neighbor_contrastive_loss"])


def test_graph_level_pooling() -> None:
    from unibind.graphs.encoder import pool_graphs

    nodes = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    graph_index = torch.tensor([0, 0, 1])
    assert pool_graphs(nodes, graph_index).tolist() == [[2.0, 1.0], [5.0, 5.0]]
    assert pool_graphs(nodes, graph_index, "max").tolist() == [[3.0, 2.0], [5.0, 5.0]]
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool_graphs(nodes, graph_index, "median")
