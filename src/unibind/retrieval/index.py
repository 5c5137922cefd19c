"""A vector index over items of any modality: exact search or FAISS, saved safely.

Items have an id, a modality and a unit-norm vector; scores are inner products (cosine). ``exact`` search
scores chunk by chunk (memory ``O(queries * chunk)``), vectors stored as float32 or float16. Its
``scoring`` picks how: candidates from int8 products (:mod:`unibind.retrieval.int8`, one packed int8 copy
per modality) or bfloat16 products (:func:`~unibind.retrieval.topk.top_k_rescored`), re-scored exactly in
float32; or float32 products throughout. ``faiss-flat`` / ``faiss-ivf`` / ``faiss-hnsw`` build the matching
FAISS inner-product index. A search may be restricted to some modalities (cross-modal search: a text query
against images).

On disk: ``vectors.safetensors`` and ``index.json`` (ids, modalities, dtype, backend, options), saved as a
whole by :func:`unibind.atomic.write_directory`: a crash or kill while saving leaves :meth:`VectorIndex.load`
exactly the previous index or exactly the new one, never the vectors of one with the ids of the other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors.torch import save_file

from unibind.atomic import read_directory, write_directory
from unibind.retrieval.int8 import Int8Rows, int8_available
from unibind.retrieval.topk import OVERFETCH, rescore, top_k_chunked, top_k_half, top_k_rescored
from unibind.weights import load_safetensors

Backend = Literal["exact", "faiss-flat", "faiss-ivf", "faiss-hnsw"]
Scoring = Literal["auto", "int8", "bfloat16", "float32"]
FORMAT_VERSION = 1
VECTORS_NAME = "vectors.safetensors"
META_NAME = "index.json"
INDEX_FILES = (VECTORS_NAME, META_NAME)


@dataclass
class SearchResult:
    """``scores: [Q, k]`` (descending) and ``ids[q][j]`` of the hits; fewer than ``k`` hits pad with ``-inf`` / None."""

    scores: torch.Tensor
    indices: torch.Tensor
    ids: list[list[str | None]]


class VectorIndex:
    """Ids, modalities and vectors ``[N, D]``; exact or FAISS search.

    Args:
        dim: vector size.
        dtype: storage of the vectors (``float32`` or ``float16``; exact search only for float16).
        backend: ``exact``, ``faiss-flat``, ``faiss-ivf`` (``nlist`` cells, ``nprobe`` searched) or ``faiss-hnsw``
            (``hnsw_m`` links, ``ef_search``).
        scoring: how exact search (and any search restricted to some modalities) scores. ``int8``: 32
            candidates per query for top-10 from int8 products against a packed int8 copy built at the first
            search (about 1 byte per value more; needs int8 dot-product instructions, see
            :func:`~unibind.retrieval.int8.int8_available`), re-scored in float32. ``bfloat16``: candidates
            from bfloat16 products (float32 storage keeps a bfloat16 copy, 2 bytes per value; float16
            storage converts chunk by chunk), re-scored in float32. ``float32``: float32 products of every
            item, no copy. ``auto``: ``int8`` where the CPU allows it, else ``bfloat16``. Returned scores are
            the stored vectors' exact inner products in every mode; the candidate modes miss a true top-k
            item only when rounding pushes it below ``k + 22`` others.
    """

    def __init__(
        self,
        dim: int,
        dtype: Literal["float32", "float16"] = "float32",
        backend: Backend = "exact",
        nlist: int = 1024,
        nprobe: int = 16,
        hnsw_m: int = 32,
        ef_search: int = 128,
        scoring: Scoring = "auto",
    ) -> None:
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
        if backend not in ("exact", "faiss-flat", "faiss-ivf", "faiss-hnsw"):
            raise ValueError(f"unknown backend {backend!r}")
        if backend != "exact" and dtype != "float32":
            raise ValueError("FAISS backends store float32 vectors; use dtype='float32'")
        if scoring not in ("auto", "int8", "bfloat16", "float32"):
            raise ValueError(f"scoring must be auto, int8, bfloat16 or float32, got {scoring!r}")
        if scoring == "int8" and not int8_available():
            raise ValueError("scoring='int8' needs int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX) "
                             "and torch with oneDNN; this machine has not: use scoring='auto'")  # fmt: skip
        self.dim, self.dtype, self.backend = dim, dtype, backend
        self.options = {"nlist": nlist, "nprobe": nprobe, "hnsw_m": hnsw_m, "ef_search": ef_search}
        self.options["scoring"] = scoring
        self._bf16_copy: torch.Tensor | None = None
        self._int8: dict[str, Int8Rows] | None = None
        self._modality_rows: dict[str, torch.Tensor] | None = None
        self.ids: list[str] = []
        self.modalities: list[str] = []
        self.vectors = torch.empty(0, dim, dtype=getattr(torch, dtype))
        self._faiss = None
        self._position: dict[str, int] = {}

    @property
    def scoring(self) -> Literal["int8", "bfloat16", "float32"]:
        """The scoring exact search uses here (``auto`` resolved for this CPU)."""
        chosen = self.options["scoring"]
        if chosen == "auto":
            return "int8" if int8_available() else "bfloat16"
        return chosen

    @property
    def nbytes(self) -> int:
        """Bytes of the stored vectors plus the scoring's copies built so far (int8 packs, bfloat16 copy)."""
        copies = sum(rows.nbytes for rows in (self._int8 or {}).values())
        if self._bf16_copy is not None:
            copies += self._bf16_copy.numel() * self._bf16_copy.element_size()
        return self.vectors.numel() * self.vectors.element_size() + copies

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._position

    def modality_of(self, item_id: str) -> str:
        """The modality of an indexed item (KeyError if it is not in the index)."""
        return self.modalities[self._position[item_id]]

    def add(self, ids: Sequence[str], vectors: torch.Tensor, modality: str | Sequence[str]) -> None:
        """Append items; ``vectors: [n, dim]`` are stored unit-normalised. Ids must be new."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors [n, {self.dim}], got {tuple(vectors.shape)}")
        if len(ids) != vectors.shape[0]:
            raise ValueError(f"{len(ids)} ids for {vectors.shape[0]} vectors")
        modalities = [modality] * len(ids) if isinstance(modality, str) else list(modality)
        duplicate = next((i for i in ids if i in self._position), None)
        if duplicate is not None or len(set(ids)) != len(ids):
            raise ValueError(f"id {duplicate or 'repeated in this call'!r} is already in the index")
        if not torch.isfinite(vectors).all():
            raise ValueError("vectors contain NaN or inf")
        unit = torch.nn.functional.normalize(vectors.float(), dim=-1).to(self.vectors.dtype)
        for offset, item_id in enumerate(ids):
            self._position[item_id] = len(self.ids) + offset
        self.ids += list(ids)
        self.modalities += modalities
        self.vectors = torch.cat([self.vectors, unit])
        self._faiss = None
        self._bf16_copy = None
        self._int8 = None
        self._modality_rows = None

    def _faiss_index(self):
        if self._faiss is None:
            import faiss

            data = self.vectors.float().numpy()
            if self.backend == "faiss-flat":
                index = faiss.IndexFlatIP(self.dim)
            elif self.backend == "faiss-hnsw":
                index = faiss.IndexHNSWFlat(self.dim, self.options["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efSearch = self.options["ef_search"]
            else:
                quantizer = faiss.IndexFlatIP(self.dim)
                nlist = max(1, min(self.options["nlist"], len(self) // 39))
                index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
                index.train(data)
                index.nprobe = min(self.options["nprobe"], nlist)
            index.add(data)
            self._faiss = (index, quantizer if self.backend == "faiss-ivf" else None)
        return self._faiss[0]

    def search(self, queries: torch.Tensor, k: int = 10, modalities: Sequence[str] | None = None) -> SearchResult:
        """Top-``k`` items per query ``[Q, dim]`` (unit-normalised here), optionally only of ``modalities``."""
        if queries.ndim == 1:
            queries = queries.unsqueeze(0)
        if queries.shape[1] != self.dim:
            raise ValueError(f"queries have {queries.shape[1]} dimensions, the index {self.dim}")
        if len(self) == 0:
            raise ValueError("the index is empty")
        queries = torch.nn.functional.normalize(queries.float(), dim=-1)
        if self.backend == "exact" or modalities is not None:
            scores, indices = self._exact_search(queries, k, modalities)
        else:
            scores_np, indices_np = self._faiss_index().search(queries.numpy().astype(np.float32), k)
            scores, indices = torch.from_numpy(scores_np), torch.from_numpy(indices_np).long()
        if scores.shape[1] < k:  # fewer items than k
            pad = k - scores.shape[1]
            scores = torch.cat([scores, torch.full((len(scores), pad), float("-inf"))], dim=1)
            indices = torch.cat([indices, torch.full((len(indices), pad), -1)], dim=1)
        ids = [[self.ids[i] if i >= 0 else None for i in row] for row in indices.tolist()]
        return SearchResult(scores, indices, ids)

    def _exact_search(
        self, queries: torch.Tensor, k: int, modalities: Sequence[str] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` rows among the items of ``modalities`` (None: all) by :attr:`scoring`: ``(scores, rows)``,
        ``[Q, <= k]``."""
        by_modality = self._rows_by_modality()
        wanted = by_modality if modalities is None else dict.fromkeys(modalities)
        present = [m for m in wanted if m in by_modality]
        if not present:
            return torch.empty(len(queries), 0), torch.empty(len(queries), 0, dtype=torch.long)
        if self.scoring == "int8":
            int8 = self._int8_rows()
            candidates = [by_modality[m][int8[m].candidates(queries, k + OVERFETCH)] for m in present]
            return rescore(queries, self.vectors, torch.cat(candidates, dim=1), k)
        subset = None if len(present) == len(by_modality) else self._rows_of(present)
        items = self.vectors if subset is None else self.vectors[subset]
        if self.scoring == "float32":
            scores, indices = top_k_chunked(queries, items, k)
        elif self.dtype == "float16":
            scores, indices = top_k_half(queries, items, k)
        else:
            if self._bf16_copy is None:
                self._bf16_copy = self.vectors.bfloat16()
            copy = self._bf16_copy if subset is None else self._bf16_copy[subset]
            scores, indices = top_k_rescored(queries, items, copy, k)
        return scores, indices if subset is None else subset[indices]

    def _int8_rows(self) -> dict[str, Int8Rows]:
        """One :class:`Int8Rows` per modality (over that modality's rows), built at the first int8 search."""
        if self._int8 is None:
            by_modality = self._rows_by_modality()
            if len(by_modality) == 1:  # every row: no gather
                self._int8 = {m: Int8Rows(self.vectors) for m in by_modality}
            else:
                self._int8 = {m: Int8Rows(self.vectors, rows) for m, rows in by_modality.items()}
        return self._int8

    def _rows_by_modality(self) -> dict[str, torch.Tensor]:
        """Sorted rows of each modality's items, computed once per content."""
        if self._modality_rows is None:
            codes = {m: i for i, m in enumerate(dict.fromkeys(self.modalities))}
            per_item = torch.tensor([codes[m] for m in self.modalities], dtype=torch.long)
            self._modality_rows = {m: torch.nonzero(per_item == c).flatten() for m, c in codes.items()}
        return self._modality_rows

    def _rows_of(self, modalities: Sequence[str]) -> torch.Tensor:
        """Sorted rows of the items of ``modalities``."""
        rows = self._rows_by_modality()
        parts = [rows[m] for m in dict.fromkeys(modalities) if m in rows]
        return torch.sort(torch.cat(parts)).values if parts else torch.empty(0, dtype=torch.long)

    def vector(self, item_id: str) -> torch.Tensor:
        return self.vectors[self._position[item_id]].float()

    # -- persistence ------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``vectors.safetensors`` and ``index.json`` into ``directory``, atomically as a whole.

        Other files in ``directory`` (an index's cards and media) are left alone.
        """
        return write_directory(directory, self.write_files, owned=INDEX_FILES)

    def write_files(self, folder: Path) -> None:
        """Write ``vectors.safetensors`` and ``index.json`` into ``folder`` as they are (not atomic: for a save
        that writes more files with them through :func:`unibind.atomic.write_directory`)."""
        meta = {
            "format_version": FORMAT_VERSION,
            "dim": self.dim,
            "dtype": self.dtype,
            "backend": self.backend,
            "options": self.options,
            "ids": self.ids,
            "modalities": self.modalities,
        }
        vectors = self.vectors.contiguous()
        save_file({"vectors": vectors}, str(folder / VECTORS_NAME), metadata={"count": str(len(self))})
        (folder / META_NAME).write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: str | Path) -> VectorIndex:
        """Read an index written by :meth:`save` (the last complete save); a mismatch between its files raises."""
        return read_directory(directory, cls._read)

    @classmethod
    def _read(cls, directory: Path) -> VectorIndex:
        meta_path = directory / META_NAME
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path} not found: not a unibind index")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format_version {meta.get('format_version')} is not {FORMAT_VERSION}")
        options = dict(meta["options"])
        if "bf16_shadow" in options:  # written before ``scoring`` existed
            options.setdefault("scoring", "auto" if options.pop("bf16_shadow") else "float32")
        index = cls(meta["dim"], meta["dtype"], meta["backend"], **options)
        vectors_path = directory / VECTORS_NAME
        tensors = load_safetensors(vectors_path, keys={"vectors"})
        if "vectors" not in tensors:
            raise ValueError(f"{vectors_path} has no 'vectors' tensor: not a unibind index")
        vectors = tensors["vectors"]
        if vectors.shape != (len(meta["ids"]), meta["dim"]):
            raise ValueError(f"{directory}: {vectors.shape[0]} vectors for {len(meta['ids'])} ids")
        index.ids, index.modalities, index.vectors = list(meta["ids"]), list(meta["modalities"]), vectors
        index._position = {item_id: i for i, item_id in enumerate(index.ids)}
        return index
