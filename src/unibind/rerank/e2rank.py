"""E2Rank: one text embedding model that also reranks (Liu et al. 2025, https://arxiv.org/abs/2510.22733).

The query and its top ``num_input_docs`` first-stage documents are written into one listwise prompt,
``{instruction}\\nDocuments:\\n[1] {doc1}\\n[2] {doc2}\\n...Search Query:{query}`` (chat template applied when
the tokenizer has one), embedded once as an enhanced query (like pseudo-relevance feedback), and the top
``rerank_depth`` candidates are re-scored by cosine against their embeddings from the retrieval stage, so a
rerank costs one forward pass instead of one per (query, document) pair.

Token budget: encoders have a limit (MiniLM: 512). The instruction, the query and the separators are
kept whole; what remains is shared among the included documents by water-filling: every document gets
an equal share, documents shorter than their share keep their length and give the rest back, and
longer ones are cut to the final share (at least ``min_doc_tokens``; documents that would get less are
left out, lowest-ranked first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: The plain query's weight ``a`` tried when it is chosen on validation queries.
INTERPOLATION_GRID = tuple(round(0.1 * i, 1) for i in range(11))

DEFAULT_INSTRUCTION = "Given a query and its top documents, represent the query enriched by the relevant documents"


@dataclass
class Prompt:
    """The prompt text and, per included document, its token count before and after the budget."""

    text: str
    included: int
    doc_tokens: list[int]
    kept_tokens: list[int]


def share_budget(lengths: Sequence[int], budget: int) -> list[int]:
    """Water-filling: tokens kept per document so that ``sum <= budget`` and long documents share equally."""
    kept = [0] * len(lengths)
    remaining, open_docs = budget, sorted(range(len(lengths)), key=lambda i: lengths[i])
    while open_docs:
        share = remaining // len(open_docs)
        shortest = open_docs[0]
        if lengths[shortest] <= share:  # fits whole: give back the rest
            kept[shortest] = lengths[shortest]
            remaining -= lengths[shortest]
            open_docs.pop(0)
            continue
        for i in open_docs:
            kept[i] = share
        break
    return kept


def build_prompt(
    query: str,
    documents: Sequence[str],
    tokenizer,
    max_tokens: int = 512,
    instruction: str = DEFAULT_INSTRUCTION,
    min_doc_tokens: int = 16,
) -> Prompt:
    """The listwise prompt of ``query`` and ``documents`` (in first-stage order) within ``max_tokens``.

    Special tokens the tokenizer adds (CLS/SEP) are counted. Raises when the query alone does not fit.
    """

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    special = len(tokenizer("", add_special_tokens=True)["input_ids"])
    frame = f"{instruction}\nDocuments:\n" + "Search Query:" + query
    used = special + count(frame)
    if used > max_tokens:
        raise ValueError(f"the instruction and query alone take {used} tokens, more than max_tokens={max_tokens}")
    # one tokenizer call for all documents and one for all markers (the fast tokenizers batch in Rust)
    ids = tokenizer(list(documents), add_special_tokens=False)["input_ids"] if documents else []
    marker_ids = tokenizer([f"[{i + 1}] \n" for i in range(len(documents))], add_special_tokens=False)["input_ids"]
    markers = [len(x) for x in marker_ids] if documents else []
    included, kept = len(documents), []
    while included:
        budget = max_tokens - used - sum(markers[:included])
        lengths = [len(x) for x in ids[:included]]
        kept = share_budget(lengths, max(budget, 0))
        if all(k >= min(n, min_doc_tokens) for k, n in zip(kept, lengths, strict=True)):
            break
        included -= 1  # too many documents for the budget: drop the lowest-ranked
    parts = [
        f"[{i + 1}] " + tokenizer.decode(ids[i][: kept[i]], skip_special_tokens=True).strip() + "\n"
        for i in range(included)
    ]
    text = f"{instruction}\nDocuments:\n" + "".join(parts) + "Search Query:" + query
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False)
    return Prompt(text, included, [len(x) for x in ids[:included]], kept[:included])


class E2RankReranker:
    """Rerank first-stage candidates with a listwise prompt embedded by ``encoder``.

    A candidate's score is ``cos(prompt, doc)``, or with ``interpolation = a > 0`` the pseudo-relevance
    feedback interpolation ``a * cos(query, doc) + (1 - a) * cos(prompt, doc)`` (``a = 0``: pure E2Rank).

    Args:
        encoder: a text encoder whose tokenizer is at ``encoder.tokenizer`` (e.g. ``HFTextEncoder``); its
            ``max_length`` bounds the prompt.
        num_input_docs: documents written into the prompt (E2Rank: 20).
        rerank_depth: candidates re-scored (E2Rank: 100); the rest keep their first-stage order after them.
        interpolation: the weight ``a`` of the plain query in the score, in [0, 1].
        batch_size: prompts embedded per forward pass by :meth:`rerank_many`.
        cache_prompts: keep each prompt's embedding (by its text) for later calls, e.g. to try several
            ``interpolation`` values on the same queries; only for a frozen encoder.
    """

    def __init__(
        self,
        encoder,
        num_input_docs: int = 20,
        rerank_depth: int = 100,
        instruction: str = DEFAULT_INSTRUCTION,
        min_doc_tokens: int = 16,
        interpolation: float = 0.0,
        batch_size: int = 16,
        cache_prompts: bool = False,
    ) -> None:
        if not 0.0 <= interpolation <= 1.0:
            raise ValueError(f"interpolation must lie in [0, 1], got {interpolation}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.encoder, self.num_input_docs, self.rerank_depth = encoder, num_input_docs, rerank_depth
        self.instruction, self.min_doc_tokens = instruction, min_doc_tokens
        self.interpolation, self.batch_size = interpolation, batch_size
        self._cache: dict[str, torch.Tensor] | None = {} if cache_prompts else None

    def prompt(self, query: str, documents: Sequence[str]) -> Prompt:
        return build_prompt(
            query,
            documents[: self.num_input_docs],
            self.encoder.tokenizer,
            self.encoder.max_length,
            self.instruction,
            self.min_doc_tokens,
        )

    @torch.no_grad()
    def embed_prompts(self, prompts: Sequence[Prompt]) -> torch.Tensor:
        """Unit vectors ``[P, D]`` of the prompts, ``batch_size`` per forward pass (cached ones reused)."""
        texts = [p.text for p in prompts]
        if self._cache is None:
            return self._embed(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._cache.update(zip(missing, self._embed(missing), strict=True))
        return torch.stack([self._cache[t] for t in texts])

    @torch.no_grad()
    def _embed(self, texts: Sequence[str]) -> torch.Tensor:
        chunks = [self.encoder(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        return torch.nn.functional.normalize(torch.cat(chunks).float(), dim=-1)

    @torch.no_grad()
    def rerank(
        self,
        query: str,
        candidates: Sequence[str],
        texts: Sequence[str],
        embeddings: torch.Tensor,
        query_vector: torch.Tensor | None = None,
    ) -> list[tuple[str, float]]:
        """``candidates`` (ids, first-stage order) with their ``texts`` and cached ``embeddings [n, D]`` ->
        ``(id, score)`` best first; beyond ``rerank_depth`` the first-stage order is kept (scores below).
        ``query_vector [D]`` (the first stage's query embedding) is used when ``interpolation > 0``; without
        it the encoder embeds the query."""
        vectors = None if query_vector is None else query_vector[None]
        return self.rerank_many([query], [candidates], [texts], [embeddings], vectors)[0]

    @torch.no_grad()
    def rerank_many(
        self,
        queries: Sequence[str],
        candidates: Sequence[Sequence[str]],
        texts: Sequence[Sequence[str]],
        embeddings: Sequence[torch.Tensor],
        query_vectors: torch.Tensor | None = None,
    ) -> list[list[tuple[str, float]]]:
        """:meth:`rerank` for many queries, their prompts embedded ``batch_size`` per forward pass.

        ``candidates[i]``, ``texts[i]`` and ``embeddings[i] [n_i, D]`` belong to ``queries[i]``;
        ``query_vectors [Q, D]`` as in :meth:`rerank`. Returns one ranked list per query.
        """
        enhanced = self.embed_prompts([self.prompt(q, t) for q, t in zip(queries, texts, strict=True)])
        plain = None
        if self.interpolation > 0:  # _embed gives unit vectors already
            plain = (
                self._embed(list(queries))
                if query_vectors is None
                else torch.nn.functional.normalize(query_vectors.float(), dim=-1)
            )
        return [
            self._ranked(candidates[i], embeddings[i], enhanced[i], None if plain is None else plain[i])
            for i in range(len(queries))
        ]

    def _ranked(
        self, candidates: Sequence[str], embeddings: torch.Tensor, enhanced: torch.Tensor, plain: torch.Tensor | None
    ) -> list[tuple[str, float]]:
        depth = min(self.rerank_depth, len(candidates))
        documents = torch.nn.functional.normalize(embeddings[:depth].float(), dim=-1)
        scores = documents @ enhanced
        if plain is not None:
            scores = self.interpolation * (documents @ plain) + (1 - self.interpolation) * scores
        order = torch.argsort(scores, descending=True, stable=True).tolist()
        reranked = [(candidates[i], float(scores[i])) for i in order]
        floor = float(scores.min()) if depth else 0.0
        return reranked + [(c, floor - 1 - j) for j, c in enumerate(candidates[depth:])]
