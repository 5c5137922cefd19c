"""The BEIR reader on a real SciFact slice, bm25s against a plain BM25, and `unibind eval beir` end to end."""

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch

from unibind.datasets.beir import read_beir
from unibind.datasets.text_files import ManifestError
from unibind.encoders.base import Encoder
from unibind.modalities import Modality
from unibind.retrieval.first_stage import bm25_run, dense_first_stage

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
    with pytest.raises(ManifestError, match=r"queries.jsonl, line 1 \(query '1'\): field 'text' is missing"):
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
    stages = ["BM25", "dense", "hybrid (RRF)", "hybrid (z-score)"]
    assert set(results["rows"]) == {*stages, *(f"{stage} + E2Rank, n=5" for stage in stages)}
    bm25 = results["rows"]["BM25"]
    assert 0.0 < bm25["ndcg@10"] <= 1.0
    assert results["details"]["seconds_per_query"]["dense + E2Rank, n=5"] > 0
    assert results["benchmark"] == "beir"
    assert results["data"]["files"] == 3


def write_beir(root: Path, corpus: list[dict | str], queries: list[dict], qrels: list[str]) -> Path:
    """A BEIR folder; ``corpus`` rows are objects or raw JSON lines."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [row if isinstance(row, str) else json.dumps(row) for row in corpus]
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{r}\n" for r in qrels))
    return root


DOCS = [
    {"_id": "d1", "title": "cat", "text": "the cat runs in the park"},
    {"_id": "e1", "title": "", "text": ""},  # title and text empty
    {"_id": "d2", "title": "dog", "text": "a dog eats food"},
    {"_id": "e2", "text": ""},  # no title, empty text
    {"_id": "e3", "title": None, "text": " \n\t "},  # null title, whitespace only
    {"_id": "d3", "title": "movie", "text": "a man and a woman on the square"},
]
QUERIES = [{"_id": "q1", "text": "cat runs"}, {"_id": "q2", "text": "dog food"}, {"_id": "q3", "text": ""}]
QRELS = ["q1\td1\t1", "q2\td2\t1", "q2\te1\t0"]  # q3 (empty) is not judged in this split


def test_empty_documents_are_kept_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        data = read_beir(write_beir(tmp_path / "b", DOCS, QUERIES, QRELS))
    assert list(data.corpus) == ["d1", "e1", "d2", "e2", "e3", "d3"]
    assert data.empty_documents == ["e1", "e2", "e3"]
    assert [data.document_text(d) for d in data.empty_documents] == ["", "", ""]
    assert "3 of 6 documents are empty" in caplog.text
    assert data.queries["q3"] == ""  # an empty query the split does not judge is left alone
    run = bm25_run(data, ["q1", "q2"], k=6)
    assert run["q1"]["d1"] > 0
    assert run["q2"]["d2"] > 0
    assert all(run[q].get(e, 0.0) == 0.0 for q in run for e in data.empty_documents)  # they never match


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


def test_eval_beir_completes_on_empty_documents(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tiny_bert_dir: Path,
) -> None:
    from unibind.cli import main

    monkeypatch.setenv("UNIBIND_CACHE", str(tmp_path / "cache"))
    root = write_beir(tmp_path / "b", DOCS, QUERIES, QRELS)
    out = tmp_path / "beir.json"
    argv = ["eval", "beir", "--data", str(root), "--encoder", str(tiny_bert_dir), "--num-input-docs", "5"]
    with caplog.at_level("WARNING"):
        assert main([*argv, "--out", str(out)]) == 0
    assert "3 of 6 documents are empty" in caplog.text
    assert "2 queries (test); 6 documents, 3 of them empty (kept)" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert (record["details"]["documents"], record["details"]["empty_documents"]) == (6, 3)
    rows = record["rows"]
    stages = ["BM25", "dense", "hybrid (RRF)", "hybrid (z-score)"]
    assert set(rows) == {*stages, *(f"{stage} + E2Rank, n=5" for stage in stages)}
    assert all(0.0 <= row["ndcg@10"] <= 1.0 for row in rows.values())


@pytest.mark.parametrize(
    ("corpus", "message"),
    [
        (
            [DOCS[0], '{"_id": "d2", "title": "dog", "text": "a \\u0007 dog"}'],
            r"corpus.jsonl, line 2 \(document 'd2'\), field 'text': text holds the control character U\+0007",
        ),
        (
            [DOCS[0], DOCS[2], {**DOCS[0], "text": "again"}],
            r"corpus.jsonl, line 3 \(document 'd1'\): the id repeats line 1",
        ),
        ([DOCS[0], {"_id": "d2", "text": None}], r"corpus.jsonl, line 2 \(document 'd2'\): field 'text' is missing"),
        (
            [DOCS[0], {"_id": "d2", "title": 3, "text": "x"}],
            r"line 2 \(document 'd2'\): field 'title' is missing or not",
        ),
        ([DOCS[0], {"_id": "", "text": "x"}], r"corpus.jsonl, line 2: field '_id' is empty"),
    ],
    ids=["control-character", "duplicate-id", "null-text", "number-title", "empty-id"],
)
def test_eval_beir_refuses_bad_documents_before_loading_the_encoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: list, message: str
) -> None:
    from unibind.cli import main

    monkeypatch.setenv("UNIBIND_CACHE", str(tmp_path / "cache"))
    root = write_beir(tmp_path / "b", corpus, QUERIES[:1], ["q1\td1\t1"])
    # the encoder does not exist: the error can only come from reading the data, before any model work
    with pytest.raises(ManifestError, match=message):
        main(
            [
                "eval",
                "beir",
                "--data",
                str(root),
                "--encoder",
                str(tmp_path / "no-encoder"),
                "--control-chars",
                "refuse",
            ]
        )


def test_invalid_utf8_in_the_corpus_is_named(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "b", DOCS[:1], QUERIES[:1], ["q1\td1\t1"])
    with (root / "corpus.jsonl").open("ab") as handle:
        handle.write(b'{"_id": "d2", "text": "caf\xe9"}\n')
    with pytest.raises(ManifestError, match=r"corpus.jsonl, line 2: not valid UTF-8"):
        read_beir(root)
    (root / "qrels" / "test.tsv").write_bytes(b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td\xff\t1\n")
    (root / "corpus.jsonl").write_text(json.dumps(DOCS[0]) + "\n")
    with pytest.raises(ManifestError, match=r"test.tsv, line 3: not valid UTF-8"):
        read_beir(root)


def test_control_characters_are_stripped_and_counted_or_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Real corpora hold them (SciFact: U+0096 from mis-decoded dashes): stripped and counted by default."""
    docs = [{"_id": "d1", "title": "cat\x00", "text": "the\x1b cat"}, {"_id": "d2", "text": "a 1\x962 range"}]
    root = write_beir(tmp_path / "b", docs, QUERIES[:1], [])
    with caplog.at_level("WARNING"):
        data = read_beir(root)
    assert data.document_text("d1") == "cat the cat"
    assert data.document_text("d2") == "a 12 range"
    assert data.stripped_controls == ["d1", "d2"]
    assert "removed control characters from 2 documents or queries" in caplog.text
    with pytest.raises(ManifestError, match=r"line 1 \(document 'd1'\), field 'title': .*U\+0000"):
        read_beir(root, control_chars="refuse")


