"""Vector indexes (exact and FAISS), cross-modal search and score fusion."""

from unibind.retrieval.fusion import fuse, rrf_fusion, zscore_fusion
from unibind.retrieval.index import SearchResult, VectorIndex
from unibind.retrieval.topk import top_k_chunked, top_k_rescored

__all__ = ["SearchResult", "VectorIndex", "fuse", "rrf_fusion", "top_k_chunked", "top_k_rescored", "zscore_fusion"]
