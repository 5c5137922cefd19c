"""BEIR datasets (Thakur et al. 2021, https://arxiv.org/abs/2104.08663): the reader and its input checks.

Layout: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``),
``qrels/{split}.tsv`` (header ``query-id corpus-id score``). Documents are embedded as ``title + " " + text``,
as BEIR does for sentence encoders.

Input policy: :func:`read_beir` checks every row of the three files before any embedding or indexing, and
every refusal is a :class:`~unibind.datasets.text_files.ManifestError` naming the file, the line and the id:

- files are UTF-8 JSON lines (:func:`~unibind.datasets.text_files.read_jsonl`: bad bytes, bad JSON and repeated
  keys are refused);
- ``_id`` is a non-empty string (an integer is read as its decimal string) and unique within its file: a
  repeated id is refused (BEIR's own loader would silently keep the last row);
- ``text`` is a string; a document's ``title`` is a string, ``null`` or absent (``""``);
- texts follow :class:`~unibind.modalities.TextSpec`: control characters other than whitespace are removed,
  counted and warned about (:attr:`BeirData.stripped_controls`; ``control_chars="refuse"`` refuses them),
  whitespace runs collapse to one space; documents have no length limit (encoders truncate), queries the
  spec's default;
- a document whose title and text are both empty is kept, as BEIR keeps it: dense encoders embed it as the
  empty string (:func:`unibind.retrieval.first_stage.dense_first_stage`), BM25 matches it with no query;
  read_beir logs a warning with their count and lists them in :attr:`BeirData.empty_documents`;
- an empty query is refused when the split's qrels judge it (nothing can be retrieved for it, and dropping it
  would silently change the set of queries the metrics average over); empty queries of other splits are kept;
- qrels rows name a known query and document and carry an integer score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unibind.datasets.text_files import ManifestError, read_jsonl, read_table
from unibind.modalities import InputError, TextSpec
from unibind.modalities.text import CONTROL_CHARACTERS, ControlChars

log = logging.getLogger(__name__)

#: Documents as the encoders see them: empty ones allowed, no length limit (the encoders truncate).
DOCUMENT_SPEC = TextSpec(max_chars=None, allow_empty=True)
#: Queries as the encoders see them: never empty (read_beir refuses the empty queries it would evaluate).
QUERY_SPEC = TextSpec()


@dataclass
class BeirData:
    """``corpus`` id -> ``{"title", "text"}``; ``queries`` id -> text; ``qrels`` query -> {doc: grade};
    ``empty_documents``: ids of the documents whose title and text are both empty (kept, as BEIR keeps them);
    ``stripped_controls``: ids of the documents and queries whose control characters were removed."""

    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    empty_documents: list[str] = field(default_factory=list)
    stripped_controls: list[str] = field(default_factory=list)

    def document_text(self, doc_id: str) -> str:
        doc = self.corpus[doc_id]
        return f"{doc['title']} {doc['text']}".strip()


def judged_queries(data: BeirData) -> list[str]:
    """The queries with at least one relevant document, sorted."""
    return sorted(q for q, judged in data.qrels.items() if any(g > 0 for g in judged.values()))


def _row_id(row: dict[str, Any], path: Path, number: int) -> str:
    """A row's ``_id`` as a non-empty string (an integer is read as its decimal string)."""
    row_id = row.get("_id")
    if isinstance(row_id, int) and not isinstance(row_id, bool):
        row_id = str(row_id)
    if not isinstance(row_id, str):
        raise ManifestError(f"{path}, line {number}: field '_id' is missing or not a string")
    if not row_id:
        raise ManifestError(f"{path}, line {number}: field '_id' is empty")
    return row_id


def _row_texts(
    row: dict[str, Any], where: str, fields: dict[str, bool], spec: TextSpec, row_id: str, stripped: list[str]
) -> dict[str, str]:
    """The checked texts of one row's ``fields`` (required or optional); notes ``row_id`` in ``stripped`` when
    ``spec`` strips control characters from them."""
    texts = {}
    for name, required in fields.items():
        value = row.get(name)
        if value is None and not required:
            value = ""
        if not isinstance(value, str):
            raise ManifestError(f"{where}: field {name!r} is missing or not a string")
        if spec.control_chars == "strip" and CONTROL_CHARACTERS.search(value) and row_id not in stripped[-1:]:
            stripped.append(row_id)
        try:
            texts[name] = spec.load(value, item=f"{where}, field {name!r}")
        except InputError as err:
            raise ManifestError(str(err)) from None
    return texts


