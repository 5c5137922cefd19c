"""BEIR datasets (Thakur et al. 2021, https://arxiv.org/abs/2104.08663): reader and first-stage runs.

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
  empty string (:func:`dense_first_stage`), BM25 matches it with no query; read_beir logs a warning with their
  count and lists them in :attr:`BeirData.empty_documents`;
- an empty query is refused when the split's qrels judge it (nothing can be retrieved for it, and dropping it
  would silently change the set of queries the metrics average over); empty queries of other splits are kept;
- qrels rows name a known query and document and carry an integer score.

First stages: BM25 with bm25s (Lu 2024; Okapi BM25 over a scipy sparse matrix, maintained, pure Python
wheels, and on SciFact it reproduces rank_bm25 and the BEIR paper's Elasticsearch figure; k1 = 1.5,
b = 0.75, English stop words, Snowball stemming by PyStemmer), and dense retrieval with any text encoder
through :class:`unibind.retrieval.VectorIndex` (document embeddings cached on disk).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from unibind.datasets.text_files import ManifestError, read_jsonl, read_table
from unibind.encoders.base import Encoder
from unibind.features import cached_features
from unibind.metrics.ir import Run
from unibind.modalities import InputError, TextSpec
from unibind.modalities.text import CONTROL_CHARACTERS, ControlChars
from unibind.retrieval import VectorIndex
from unibind.retrieval.lexical import BM25Index
from unibind.retrieval.rank_fusion import Fusion, fuse_rankings

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
        row_id = row.get("_id")
        if isinstance(row_id, int) and not isinstance(row_id, bool):
            row_id = str(row_id)
        if not isinstance(row_id, str):
            raise ManifestError(f"{path}, line {number}: field '_id' is missing or not a string")
        if not row_id:
            raise ManifestError(f"{path}, line {number}: field '_id' is empty")
        where = f"{path}, line {number} ({kind} {row_id!r})"
        if row_id in lines:
            raise ManifestError(f"{where}: the id repeats line {lines[row_id]}; ids must be unique")
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
        rows[row_id], lines[row_id] = texts, number
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


def rerank_run(
    reranker,
    data: BeirData,
    first_stage: Run,
    doc_embeddings: dict[str, torch.Tensor],
    progress: bool = True,
    query_vectors: dict[str, torch.Tensor] | None = None,
) -> tuple[Run, float]:
    """Rerank every query's first-stage list with ``reranker`` (an :class:`~unibind.rerank.E2RankReranker`),
    ``reranker.batch_size`` queries per forward pass (:meth:`~unibind.rerank.E2RankReranker.rerank_many`);
    returns the new run and the mean seconds per query. ``query_vectors`` (the dense first stage's) serve an
    interpolating reranker; without them it embeds the queries itself."""
    import time

    from tqdm.auto import tqdm

    queries = list(first_stage)
    run, start = {}, time.perf_counter()
    with tqdm(total=len(queries), desc="reranking", unit="query", disable=not progress, leave=False) as bar:
        for begin in range(0, len(queries), reranker.batch_size):
            batch = queries[begin : begin + reranker.batch_size]
            candidates = [
                [doc for doc, _ in sorted(first_stage[q].items(), key=lambda p: (-p[1], p[0]))] for q in batch
            ]
            texts = [[data.document_text(doc) for doc in docs] for docs in candidates]
            vectors = [torch.stack([doc_embeddings[doc] for doc in docs]) for docs in candidates]
            plain = torch.stack([query_vectors[q] for q in batch]) if query_vectors is not None else None
            ranked = reranker.rerank_many([data.queries[q] for q in batch], candidates, texts, vectors, plain)
            run.update({q: dict(pairs) for q, pairs in zip(batch, ranked, strict=True)})
            bar.update(len(batch))
    return run, (time.perf_counter() - start) / max(1, len(queries))
