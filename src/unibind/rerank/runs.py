"""Reranking whole runs with E2Rank, and choosing the interpolation with the plain query on validation queries."""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from unibind.datasets.beir import BeirData
from unibind.metrics.ir import Run, mean_metrics
from unibind.rerank.e2rank import INTERPOLATION_GRID, E2RankReranker


def rerank_run(
    reranker,
    data: BeirData,
    first_stage: Run,
    doc_embeddings: dict[str, torch.Tensor],
    progress: bool = True,
    query_vectors: dict[str, torch.Tensor] | None = None,
) -> tuple[Run, float]:
    """Rerank every query's first-stage list with ``reranker`` (an :class:`~unibind.rerank.E2RankReranker`),
    ``reranker.batch_size`` queries per forward pass (:meth:`~unibind.rerank.E2RankReranker.rerank_many`);
    returns the new run and the mean seconds per query. ``query_vectors`` (the dense first stage's) serve an
    interpolating reranker; without them it embeds the queries itself."""
    queries = list(first_stage)
    run, start = {}, time.perf_counter()
    with tqdm(total=len(queries), desc="reranking", unit="query", disable=not progress, leave=False) as bar:
        for begin in range(0, len(queries), reranker.batch_size):
            batch = queries[begin : begin + reranker.batch_size]
            candidates = [
                [doc for doc, _ in sorted(first_stage[q].items(), key=lambda p: (-p[1], p[0]))] for q in batch
            ]
            texts = [[data.document_text(doc) for doc in docs] for docs in candidates]
            vectors = [torch.stack([doc_embeddings[doc] for doc in docs]) for docs in candidates]
            plain = torch.stack([query_vectors[q] for q in batch]) if query_vectors is not None else None
            ranked = reranker.rerank_many([data.queries[q] for q in batch], candidates, texts, vectors, plain)
            run.update({q: dict(pairs) for q, pairs in zip(batch, ranked, strict=True)})
            bar.update(len(batch))
    return run, (time.perf_counter() - start) / max(1, len(queries))


def choose_interpolation(
    prompt_encoder,
    num_input_docs: int,
    data: BeirData,
    first_stage: Run,
    doc_vectors: dict[str, torch.Tensor],
    query_vectors: dict[str, torch.Tensor],
) -> tuple[float, dict[str, float]]:
    """The ``a`` of :data:`INTERPOLATION_GRID` with the best nDCG@10 (ties: the smaller ``a``) on the queries of
    ``first_stage``, and nDCG@10 per ``a``; each prompt is embedded once for the whole grid."""
    reranker = E2RankReranker(prompt_encoder, num_input_docs=num_input_docs, rerank_depth=100, cache_prompts=True)
    qrels = {q: data.qrels[q] for q in first_stage if q in data.qrels}  # only the queries chosen on
    curve = {}
    for a in INTERPOLATION_GRID:
        reranker.interpolation = a
        reranked, _ = rerank_run(reranker, data, first_stage, doc_vectors, False, query_vectors)
        curve[str(a)] = mean_metrics(reranked, qrels)["ndcg@10"]
    best = max(INTERPOLATION_GRID, key=lambda a: (curve[str(a)], -a))
    return best, curve
