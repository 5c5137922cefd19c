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

    Args:
        encoder: a text encoder whose tokenizer is at ``encoder.tokenizer`` (e.g. ``HFTextEncoder``); its
            ``max_length`` bounds the prompt.
        num_input_docs: documents written into the prompt (E2Rank: 20).
        rerank_depth: candidates re-scored (E2Rank: 100); the rest keep their first-stage order after them.
    """

    def __init__(
        self,
        encoder,
        num_input_docs: int = 20,
        rerank_depth: int = 100,
        instruction: str = DEFAULT_INSTRUCTION,
        min_doc_tokens: int = 16,
    ) -> None:
        self.encoder, self.num_input_docs, self.rerank_depth = encoder, num_input_docs, rerank_depth
        self.instruction, self.min_doc_tokens = instruction, min_doc_tokens

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
        return torch.nn.functional.normalize(self.encoder([p.text for p in prompts]), dim=-1)

    @torch.no_grad()
    def rerank(
        self, query: str, candidates: Sequence[str], texts: Sequence[str], embeddings: torch.Tensor
    ) -> list[tuple[str, float]]:
        """``candidates`` (ids, first-stage order) with their ``texts`` and cached ``embeddings [n, D]`` ->
        ``(id, score)`` best first; beyond ``rerank_depth`` the first-stage order is kept (scores below)."""
        enhanced = self.embed_prompts([self.prompt(query, texts)])[0]
        depth = min(self.rerank_depth, len(candidates))
        scores = torch.nn.functional.normalize(embeddings[:depth].float(), dim=-1) @ enhanced
        order = torch.argsort(scores, descending=True, stable=True).tolist()
        reranked = [(candidates[i], float(scores[i])) for i in order]
        floor = float(scores.min()) if depth else 0.0
        return reranked + [(c, floor - 1 - j) for j, c in enumerate(candidates[depth:])]
