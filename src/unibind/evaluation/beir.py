"""BEIR datasets (Thakur et al. 2021, https://arxiv.org/abs/2104.08663): reader and first-stage runs.

Layout: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``),
``qrels/{split}.tsv`` (header ``query-id corpus-id score``). Documents are embedded as ``title + " " + text``,
as BEIR does for sentence encoders.

First stages: BM25 with bm25s (Lu 2024; Okapi BM25 over a scipy sparse matrix, maintained, pure Python
wheels, and on SciFact it reproduces rank_bm25 and the BEIR paper's Elasticsearch figure; k1 = 1.5,
b = 0.75, English stop words, Snowball stemming by PyStemmer), and dense retrieval with any text encoder
through :class:`unibind.retrieval.VectorIndex` (document embeddings cached on disk).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from unibind.datasets.manifest import ManifestError, read_jsonl
from unibind.encoders.base import Encoder
from unibind.evaluation.ir_metrics import Run
from unibind.features import cached_features
from unibind.modalities import TextSpec
from unibind.retrieval import VectorIndex


@dataclass
class BeirData:
    """``corpus`` id -> ``{"title", "text"}``; ``queries`` id -> text; ``qrels`` query -> {doc: grade}."""

    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def document_text(self, doc_id: str) -> str:
        doc = self.corpus[doc_id]
        return f"{doc['title']} {doc['text']}".strip()


def _read_jsonl(path: Path, fields: tuple[str, ...]) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    rows = []
    for number, row in read_jsonl(path, unit="line"):
        missing = [f for f in fields if not isinstance(row.get(f), str)]
        if missing:
            raise ManifestError(f"{path}, line {number}: field {missing[0]!r} is missing or not a string")
        rows.append(row)
    return rows


def read_beir(root: str | Path, split: str = "test") -> BeirData:
    """Read a BEIR folder; qrels naming an unknown query or document raise ``ManifestError`` with the line."""
    root = Path(root)
    corpus = {
        row["_id"]: {"title": row.get("title") or "", "text": row["text"]}
        for row in _read_jsonl(root / "corpus.jsonl", ("_id", "text"))
    }
    queries = {row["_id"]: row["text"] for row in _read_jsonl(root / "queries.jsonl", ("_id", "text"))}
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise FileNotFoundError(f"{qrels_path} not found")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        if not {"query-id", "corpus-id", "score"} <= set(reader.fieldnames or []):
            raise ManifestError(f"{qrels_path}: expected columns query-id, corpus-id, score; got {reader.fieldnames}")
        for number, row in enumerate(reader, start=2):
            query, doc = row["query-id"], row["corpus-id"]
            if query not in queries:
                raise ManifestError(f"{qrels_path}, line {number}: query {query!r} is not in queries.jsonl")
            if doc not in corpus:
                raise ManifestError(f"{qrels_path}, line {number}: document {doc!r} is not in corpus.jsonl")
            try:
                qrels.setdefault(query, {})[doc] = int(row["score"])
            except ValueError as err:
                raise ManifestError(f"{qrels_path}, line {number}: score {row['score']!r} is not an integer") from err
    return BeirData(corpus, queries, qrels)


def bm25_run(data: BeirData, query_ids: list[str], k: int = 100, stem: bool = True) -> Run:
    """BM25 top-``k`` per query (bm25s, k1 1.5, b 0.75, English stop words, Snowball stemming)."""
    import bm25s

    stemmer = None
    if stem:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
    doc_ids = list(data.corpus)
    tokens = bm25s.tokenize(
        [data.document_text(d) for d in doc_ids], stopwords="en", stemmer=stemmer, show_progress=False
    )
    retriever = bm25s.BM25(k1=1.5, b=0.75)
    retriever.index(tokens, show_progress=False)
    query_tokens = bm25s.tokenize(
        [data.queries[q] for q in query_ids], stopwords="en", stemmer=stemmer, show_progress=False
    )
    results, scores = retriever.retrieve(query_tokens, k=min(k, len(doc_ids)), show_progress=False, n_threads=1)
    return {
        q: {doc_ids[int(i)]: float(s) for i, s in zip(results[row], scores[row], strict=True)}
        for row, q in enumerate(query_ids)
    }


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
    """Embed (or load the cached embeddings of) every document and the queries; build an exact index."""
    doc_ids = list(data.corpus)
    spec = TextSpec()
    docs = cached_features(
        encoder, spec, [data.document_text(d) for d in doc_ids], cache, batch_size=64, progress=progress
    )
    queries = cached_features(
        encoder, spec, [data.queries[q] for q in query_ids], cache, batch_size=128, progress=False
    )
    index = VectorIndex(docs.shape[1])
    index.add(doc_ids, docs, "text")
    return DenseFirstStage(
        doc_ids, index, dict(zip(query_ids, torch.nn.functional.normalize(queries, dim=-1), strict=True))
    )


def rerank_run(
    reranker, data: BeirData, first_stage: Run, doc_embeddings: dict[str, torch.Tensor], progress: bool = True
) -> tuple[Run, float]:
    """Rerank every query's first-stage list with ``reranker`` (an :class:`~unibind.rerank.E2RankReranker`);
    returns the new run and the mean seconds per query."""
    import time

    from tqdm.auto import tqdm

    run, start = {}, time.perf_counter()
    for query, scores in tqdm(first_stage.items(), desc="reranking", unit="query", disable=not progress, leave=False):
        candidates = [doc for doc, _ in sorted(scores.items(), key=lambda p: (-p[1], p[0]))]
        texts = [data.document_text(doc) for doc in candidates]
        vectors = torch.stack([doc_embeddings[doc] for doc in candidates])
        run[query] = dict(reranker.rerank(data.queries[query], candidates, texts, vectors))
    return run, (time.perf_counter() - start) / max(1, len(first_stage))
