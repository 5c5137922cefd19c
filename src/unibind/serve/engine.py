"""The search engine behind ``unibind serve``: a saved model, an index with its cards, an optional E2Rank reranker.

Queries are embedded by the model with the specs the index was built with (``inputs.json``; default specs
for modalities it does not name) and searched in the index, optionally only among some modalities. A text
query over text items can be reranked by E2Rank (:class:`~unibind.rerank.E2RankReranker`): the first stage's
top ``rerank_candidates`` texts go into one listwise prompt, embedded by the reranker's own text encoder,
and are re-scored against their embeddings by that encoder (computed once per item and kept).

Media files are found by item id through the item's card, and only inside the index's ``media/`` folder.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from unibind.atomic import read_directory
from unibind.encoding import index_query_dim, truncate
from unibind.modalities import Modality, default_spec
from unibind.retrieval import VectorIndex
from unibind.retrieval.build import load_input
from unibind.retrieval.payload import MEDIA_DIR, MEDIA_TYPES, ItemCard, read_inputs, read_items
from unibind.runtimes import load_model
from unibind.serve.rerank_batching import BatchingReranker


@dataclass
class Hit:
    """One result: the item's card, its score and, after reranking, its first-stage score."""

    card: ItemCard
    score: float
    first_stage_score: float | None = None


class SearchEngine:
    """Embeds queries, searches the index, reranks text results and finds media files.

    Args:
        model_dir: a saved :class:`~unibind.embedder.UnifiedEmbedder`, or with ``runtime="onnx"`` /
            ``"onnx-int8"`` its ONNX export (:mod:`unibind.runtimes`).
        index_dir: an index folder (:mod:`unibind.retrieval.payload` describes its cards and media).
        reranker: a text encoder for E2Rank (a transformers folder, hub id or ``package:NAME``), or None. A
            folder saved by ``unibind train e2rank`` brings its prompt size and the interpolation ``a`` its
            validation chose (:class:`~unibind.rerank.E2RankReranker`); other encoders rerank with the pure
            prompt.
        num_input_docs: documents written into the E2Rank prompt (default: the trained model's, else 5).
        rerank_candidates: first-stage text results reranked per query (the answer keeps the top ``top_k``).
    """

    def __init__(
        self,
        model_dir: str | Path,
        index_dir: str | Path,
        reranker: str | None = None,
        num_input_docs: int | None = None,
        rerank_candidates: int = 50,
        runtime: str = "torch",
    ) -> None:
        # the folder holding the last complete save (a save killed after its commit leaves it pending)
        self.index_dir = read_directory(Path(index_dir).resolve(), lambda folder: folder)
        self.index = VectorIndex.load(self.index_dir)
        self.cards = read_items(self.index_dir)
        self.model = load_model(model_dir, runtime)
        self.query_dim = index_query_dim(self.index.dim, self.model)  # a Matryoshka prefix, or None: whole
        stored = read_inputs(self.index_dir)
        # a graph tower embeds sampled subgraphs, not anything a request can carry
        self.query_modalities = [m for m in self.model.modalities if m != Modality.GRAPH]
        self.specs = {m: stored.get(m) or default_spec(m) for m in self.query_modalities}
        counts = Counter(self.index.modalities)
        self.index_counts = {m: counts[m] for m in sorted(counts)}  # items per modality
        self.index_modalities = list(self.index_counts)
        self.rerank_candidates = rerank_candidates
        self.reranker = None
        if reranker is not None:
            from unibind.encoders import HFTextEncoder
            from unibind.rerank import E2RankReranker
            from unibind.rerank.training import read_training_record

            encoder = HFTextEncoder(reranker, pooling="mean", max_length=512).lock().eval()
            record = read_training_record(reranker) or {}
            self.reranker = E2RankReranker(
                encoder,
                num_input_docs=num_input_docs or record.get("num_input_docs", 5),
                rerank_depth=rerank_candidates,
                interpolation=record.get("interpolation") or 0.0,
            )
        self._document_vectors: dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()  # one model call at a time: requests arrive on a thread pool
        self._batcher = None if self.reranker is None else BatchingReranker(self.reranker, self._lock)

    def card(self, item_id: str) -> ItemCard:
        """The card of ``item_id`` (a bare one when the index has no ``items.jsonl``); KeyError if unknown."""
        if item_id not in self.index:
            raise KeyError(item_id)
        return self.cards.get(item_id) or ItemCard(item_id, self.index.modality_of(item_id))

    @torch.no_grad()
    def embed(self, modality: str, raw: Any) -> torch.Tensor:
        """``[D]`` embedding of one query input (a text, or a file path for the other modalities)."""
        spec = self.specs[modality]
        sample, _ = load_input(spec, raw, item="query")
        with self._lock:
            return truncate(self.model.embed_batch(modality, spec.collate([sample])), self.query_dim)[0]

    def item_vector(self, item_id: str) -> torch.Tensor:
        """The stored vector of an indexed item; KeyError if unknown."""
        return self.index.vector(item_id)

    def search(
        self, vector: torch.Tensor, top_k: int, modalities: Sequence[str] | None = None, exclude: str | None = None
    ) -> list[Hit]:
        """The ``top_k`` items nearest to ``vector`` (only of ``modalities`` when given), ``exclude`` left out."""
        wanted = top_k + (exclude is not None)
        result = self.index.search(vector, min(wanted, len(self.index)), modalities)
        hits = [
            Hit(self.card(item_id), float(score))
            for item_id, score in zip(result.ids[0], result.scores[0].tolist(), strict=True)
            if item_id is not None and item_id != exclude
        ]
        return hits[:top_k]

    @torch.no_grad()
    def rerank(self, query: str, hits: Sequence[Hit], top_k: int) -> list[Hit]:
        """E2Rank over the texts of ``hits`` (first-stage order); the ``top_k`` best, with both scores.

        Concurrent requests' prompts are embedded together (:class:`~unibind.serve.rerank_batching.BatchingReranker`).
        """
        if self._batcher is None:
            raise RuntimeError("this engine has no reranker")
        candidates = [hit for hit in hits if hit.card.text]
        with self._lock:
            missing = [hit.card for hit in candidates if hit.card.id not in self._document_vectors]
            if missing:
                vectors = self._batcher.reranker.encoder([card.text for card in missing])
                self._document_vectors.update(zip([card.id for card in missing], vectors, strict=True))
            ids = [hit.card.id for hit in candidates]
            texts = [hit.card.text for hit in candidates]
            vectors = torch.stack([self._document_vectors[i] for i in ids])
        ranked = self._batcher.rerank(query, ids, texts, vectors)
        first = {hit.card.id: hit for hit in candidates}
        return [Hit(first[i].card, score, first[i].score) for i, score in ranked[:top_k]]

    def media(self, item_id: str) -> tuple[Path, str]:
        """``(path, media type)`` of an item's media file, which must lie inside the index's ``media/`` folder.

        Raises KeyError for an unknown item or one without media, PermissionError for a card whose media
        name leads outside the folder, FileNotFoundError for a missing file.
        """
        card = self.card(item_id)
        if not card.media:
            raise KeyError(item_id)
        root = (self.index_dir / MEDIA_DIR).resolve()
        path = (root / card.media).resolve()
        if not path.is_relative_to(root) or path.suffix.lower() not in MEDIA_TYPES:
            raise PermissionError(f"the media of {item_id!r} lies outside the index's media folder")
        if not path.is_file():
            raise FileNotFoundError(f"the media file of {item_id!r} is missing")
        return path, MEDIA_TYPES[path.suffix.lower()]
