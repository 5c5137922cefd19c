"""BM25Index: bm25s scores against a naive Okapi BM25, texts without terms, and the first-stage contract."""

import math
from collections import Counter

import pytest

from unibind.retrieval.lexical import BM25Index


def naive_bm25(texts: list[str], query: str, k1: float = 1.5, b: float = 0.75) -> list[float]:
    """BM25 as Lucene computes it (bm25s' default): idf log(1 + (N - df + 0.5) / (df + 0.5)) and the term
    frequency part tf / (tf + k1 (1 - b + b |d| / avgdl)), without Okapi's constant (k1 + 1) factor, which
    does not change rankings; on lower-cased words (no stemming)."""
    docs = [Counter(t.lower().split()) for t in texts]
    average = sum(sum(d.values()) for d in docs) / len(docs)
    scores = []
    for doc in docs:
        length, score = sum(doc.values()), 0.0
        for term in set(query.lower().split()):
            df = sum(term in d for d in docs)
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            score += idf * doc[term] / (doc[term] + k1 * (1 - b + b * length / average))
        scores.append(score)
    return scores


def test_scores_match_a_naive_okapi_bm25() -> None:
    texts = ["red circle red", "blue square", "green circle small", "red square large", "circle"]
    index = BM25Index([f"d{i}" for i in range(5)], texts, stem=False)
    found = index.search(["red circle"], k=5)[0]
    expected = dict(zip([f"d{i}" for i in range(5)], naive_bm25(texts, "red circle"), strict=True))
    for doc, score in found.items():
        assert score == pytest.approx(expected[doc], rel=1e-5)
    assert next(iter(found)) == "d0"


def test_texts_without_terms_never_match() -> None:
    assert BM25Index(["a", "b"], ["", "the of"]).search(["anything"], k=5) == [{"a": 0.0, "b": 0.0}]
    with pytest.raises(ValueError, match="2 ids for 1 texts"):
        BM25Index(["a", "b"], ["x"])
