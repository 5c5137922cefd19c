"""BM25 over texts (bm25s; Robertson and Zaragoza 2009): the lexical first stage and the lexical half of hybrid search.

Okapi BM25 with k1 = 1.5, b = 0.75, English stop words and Snowball stemming (PyStemmer), as BEIR's
Elasticsearch baseline. bm25s (Lu 2024) scores over a scipy sparse matrix; on SciFact it reproduces
rank_bm25 and the BEIR paper's figure. A text with no term left (empty, or only stop words) never matches.
"""

from __future__ import annotations

from collections.abc import Sequence


class BM25Index:
    """BM25 over ``texts`` (one per id).

    Args:
        ids: the texts' ids.
        texts: the texts, in the order of ``ids``.
        stem: Snowball stemming of English (PyStemmer).
    """

    def __init__(self, ids: Sequence[str], texts: Sequence[str], stem: bool = True) -> None:
        import bm25s

        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        self.ids = list(ids)
        self._stemmer = None
        if stem:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False)
        self._retriever = None
        if tokens.vocab:  # else no text has a term: every score is 0
            self._retriever = bm25s.BM25(k1=1.5, b=0.75)
            self._retriever.index(tokens, show_progress=False)

    def search(self, queries: Sequence[str], k: int = 100) -> list[dict[str, float]]:
        """The top ``k`` ``{id: score}`` per query (ties in index order); with no indexed term, the first ``k``
        ids at score 0."""
        import bm25s

        k = min(k, len(self.ids))
        if self._retriever is None or k == 0:
            return [dict.fromkeys(self.ids[:k], 0.0) for _ in queries]
        tokens = bm25s.tokenize(list(queries), stopwords="en", stemmer=self._stemmer, show_progress=False)
        results, scores = self._retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [
            {self.ids[int(i)]: float(s) for i, s in zip(results[row], scores[row], strict=True)}
            for row in range(len(queries))
        ]
