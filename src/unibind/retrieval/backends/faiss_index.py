"""FAISS inner-product indexes (flat, IVF, HNSW), one per modality, saved with ``faiss.write_index``.

One FAISS index per modality makes a search limited to some modalities exactly as good as an unlimited one
(a search of those modalities' indexes, merged), where an id-selector filter on one shared HNSW graph loses
recall as the filter gets narrower. Each index is built at the first search or save of its modality (an IVF
index is trained then, on that modality's vectors); later additions are added to it without retraining, and
a loaded index is used as saved: ``faiss/<n>.index`` files and ``faiss/modalities.json`` naming each one's
modality and row count. The vectors are also kept in ``vectors.safetensors`` (for :meth:`vectors`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from unibind.retrieval.backends.base import merge_hits, pad_hits
from unibind.retrieval.backends.exact import VECTORS_NAME, InMemoryVectors

FAISS_DIR = "faiss"
LISTING_NAME = "modalities.json"


class FaissBackend(InMemoryVectors, ABC):
    """Vectors in this process and one FAISS index per modality, made by :meth:`new_index`."""

    files: ClassVar[tuple[str, ...]] = (VECTORS_NAME, FAISS_DIR)

    def __init__(self, dim: int, dtype: str = "float32", **options: Any) -> None:
        if dtype != "float32":
            raise ValueError(f"FAISS backends store float32 vectors; use dtype='float32', not {dtype!r}")
        super().__init__(dim, "float32")
        self.options.update(options)
        self.indexes: dict[str, Any] = {}  # modality -> FAISS index over that modality's rows, in row order

    @abstractmethod
    def new_index(self, data: np.ndarray):
        """A FAISS index for one modality's ``data [n, D]`` (trained if it needs it, not yet filled)."""

    def tune(self, index) -> None:
        """Set the search-time parameters on a built or loaded index."""

    def search(
        self, queries: torch.Tensor, k: int, modalities: Sequence[str] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        present = self.rows.present(modalities)
        if not present:
            return torch.empty(len(queries), 0), torch.empty(len(queries), 0, dtype=torch.long)
        query_array = np.ascontiguousarray(queries.numpy(), dtype=np.float32)
        parts = []
        for modality in present:
            scores, local = self._index_of(modality).search(query_array, k)
            found = torch.from_numpy(local).long()
            rows = self.rows.by_modality()[modality][found.clamp(min=0)]
            parts.append(pad_hits(*_mask(torch.from_numpy(scores), rows, found >= 0), k))
        return merge_hits(parts, k) if len(parts) > 1 else parts[0]

    def _index_of(self, modality: str):
        """The modality's FAISS index, built or brought up to date with rows added since."""
        rows = self.rows.by_modality()[modality]
        index = self.indexes.get(modality)
        if index is None:
            index = self.new_index(self.stored[rows].numpy())
            self.tune(index)
            self.indexes[modality] = index
        if index.ntotal < len(rows):
            index.add(np.ascontiguousarray(self.stored[rows[index.ntotal :]].numpy()))
        return index

    def links_bytes(self, index) -> int:
        """Bytes of an index's search structure beyond its float32 copy of the vectors."""
        return 0

    @property
    def nbytes(self) -> int:
        """The vectors plus the FAISS indexes built so far (FAISS keeps its own copy of the vectors)."""
        built = sum(index.ntotal * index.d * 4 + self.links_bytes(index) for index in self.indexes.values())
        return super().nbytes + built

    def write_files(self, folder: Path) -> None:
        import faiss

        super().write_files(folder)
        (folder / FAISS_DIR).mkdir()
        listing = []
        for number, modality in enumerate(self.rows.by_modality()):
            index = self._index_of(modality)
            faiss.write_index(index, str(folder / FAISS_DIR / f"{number}.index"))
            listing.append({"modality": modality, "file": f"{number}.index", "rows": int(index.ntotal)})
        (folder / FAISS_DIR / LISTING_NAME).write_text(json.dumps(listing))

    @classmethod
    def read(cls, folder: Path, dim: int, options: dict[str, Any], modalities: Sequence[str]):
        import faiss

        backend = super().read(folder, dim, options, modalities)
        listing_path = folder / FAISS_DIR / LISTING_NAME
        if not listing_path.is_file():  # saved before FAISS indexes were written: built at the first search
            return backend
        counts = {m: len(rows) for m, rows in backend.rows.by_modality().items()}
        for entry in json.loads(listing_path.read_text()):
            path = folder / FAISS_DIR / entry["file"]
            index = faiss.read_index(str(path))
            if index.d != dim or index.ntotal != entry["rows"] or counts.get(entry["modality"]) != index.ntotal:
                held = f"{counts.get(entry['modality'], 0)} {entry['modality']!r} items of {dim}"
                raise ValueError(f"{path}: {index.ntotal} vectors of {index.d} dimensions, the index holds {held}")
            backend.tune(index)
            backend.indexes[entry["modality"]] = index
        return backend


def _mask(scores: torch.Tensor, rows: torch.Tensor, found: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hits FAISS did not fill (its label -1) as score ``-inf``, row ``-1``."""
    return scores.masked_fill(~found, float("-inf")), rows.masked_fill(~found, -1)


class FaissFlat(FaissBackend):
    """``IndexFlatIP``: exact, FAISS's BLAS scoring."""

    name: ClassVar[str] = "faiss-flat"

    def __init__(self, dim: int, dtype: str = "float32") -> None:
        super().__init__(dim, dtype)

    def new_index(self, data: np.ndarray):
        import faiss

        return faiss.IndexFlatIP(self.dim)


class FaissIVF(FaissBackend):
    """``IndexIVFFlat``: ``nlist`` k-means cells (at most one per 39 vectors), ``nprobe`` of them searched."""

    name: ClassVar[str] = "faiss-ivf"

    def __init__(self, dim: int, dtype: str = "float32", nlist: int = 1024, nprobe: int = 16) -> None:
        super().__init__(dim, dtype, nlist=nlist, nprobe=nprobe)

    def new_index(self, data: np.ndarray):
        import faiss

        nlist = max(1, min(self.options["nlist"], len(data) // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(data))
        return index

    def tune(self, index) -> None:
        index.nprobe = min(self.options["nprobe"], index.nlist)

    def links_bytes(self, index) -> int:
        """The centroids and each vector's 8-byte id in its list."""
        return index.nlist * index.d * 4 + index.ntotal * 8


class FaissHNSW(FaissBackend):
    """``IndexHNSWFlat``: ``hnsw_m`` links per node, ``ef_search`` candidates kept while searching."""

    name: ClassVar[str] = "faiss-hnsw"

    def __init__(self, dim: int, dtype: str = "float32", hnsw_m: int = 32, ef_search: int = 128) -> None:
        super().__init__(dim, dtype, hnsw_m=hnsw_m, ef_search=ef_search)

    def new_index(self, data: np.ndarray):
        import faiss

        return faiss.IndexHNSWFlat(self.dim, self.options["hnsw_m"], faiss.METRIC_INNER_PRODUCT)

    def tune(self, index) -> None:
        index.hnsw.efSearch = self.options["ef_search"]

    def links_bytes(self, index) -> int:
        """The graph: 4-byte neighbour ids, per-node levels and 8-byte offsets."""
        graph = index.hnsw
        return graph.neighbors.size() * 4 + graph.levels.size() * 4 + graph.offsets.size() * 8
