"""Vector indexes (exact, FAISS, Milvus backends), cross-modal search and score fusion.

Names are imported on first use, so that light callers (the CLI's argument parser reading the backend
registry) do not load torch.
"""

from __future__ import annotations

from unibind.lazy import lazy_attributes

_EXPORTS = {
    "SearchResult": "unibind.retrieval.index",
    "VectorIndex": "unibind.retrieval.index",
    "fuse_rankings": "unibind.retrieval.rank_fusion",
    "rrf_fusion": "unibind.retrieval.rank_fusion",
    "zscore_fusion": "unibind.retrieval.rank_fusion",
    "top_k_chunked": "unibind.retrieval.topk",
    "top_k_rescored": "unibind.retrieval.topk",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS)
