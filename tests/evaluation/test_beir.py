"""`unibind eval beir` end to end: real SciFact, bad or empty documents, the interpolation, a trained model."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from tests.beir_folders import DOCS, FIXTURE, QRELS, QUERIES, write_beir

from unibind.datasets.beir import read_beir
from unibind.datasets.text_files import ManifestError
from unibind.retrieval.first_stage import bm25_run


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


def _assert_naive_scores(folder: Path, data, queries: list[str], dense: dict, reranked: dict) -> None:
    """``dense`` and ``reranked`` (3 documents in the prompt) equal the saved model's scores, one text at a time."""
    from transformers import AutoModel, AutoTokenizer

    from unibind.rerank import build_prompt
    from unibind.rerank.training import ranked_ids

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


def _assert_pytrec_eval_metrics(data, runs: list[dict]) -> None:
    """Each run's nDCG@10 and Recall@100 equal pytrec_eval's on the same qrels."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from unibind.metrics.ir import mean_metrics

    evaluator = pytrec_eval.RelevanceEvaluator(data.qrels, {"ndcg_cut_10", "recall_100"})
    for run in runs:
        reference = evaluator.evaluate(run)
        for ours, theirs in (("ndcg@10", "ndcg_cut_10"), ("recall@100", "recall_100")):
            expected = sum(r[theirs] for r in reference.values()) / len(reference)
            assert mean_metrics(run, data.qrels)[ours] == pytest.approx(expected, abs=1e-9)


def test_trained_model_scores_match_a_naive_scoring(
    trained_fixture_model: tuple[Path, str],
    tiny_scifact_bert_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trained dense first stage and its own E2Rank rerank, scored one text at a time by hand from the saved
    folder; their metrics against pytrec_eval; the table's rows are those runs' metrics."""
    pytest.importorskip("pytrec_eval")
    from unibind.encoders import HFTextEncoder
    from unibind.evaluation.beir_table import beir_table, model_first_stages
    from unibind.metrics.ir import mean_metrics
    from unibind.rerank import E2RankReranker
    from unibind.rerank.runs import rerank_run
    from unibind.rerank.training import read_training_record

    folder, _ = trained_fixture_model
    monkeypatch.setenv("UNIBIND_CACHE", str(tmp_path / "cache"))
    data = read_beir(FIXTURE)
    queries = sorted(data.qrels)
    label, name = f" ({folder.name})", f"trained dense ({folder.name})"
    model = model_first_stages(label, str(folder), data, queries, bm25_run(data, queries), None, None, None, False)
    reranker = E2RankReranker(HFTextEncoder(str(folder), max_length=512).lock(), num_input_docs=3)
    dense = model.stages[name]
    reranked, _ = rerank_run(reranker, data, dense, model.doc_vectors, progress=False)

    _assert_naive_scores(folder, data, queries, dense, reranked)
    _assert_pytrec_eval_metrics(data, [dense, reranked])

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