def test_an_empty_query_the_split_judges_is_refused(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "b", DOCS, QUERIES, [*QRELS, "q3\td1\t1"])
    with pytest.raises(ManifestError, match=r"test.tsv, line 5: query 'q3' is empty \(queries.jsonl, line 3\)"):
        read_beir(root)


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


def test_interpolation_is_chosen_on_another_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_bert_dir: Path
) -> None:
    from unibind.cli import main

    monkeypatch.setenv("UNIBIND_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "b"
    shutil.copytree(FIXTURE, root)
    test_qrels = (root / "qrels" / "test.tsv").read_text().splitlines()
    (root / "qrels" / "train.tsv").write_text("\n".join(test_qrels[:1] + test_qrels[1:8]) + "\n")
    (root / "qrels" / "test.tsv").write_text("\n".join(test_qrels[:1] + test_qrels[8:]) + "\n")
    out = tmp_path / "beir.json"
    argv = ["eval", "beir", "--data", str(root), "--encoder", str(tiny_bert_dir), "--num-input-docs", "5"]
    assert main([*argv, "--interpolation-split", "train", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    interpolated = [name for name in record["rows"] if "chosen on train" in name]
    assert len(interpolated) == 4  # one per first stage
    curves = record["details"]["validation_ndcg@10"]
    assert all(len(curve) == 11 for curve in curves.values())
    for name in interpolated:
        a = name.split("(a=")[1].split(",")[0]
        assert curves[name][a] == max(curves[name].values())
    with pytest.raises(ValueError, match="another split"):
        main([*argv, "--interpolation-split", "test"])


def _naive_embedding(model, tokenizer, text: str, max_length: int) -> torch.Tensor:
    """One text alone (no padding): the mean of its token states, unit length."""
    tokens = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        vector = model(**tokens).last_hidden_state[0].mean(0)
    return vector / vector.norm()


def test_trained_model_scores_match_a_naive_scoring(
    trained_fixture_model: tuple[Path, str],
    tiny_scifact_bert_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trained dense first stage and its own E2Rank rerank, scored one text at a time by hand from the saved
    folder; their metrics against pytrec_eval; the table's rows are those runs' metrics."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from transformers import AutoModel, AutoTokenizer

    from unibind.encoders import HFTextEncoder
    from unibind.evaluation.beir_table import beir_table, model_first_stages
    from unibind.metrics.ir import mean_metrics
    from unibind.rerank import E2RankReranker, build_prompt
    from unibind.rerank.runs import rerank_run
    from unibind.rerank.training import ranked_ids, read_training_record

    folder, _ = trained_fixture_model
    monkeypatch.setenv("UNIBIND_CACHE", str(tmp_path / "cache"))
    data = read_beir(FIXTURE)
    queries = sorted(data.qrels)
    label, name = f" ({folder.name})", f"trained dense ({folder.name})"
    model = model_first_stages(label, str(folder), data, queries, bm25_run(data, queries), None, None, None, False)
    reranker = E2RankReranker(HFTextEncoder(str(folder), max_length=512).lock(), num_input_docs=3)
    dense = model.stages[name]
    reranked, _ = rerank_run(reranker, data, dense, model.doc_vectors, progress=False)

    tokenizer, naive_model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    docs = {d: _naive_embedding(naive_model, tokenizer, data.document_text(d), 256) for d in data.corpus}
    for query in queries:
        vector = _naive_embedding(naive_model, tokenizer, data.queries[query], 256)
        naive = {d: float(vector @ docs[d]) for d in docs}
        assert dense[query] == pytest.approx({d: naive[d] for d in dense[query]}, abs=1e-5)
        left_out = [naive[d] for d in docs if d not in dense[query]]
        assert min(dense[query].values()) >= max(left_out) - 1e-5  # the top 100 by the naive scores
        shown = [data.document_text(d) for d in ranked_ids(dense[query])[:3]]
        prompt = build_prompt(data.queries[query], shown, tokenizer, 512)
        enhanced = _naive_embedding(naive_model, tokenizer, prompt.text, 512)
        assert reranked[query] == pytest.approx({d: float(enhanced @ docs[d]) for d in reranked[query]}, abs=1e-5)
    evaluator = pytrec_eval.RelevanceEvaluator(data.qrels, {"ndcg_cut_10", "recall_100"})
    for run in (dense, reranked):
        reference = evaluator.evaluate(run)
        for ours, theirs in (("ndcg@10", "ndcg_cut_10"), ("recall@100", "recall_100")):
            expected = sum(r[theirs] for r in reference.values()) / len(reference)
            assert mean_metrics(run, data.qrels)[ours] == pytest.approx(expected, abs=1e-9)

    results = beir_table(
        FIXTURE,
        encoder=str(tiny_scifact_bert_dir),
        num_input_docs=(3,),
        reranker_encoders=[str(folder)],
        progress=False,
    )
    rows = results["rows"]
    assert rows[name]["metrics"] == mean_metrics(dense, data.qrels)
    assert rows[f"{name} + trained E2Rank{label}, n=3"]["metrics"] == mean_metrics(reranked, data.qrels)
    expected_rows = {"BM25", "dense", "hybrid (RRF)", "hybrid (z-score)", name}
    expected_rows |= {f"trained hybrid ({how}){label}" for how in ("RRF", "z-score")}
    assert expected_rows <= set(rows)
    assert len([r for r in rows if r.endswith(f"+ trained E2Rank{label}, n=3")]) == 7  # every first stage
    a = read_training_record(folder)["interpolation"]
    twins = [r for r in rows if r.endswith(f"+ trained E2Rank{label} (a={a}, from its training), n=3")]
    assert len(twins) == 7  # no validation split given: the a the training chose


def test_interpolation_is_chosen_on_the_trained_models_held_out_queries(
    trained_fixture_model: tuple[Path, str], tiny_bert_dir: Path
) -> None:
    from unibind.datasets.beir import judged_queries
    from unibind.evaluation.beir_table import validation_queries
    from unibind.rerank.training import read_training_record

    folder, _ = trained_fixture_model
    data = read_beir(FIXTURE)
    held_out = read_training_record(folder)["validation_queries"]
    assert validation_queries(data, FIXTURE, "test", [str(folder)]) == held_out
    assert validation_queries(data, FIXTURE, "dev", [str(folder)]) == judged_queries(data)  # trained on another split
    assert validation_queries(data, FIXTURE, "test", [str(tiny_bert_dir)]) == judged_queries(data)  # no record


def test_interpolation_curve_averages_over_the_queries_chosen_on(tiny_bert_dir: Path) -> None:
    """With a = 1 the plain query vector ranks; each chosen query's vector is its relevant documents' vector,
    so nDCG@10 is 1 on the chosen queries: the curve must not count the split's other queries as 0."""
    from unibind.encoders import HFTextEncoder
    from unibind.rerank.runs import choose_interpolation

    data = read_beir(FIXTURE)
    encoder = HFTextEncoder(str(tiny_bert_dir), max_length=256).lock()
    chosen = sorted(data.qrels)[:3]  # a held-out subset of the split's 20 judged queries
    generator = torch.Generator().manual_seed(0)
    vectors = {d: torch.nn.functional.normalize(torch.randn(32, generator=generator), dim=0) for d in data.corpus}
    queries = {}
    for i, query in enumerate(chosen):
        queries[query] = torch.nn.functional.one_hot(torch.tensor(i), 32).float() * 10
        for doc in data.qrels[query]:
            vectors[doc] = queries[query] / 10
    run = {}
    for query in chosen:  # 90 other documents, then the relevant ones: last, but within the rerank depth of 100
        others = [d for d in data.corpus if d not in data.qrels[query]][:90]
        run[query] = {**{d: 1.0 / (1 + j) for j, d in enumerate(others)}, **dict.fromkeys(data.qrels[query], 0.0)}
    _, curve = choose_interpolation(encoder, 3, data, run, vectors, queries)
    assert curve["1.0"] == pytest.approx(1.0)
