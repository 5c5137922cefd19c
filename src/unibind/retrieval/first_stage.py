"""First-stage runs over a BEIR collection: BM25, dense retrieval with any text encoder, and their fusions.

BM25 with bm25s (Lu 2024; Okapi BM25 over a scipy sparse matrix, maintained, pure Python wheels, and on
SciFact it reproduces rank_bm25 and the BEIR paper's Elasticsearch figure; k1 = 1.5, b = 0.75, English stop
words, Snowball stemming by PyStemmer), and dense retrieval through :class:`unibind.retrieval.VectorIndex`
(document embeddings cached on disk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from unibind.datasets.beir import DOCUMENT_SPEC, QUERY_SPEC, BeirData
from unibind.encoders.base import Encoder
from unibind.features import cached_features
from unibind.metrics.ir import Run
from unibind.retrieval.index import VectorIndex
from unibind.retrieval.lexical import BM25Index
from unibind.retrieval.rank_fusion import Fusion, fuse_rankings


def bm25_run(data: BeirData, query_ids: list[str], k: int = 100, stem: bool = True) -> Run:
    """BM25 top-``k`` per query (:class:`unibind.retrieval.lexical.BM25Index`: bm25s, k1 1.5, b 0.75,
    English stop words, Snowball stemming).

    Empty documents have no terms, so they score 0 for every query (they fill the list only when fewer than
    ``k`` documents match).
    """
    doc_ids = list(data.corpus)
    index = BM25Index(doc_ids, [data.document_text(d) for d in doc_ids], stem)
    return dict(zip(query_ids, index.search([data.queries[q] for q in query_ids], k), strict=True))


@dataclass
class DenseFirstStage:
    """Document and query embeddings of one encoder, and the index over the documents."""

    doc_ids: list[str]
    index: VectorIndex
    queries: dict[str, torch.Tensor]

    def run(self, query_ids: list[str], k: int = 100) -> Run:
        result = self.index.search(torch.stack([self.queries[q] for q in query_ids]), k)
        return {
            q: {d: float(s) for d, s in zip(ids, scores.tolist(), strict=True) if d is not None}
            for q, ids, scores in zip(query_ids, result.ids, result.scores, strict=True)
        }


def dense_first_stage(
    data: BeirData, encoder: Encoder, query_ids: list[str], cache: Path, progress: bool = True
) -> DenseFirstStage:
    """Embed (or load the cached embeddings of) every document and the queries; build an exact index scored in
    float32 throughout (the int8 / bfloat16 candidate pools of the default scoring can miss a top-100 document
    when scores crowd together).

    Empty documents are embedded as the empty string, once for all of them (a tokenizer gives its special
    tokens, e.g. ``[CLS] [SEP]``). An encoder whose tokenizer gives no token at all for ``""`` (no BOS or CLS)
    has nothing to embed: those documents get the zero vector, which scores 0 with every query.
    """
    doc_ids = list(data.corpus)
    texts = [data.document_text(d) for d in doc_ids]
    filled = [i for i, text in enumerate(texts) if text]
    names = [f"document {doc_ids[i]!r}" for i in filled]
    if len(filled) == len(doc_ids):
        docs = cached_features(encoder, DOCUMENT_SPEC, texts, cache, batch_size=64, progress=progress, names=names)
    else:
        docs = torch.zeros(len(doc_ids), encoder.width)
        if filled:
            docs[filled] = cached_features(
                encoder, DOCUMENT_SPEC, [texts[i] for i in filled], cache, 64, progress, names=names
            )
        empty = [i for i, text in enumerate(texts) if not text]
        docs[empty] = _empty_text_embedding(encoder, cache, f"document {doc_ids[empty[0]]!r}")
    queries = cached_features(
        encoder,
        QUERY_SPEC,
        [data.queries[q] for q in query_ids],
        cache,
        batch_size=128,
        progress=False,
        names=[f"query {q!r}" for q in query_ids],
    )
    index = VectorIndex(docs.shape[1], scoring="float32")  # metrics never depend on quantised candidate pools
    index.add(doc_ids, docs, "text")
    return DenseFirstStage(
        doc_ids, index, dict(zip(query_ids, torch.nn.functional.normalize(queries, dim=-1), strict=True))
    )


def _empty_text_embedding(encoder: Encoder, cache: Path, name: str) -> torch.Tensor:
    """``encoder``'s embedding of ``""``, or zeros when its tokenizer gives no token for it."""
    tokenize = getattr(encoder, "tokenize", None)
    if callable(tokenize):
        mask = tokenize([""]).get("attention_mask")
        if mask is not None and int(mask.sum()) == 0:
            return torch.zeros(encoder.width)
    return cached_features(encoder, DOCUMENT_SPEC, [""], cache, progress=False, names=[name])[0]


def fused_run(runs: Sequence[Run], how: Fusion, k: int = 100) -> Run:
    """Per query, the top ``k`` of the first stages' lists fused by :func:`unibind.retrieval.fuse_rankings` (``rrf``:
    reciprocal ranks; ``zscore``: per-list z-scores summed, the CMRAG normalisation)."""
    queries = list(dict.fromkeys(q for run in runs for q in run))
    return {q: dict(fuse_rankings([run.get(q, {}) for run in runs], how, top_k=k)) for q in queries}