def _read_texts(
    path: Path, kind: str, fields: dict[str, bool], spec: TextSpec, stripped: list[str]
) -> tuple[dict[str, dict[str, str]], dict[str, int]]:
    """``id -> {field: checked text}`` and ``id -> line`` of a BEIR JSONL file; ``fields`` maps each text field
    to whether it is required (an optional one may be absent or ``null``: ``""``). Ids whose texts held
    control characters that ``spec`` strips are appended to ``stripped``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    rows: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    for number, row in read_jsonl(path, unit="line"):
        row_id = _row_id(row, path, number)
        where = f"{path}, line {number} ({kind} {row_id!r})"
        if row_id in lines:
            raise ManifestError(f"{where}: the id repeats line {lines[row_id]}; ids must be unique")
        rows[row_id], lines[row_id] = _row_texts(row, where, fields, spec, row_id, stripped), number
    return rows, lines


def read_beir(root: str | Path, split: str = "test", control_chars: ControlChars = "strip") -> BeirData:
    """Read and check a BEIR folder before any work on it (the module's input policy); a bad row raises
    ``ManifestError`` naming the file, the line and the id. Control characters are removed from texts, counted
    and warned about (real corpora hold them: SciFact has C1 controls from mis-decoded punctuation), or with
    ``control_chars="refuse"`` refused."""
    root = Path(root)
    spec = TextSpec(max_chars=None, control_chars=control_chars, allow_empty=True)
    corpus_path = root / "corpus.jsonl"
    stripped: list[str] = []
    corpus, _ = _read_texts(corpus_path, "document", {"title": False, "text": True}, spec, stripped)
    query_spec = TextSpec(control_chars=control_chars, allow_empty=True)
    queries_path = root / "queries.jsonl"
    query_rows, query_lines = _read_texts(queries_path, "query", {"text": True}, query_spec, stripped)
    if stripped:
        log.warning(
            "%s: removed control characters from %d documents or queries, e.g. %s (--control-chars refuse "
            "refuses them instead)",
            root,
            len(stripped),
            ", ".join(repr(i) for i in stripped[:3]),
        )
    queries = {query_id: row["text"] for query_id, row in query_rows.items()}
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise FileNotFoundError(f"{qrels_path} not found")
    qrels = _read_qrels(qrels_path, queries, query_lines, corpus)
    empty = [doc_id for doc_id, doc in corpus.items() if not doc["title"] and not doc["text"]]
    if empty:
        log.warning(
            "%s: %d of %d documents are empty (no title, no text), e.g. %s; they are kept, as BEIR keeps them: "
            "dense encoders embed the empty string and BM25 matches them with no query",
            corpus_path,
            len(empty),
            len(corpus),
            ", ".join(repr(d) for d in empty[:3]),
        )
    return BeirData(corpus, queries, qrels, empty, stripped)


def _read_qrels(
    path: Path, queries: dict[str, str], query_lines: dict[str, int], corpus: dict[str, dict[str, str]]
) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    header, records = read_table(path, delimiter="\t", unit="line")
    if not {"query-id", "corpus-id", "score"} <= set(header):
        raise ManifestError(f"{path}: expected columns query-id, corpus-id, score; got {header}")
    for number, row in records:
        query, doc, score = row.get("query-id", ""), row.get("corpus-id", ""), row.get("score", "")
        if query not in queries:
            raise ManifestError(f"{path}, line {number}: query {query!r} is not in queries.jsonl")
        if not queries[query]:
            raise ManifestError(
                f"{path}, line {number}: query {query!r} is empty (queries.jsonl, line {query_lines[query]}); "
                "an empty query cannot be retrieved for: give it a text or drop its qrels rows"
            )
        if doc not in corpus:
            raise ManifestError(f"{path}, line {number}: document {doc!r} is not in corpus.jsonl")
        try:
            qrels.setdefault(query, {})[doc] = int(score)
        except ValueError as err:
            raise ManifestError(f"{path}, line {number}: score {score!r} is not an integer") from err
    return qrels
