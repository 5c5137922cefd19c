"""Reranking with embeddings: E2Rank's listwise prompt as an enhanced query."""

from unibind.rerank.e2rank import DEFAULT_INSTRUCTION, E2RankReranker, Prompt, build_prompt, share_budget

__all__ = ["DEFAULT_INSTRUCTION", "E2RankReranker", "Prompt", "build_prompt", "share_budget"]
