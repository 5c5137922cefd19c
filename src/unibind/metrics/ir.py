"""Ranked-retrieval metrics with trec_eval's conventions: nDCG@k, Recall@k, MRR@k.

A run maps query id -> {doc id: score}; qrels map query id -> {doc id: relevance}. As in trec_eval, a
query's documents are ranked by score, ties broken by doc id in descending order; only queries with at
least one relevant document count, and they count even when the run has nothing for them.
- nDCG@k (``ndcg_cut_k``): gains are the relevance grades, discount ``1 / log2(rank + 1)``; the ideal ranks
  the judged documents by grade.
- Recall@k (``recall_k``): relevant documents in the top k over all relevant documents.
- MRR@k: ``1 / rank`` of the first relevant document within the top k, else 0 (BEIR's MRR@10; trec_eval's
  ``recip_rank`` on a run cut to k).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Doc ids by descending score, ties by descending doc id (trec_eval's order)."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda pair: (pair[1], pair[0]), reverse=True)]


def per_query(
    run: Run, qrels: Qrels, k_ndcg: int = 10, k_recall: int = 100, k_mrr: int = 10
) -> dict[str, dict[str, float]]:
    """``{query: {"ndcg@10", "recall@100", "mrr@10"}}`` for every query with a relevant document."""
    results = {}
    for query, judged in qrels.items():
        relevant = {doc for doc, grade in judged.items() if grade > 0}
        if not relevant:
            continue
        order = ranked(run.get(query, {}))
        gains = [max(judged.get(doc, 0), 0) for doc in order[:k_ndcg]]
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k_ndcg]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        first = next((i for i, doc in enumerate(order[:k_mrr]) if doc in relevant), None)
        results[query] = {
            f"ndcg@{k_ndcg}": dcg / idcg if idcg else 0.0,
            f"recall@{k_recall}": len(relevant & set(order[:k_recall])) / len(relevant),
            f"mrr@{k_mrr}": 1.0 / (first + 1) if first is not None else 0.0,
        }
    return results


def mean_metrics(run: Run, qrels: Qrels) -> dict[str, float]:
    """nDCG@10, Recall@100 and MRR@10 averaged over the judged queries."""
    rows = per_query(run, qrels)
    if not rows:
        raise ValueError("no query has a relevant document in the qrels")
    keys = next(iter(rows.values())).keys()
    return {key: sum(row[key] for row in rows.values()) / len(rows) for key in keys}
