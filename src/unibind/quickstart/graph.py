"""The quickstart's graph rows: the emoji graph through a GAT over MoE-mixed image and text attributes.

Nodes carry their cached image features and, except the held-out emoji, the features of their English
name; 10% of the edges are held out from message passing. The GNN (UniGraph2-style) trains on sampled
neighbourhoods of the training emoji with cross-modal contrast and masked-feature reconstruction. Rows:
an untrained tower, the trained one, and the attributes alone without the graph (the node's own aligned
image embedding). Tasks: link prediction on the held-out edges (AUC, MRR against 100 corrupted tails),
category classification of the held-out emoji (linear probe on training nodes; zero-shot from
"an emoji of {category}"), and text -> node retrieval (a held-out emoji's English name against the
held-out nodes, whose own text is hidden from the graph).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch

from unibind.datasets.emoji import EmojiCorpus
from unibind.datasets.emoji_graph import write_emoji_graph
from unibind.datasets.graph_format import read_graph
from unibind.embedder import UnifiedEmbedder
from unibind.encoders.base import Encoder
from unibind.evaluation import label_prompts, zero_shot_predict
from unibind.features import cached_features
from unibind.graphs.evaluate import linear_probe, link_prediction, split_edges
from unibind.graphs.training import GraphModule, SampledGraph, embed_nodes, fit_graph, graph_embedder
from unibind.metrics.classification import accuracy_and_macro_f1
from unibind.metrics.ranking import best_relevant_rank, recall_from_ranks
from unibind.quickstart.evaluate import embed_features
from unibind.quickstart.features import TEXT_SPEC, FeatureTable

PROMPT = "an emoji of {}"
log = logging.getLogger(__name__)


def graph_rows(
    corpus: EmojiCorpus,
    table: FeatureTable,
    text_tower: Encoder,
    cache: Path,
    epochs: int = 40,
    progress: bool = True,
    seed: int = 0,
) -> dict:
    """Metrics per variant (``untrained``, ``trained``, ``attributes only``) plus the graph's size."""
    graph = read_graph(*write_emoji_graph(corpus))
    row_of = {row["id"]: i for i, row in enumerate(table.rows)}
    order = torch.tensor([row_of[node_id] for node_id in graph.ids])
    names = table.captions(order, "en", names_only=True)
    name_of = dict(zip(table.caption_item[names].tolist(), names.tolist(), strict=True))
    text = table.text[torch.tensor([name_of[int(i)] for i in order])]
    splits = [table.rows[int(i)]["split"] for i in order]
    test = torch.tensor([i for i, s in enumerate(splits) if s == "test"])
    train = torch.tensor([i for i, s in enumerate(splits) if s == "train"])
    features = {"text": text, "image": table.image[order]}
    has = {"text": torch.tensor([s != "test" for s in splits]), "image": torch.ones(len(order), dtype=torch.bool)}
    message_edges, held_out = split_edges(graph.edge_index, 0.1, seed)
    labels = sorted({label for label in graph.labels if label is not None})
    y = torch.tensor([labels.index(label) for label in graph.labels])
    prompts = cached_features(text_tower, TEXT_SPEC, label_prompts(labels, PROMPT), cache, progress=False)

    L.seed_everything(seed, verbose=False)
    untrained = graph_embedder({m: x.shape[1] for m, x in features.items()}).eval()
    trained = graph_embedder({m: x.shape[1] for m, x in features.items()})
    data = SampledGraph(features, has, message_edges, train, fanouts=(10, 10), batch_size=256, seed=seed)
    if progress:
        log.info("training the graph tower: %d epochs over %d emoji nodes, sampled neighbourhoods", epochs, len(train))
    fit_graph(GraphModule(trained, mask_ratio=0.3), data, epochs, progress)

    results = {}
    for name, model in (("untrained", untrained), ("trained", trained)):
        nodes = embed_nodes(model, features, has, message_edges)
        results[name] = _tasks(model, nodes, features, held_out, graph.edge_index, train, test, y, prompts, labels)
    attributes, _ = embed_features(trained, features["image"], "image")  # the node alone, no neighbours
    results["attributes only"] = _tasks(
        trained, attributes, features, held_out, graph.edge_index, train, test, y, prompts, labels
    )
    return {
        "nodes": graph.num_nodes,
        "edges": int(graph.edge_index.shape[1]),
        "edge_types": graph.edge_types,
        "held_out_edges": int(held_out.shape[1]),
        "test_nodes": len(test),
        "variants": results,
    }


@torch.no_grad()
def _tasks(
    model: UnifiedEmbedder,
    nodes: torch.Tensor,
    features: dict[str, torch.Tensor],
    held_out: torch.Tensor,
    all_edges: torch.Tensor,
    train: torch.Tensor,
    test: torch.Tensor,
    y: torch.Tensor,
    prompts: torch.Tensor,
    labels: list[str],
) -> dict:
    links = link_prediction(nodes, held_out, all_edges)
    probe = linear_probe(nodes[train], y[train], nodes[test], y[test], len(labels))
    label_vectors, _ = embed_features(model, prompts, "text")
    zero_shot = accuracy_and_macro_f1(zero_shot_predict(nodes[test], label_vectors), y[test], len(labels))
    names, _ = embed_features(model, features["text"][test], "text")
    ranks = best_relevant_rank(names @ nodes[test].T, torch.eye(len(test), dtype=torch.bool))
    return {
        "link_AUC": links["AUC"],
        "link_MRR": links["MRR"],
        "probe": probe,
        "zero_shot": zero_shot,
        "text_to_node": recall_from_ranks(ranks, len(test), (1, 5, 10)),
    }
