"""The BEIR reader: real SciFact, bad rows named, empty documents kept and counted, control characters."""

import json
import shutil
from pathlib import Path

import pytest
from tests.beir_folders import DOCS, FIXTURE, QRELS, QUERIES, write_beir

from unibind.datasets.beir import read_beir
from unibind.datasets.text_files import ManifestError
from unibind.retrieval.first_stage import bm25_run


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
