"""BEIR first stages: BM25 against the formula, dense retrieval with empty documents, fused hybrids."""

import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from tests.beir_folders import DOCS, FIXTURE, QRELS, QUERIES, write_beir

from unibind.datasets.beir import read_beir
from unibind.encoders.base import Encoder
from unibind.modalities import Modality
from unibind.retrieval.first_stage import bm25_run, dense_first_stage


def _plain_bm25(docs: list[list[str]], query: list[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """BM25 as Lucene scores it (Kamphuis et al. 2020): Lucene's idf, and no (k1 + 1) factor in the numerator,
    a constant that leaves the ranking of Robertson's formula unchanged."""
    n, avg = len(docs), sum(len(d) for d in docs) / len(docs)
    df = Counter(term for d in docs for term in set(d))
    scores = []
    for d in docs:
        tf = Counter(d)
        score = 0.0
        for term in query:
            if term in tf:
                idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                score += idf * tf[term] / (tf[term] + k1 * (1 - b + b * len(d) / avg))
        scores.append(score)
    return scores


def test_bm25_agrees_with_the_formula() -> None:
    import bm25s

    data = read_beir(FIXTURE)
    query = sorted(data.qrels)[0]
    run = bm25_run(data, [query], k=10, stem=False)[query]
    doc_ids = list(data.corpus)
    tokens = bm25s.tokenize(
        [data.document_text(d) for d in doc_ids], stopwords="en", return_ids=False, show_progress=False
    )
    query_tokens = bm25s.tokenize([data.queries[query]], stopwords="en", return_ids=False, show_progress=False)[0]
    plain = _plain_bm25(tokens, query_tokens)
    for doc, score in run.items():
        assert score == pytest.approx(plain[doc_ids.index(doc)], rel=1e-4)


def test_bm25_on_a_corpus_without_terms(tmp_path: Path) -> None:
    docs = [{"_id": "e1", "text": ""}, {"_id": "e2", "title": "the", "text": "a"}]
    data = read_beir(write_beir(tmp_path / "b", docs, [{"_id": "q", "text": "cat"}], ["q\te1\t1"]))
    assert bm25_run(data, ["q"], k=5) == {"q": {"e1": 0.0, "e2": 0.0}}


class LengthEncoder(Encoder):
    """Text -> [length, 1]; records every batch; optionally a tokenizer that gives no token for ``""``."""

    modality = Modality.TEXT
    width = 2

    def __init__(self, tokens_for_empty: bool = True) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))
        self.batches: list[list[str]] = []
        if not tokens_for_empty:
            self.tokenize = lambda texts: {"attention_mask": torch.ones(len(texts), 0, dtype=torch.long)}

    def forward(self, batch: list[str]) -> torch.Tensor:
        self.batches.append(list(batch))
        return torch.tensor([[float(len(t)), 1.0] for t in batch]) * self.weight


@pytest.mark.parametrize("tokens_for_empty", [True, False], ids=["embeds-empty", "no-token-for-empty"])
def test_dense_first_stage_embeds_empty_documents_once(tmp_path: Path, tokens_for_empty: bool) -> None:
    data = read_beir(write_beir(tmp_path / "b", DOCS, QUERIES, QRELS))
    encoder = LengthEncoder(tokens_for_empty)
    dense = dense_first_stage(data, encoder, ["q1", "q2"], tmp_path / "cache", progress=False)
    assert dense.doc_ids == list(data.corpus)
    texts = [t for batch in encoder.batches for t in batch]
    assert texts.count("") == (1 if tokens_for_empty else 0)  # one embedding serves every empty document
    vectors = dict(zip(dense.index.ids, dense.index.vectors, strict=True))
    expected = torch.tensor([0.0, 1.0]) if tokens_for_empty else torch.zeros(2)
    for doc in data.empty_documents:
        assert torch.equal(vectors[doc], expected)
    assert set(dense.run(["q1"], k=6)["q1"]) == set(data.corpus)


def test_hybrid_first_stages_are_fused_lists_scored_like_trec_eval() -> None:
    """The hybrid rows: RRF and z-score fusion checked by hand, their metrics against pytrec_eval."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from unibind.metrics.ir import per_query
    from unibind.retrieval.first_stage import fused_run

    data = read_beir(FIXTURE)
    queries = sorted(data.qrels)
    bm25 = bm25_run(data, queries, k=50)
    generator = torch.Generator().manual_seed(0)
    docs = list(data.corpus)
    other = {
        q: {docs[int(i)]: float(torch.rand((), generator=generator)) for i in torch.randperm(199)[:50]} for q in queries
    }
    rrf, zscore = fused_run([bm25, other], "rrf", k=100), fused_run([bm25, other], "zscore", k=100)
    for query in queries:
        ranks = [
            {d: r for r, d in enumerate(sorted(run[query], key=lambda d: -run[query][d]), 1)} for run in (bm25, other)
        ]
        naive = {d: sum(1 / (60 + rank[d]) for rank in ranks if d in rank) for d in set(ranks[0]) | set(ranks[1])}
        assert rrf[query] == pytest.approx(naive)
        stats = [
            (sum(r[query].values()) / len(r[query]), torch.tensor(list(r[query].values())).std(unbiased=False))
            for r in (bm25, other)
        ]
        naive_z = {
            d: sum(
                float((run[query][d] - mean) / std)
                for run, (mean, std) in zip((bm25, other), stats, strict=True)
                if d in run[query]
            )
            for d in naive
        }
        assert zscore[query] == pytest.approx(naive_z, abs=1e-5)
    for fused in (rrf, zscore):
        reference = pytrec_eval.RelevanceEvaluator(data.qrels, {"ndcg_cut_10", "recall_100"}).evaluate(fused)
        for query, metrics in per_query(fused, data.qrels).items():
            assert metrics["ndcg@10"] == pytest.approx(reference[query]["ndcg_cut_10"], abs=1e-9)
            assert metrics["recall@100"] == pytest.approx(reference[query]["recall_100"], abs=1e-9)
