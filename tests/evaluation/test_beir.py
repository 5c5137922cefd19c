"""The BEIR reader on a real SciFact slice, bm25s against a plain BM25, and `unibind eval beir` end to end."""

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import pytest

from unibind.datasets.manifest import ManifestError
from unibind.evaluation.beir import bm25_run, read_beir

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "beir_scifact"


def test_reader_on_real_scifact() -> None:
    data = read_beir(FIXTURE)
    assert len(data.corpus) == 199
    assert len(data.queries) == 20
    assert sum(len(v) for v in data.qrels.values()) == 22
    doc = next(iter(data.corpus))
    assert data.document_text(doc).startswith(data.corpus[doc]["title"])


def test_reader_names_bad_rows(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "b")
    qrels = tmp_path / "b" / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "1\tnot-a-doc\t1\n")
    with pytest.raises(ManifestError, match=r"test.tsv, line 24: document 'not-a-doc' is not in corpus.jsonl"):
        read_beir(tmp_path / "b")
    (tmp_path / "b" / "queries.jsonl").write_text('{"_id": "1"}\n')
    with pytest.raises(ManifestError, match=r"queries.jsonl, line 1: field 'text' is missing"):
        read_beir(tmp_path / "b")


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


def test_eval_beir_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_bert_dir: Path
) -> None:
    from unibind.cli import main

    monkeypatch.setenv("UNIBIND_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "beir.json"
    argv = ["eval", "beir", "--data", str(FIXTURE), "--encoder", str(tiny_bert_dir), "--num-input-docs", "5"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "20 queries (test)" in printed
    results = json.loads(out.read_text())
    assert set(results["rows"]) == {"BM25", "dense", "BM25 + E2Rank, n=5", "dense + E2Rank, n=5"}
    bm25 = results["rows"]["BM25"]
    assert 0.0 < bm25["ndcg@10"] <= 1.0
    assert results["details"]["seconds_per_query"]["dense + E2Rank, n=5"] > 0
    assert results["benchmark"] == "beir"
    assert results["data"]["files"] == 3
