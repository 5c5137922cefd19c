"""A vector index over items of any modality: exact search (chunked matmul + top-k) or FAISS, saved safely.

Items have an id, a modality and a unit-norm vector; scores are inner products (cosine). ``exact``
scores the queries against ``chunk_size`` items at a time and merges running top-k lists, so memory stays
``O(queries * chunk_size)``; vectors can be stored as float32 or float16 (half the memory: candidates come
from 16-bit scores and are re-scored exactly in float32, see :func:`top_k_half`). ``faiss-flat`` /
``faiss-ivf`` / ``faiss-hnsw`` build the matching FAISS inner-product index. A search may be restricted to
some modalities (cross-modal search: a text query against images).

On disk: ``vectors.safetensors`` and ``index.json`` (ids, modalities, dtype, backend), written to temporary
names first and renamed into place, so a crash while saving leaves the previous index readable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file

Backend = Literal["exact", "faiss-flat", "faiss-ivf", "faiss-hnsw"]
FORMAT_VERSION = 1


@dataclass
class SearchResult:
    """``scores: [Q, k]`` (descending) and ``ids[q][j]`` of the hits; fewer than ``k`` hits pad with ``-inf`` / None."""

    scores: torch.Tensor
    indices: torch.Tensor
    ids: list[list[str | None]]


def top_k_chunked(
    queries: torch.Tensor, items: torch.Tensor, k: int, chunk_size: int = 8192
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` inner products of ``queries: [Q, D]`` against ``items: [N, D]``.

    Returns ``(scores [Q, k], indices [Q, k])``, best first. float32 items: scores ``chunk_size`` items at a
    time and merges running top-k lists (small chunks keep the score block in cache). 16-bit items: see
    :func:`top_k_half`.
    """
    if items.dtype in (torch.float16, torch.bfloat16):
        return top_k_half(queries, items, k, chunk_size)
    q = queries.float()
    if q.shape[0] == 1:  # one query: a matrix-vector product over everything at once
        scores, indices = torch.mv(items, q[0]).topk(min(k, items.shape[0]))
        return scores.unsqueeze(0), indices.unsqueeze(0)
    best_scores = torch.full((q.shape[0], 0), float("-inf"))
    best_indices = torch.zeros((q.shape[0], 0), dtype=torch.long)
    for start in range(0, items.shape[0], chunk_size):
        scores = q @ items[start : start + chunk_size].T
        chunk_scores, chunk_indices = scores.topk(min(k, scores.shape[1]), dim=1)
        merged_scores = torch.cat([best_scores, chunk_scores], dim=1)
        merged_indices = torch.cat([best_indices, chunk_indices + start], dim=1)
        best_scores, order = merged_scores.topk(min(k, merged_scores.shape[1]), dim=1)
        best_indices = merged_indices.gather(1, order)
    return best_scores, best_indices


def top_k_half(
    queries: torch.Tensor, items: torch.Tensor, k: int, chunk_size: int = 16384, overfetch: int = 22
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` over 16-bit ``items``: candidates from 16-bit scores, then exact float32 re-scoring."""
    return top_k_rescored(queries, items, items, k, chunk_size, overfetch)


def _comparable(scores: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """bfloat16 ``scores`` and a float ``threshold`` in a form where ``>`` and ``max`` are fast and exact.

    With every threshold non-negative both are read as their raw 16-bit patterns (int16), several times
    faster than bfloat16 arithmetic here: non-negative bfloat16 values order like their bit patterns, and
    negative ones (sign bit set) read as negative integers, below any non-negative threshold, so every
    "above the threshold" answer is unchanged. Otherwise both stay bfloat16.
    """
    if bool((threshold >= 0).all()):
        return scores.view(torch.int16), threshold.to(torch.bfloat16).view(torch.int16)
    return scores, threshold.to(scores.dtype)


def _bfloat16(chunk: torch.Tensor) -> torch.Tensor:
    """``chunk`` as bfloat16; float16 goes through float32 (exact), twice as fast here as a direct cast."""
    return chunk.float().bfloat16() if chunk.dtype == torch.float16 else chunk.to(torch.bfloat16)


def _grouped(block: torch.Tensor, group: int) -> torch.Tensor:
    """``[Q, C]`` scores as ``[Q, ceil(C / group), group]``, the last group padded with ``-inf``."""
    if block.shape[1] % group:
        block = torch.nn.functional.pad(block, (0, group - block.shape[1] % group), value=float("-inf"))
    return block.view(block.shape[0], -1, group)


def _first_pool(groups: torch.Tensor, take: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``take`` scores ``[Q, take]`` (float32) and their columns of the first block, via its groups.

    Each of a query's ``take`` best scores lies in a group whose maximum is at least the ``take``-th best,
    and at most ``take`` groups have such a maximum: so a top-k over the groups' maxima, then over the
    scores of the chosen groups, equals a top-k over the whole block, at a fraction of its cost.
    """
    num_queries, num_groups, group = groups.shape
    chosen = groups.amax(dim=2).float().topk(min(take, num_groups), dim=1).indices
    scores = groups.gather(1, chosen.unsqueeze(2).expand(-1, -1, group)).reshape(num_queries, -1).float()
    columns = (chosen.unsqueeze(2) * group + torch.arange(group)).reshape(num_queries, -1)
    top_scores, order = scores.topk(take, dim=1)
    return top_scores, columns.gather(1, order)


def _threshold_candidates(
    qb: torch.Tensor, approximate: torch.Tensor, take: int, chunk_size: int, group: int = 64
) -> torch.Tensor:
    """``[Q, take]`` candidate rows: a running pool per query, raised chunk by chunk.

    The first chunk's top-``take`` starts each query's pool (:func:`_first_pool`). Later chunks are cut
    into groups of ``group`` columns; only groups whose maximum beats the query's current ``take``-th best
    are opened, and only their scores above it are merged into the pool (comparisons as :func:`_comparable`).
    The group maxima cost one pass over the block; comparing and gathering every score (let alone a top-k
    over all of them) costs several.
    """
    n, num_queries = approximate.shape[0], qb.shape[0]
    pool_scores, pool_rows = _first_pool(_grouped(qb @ _bfloat16(approximate[:chunk_size]).T, group), take)
    offsets = torch.arange(group)
    for start in range(chunk_size, n, chunk_size):
        groups = _grouped(qb @ _bfloat16(approximate[start : start + chunk_size]).T, group)
        ordered, limit = _comparable(groups, pool_scores[:, -1:])
        group_queries, group_index = (ordered.amax(dim=2) > limit).nonzero(as_tuple=True)
        if len(group_queries) == 0:
            continue
        values = groups[group_queries, group_index]
        above = values.view(ordered.dtype) > limit[group_queries]
        query_rows = group_queries.unsqueeze(1).expand(-1, group)[above]
        columns = (group_index.unsqueeze(1) * group + offsets)[above]
        counts = torch.bincount(query_rows, minlength=num_queries)
        position = torch.arange(len(query_rows)) - (torch.cumsum(counts, 0) - counts)[query_rows]
        width = int(counts.max())
        new_scores = torch.full((num_queries, width), float("-inf"))
        new_rows = torch.full((num_queries, width), -1, dtype=torch.long)
        new_scores[query_rows, position] = values[above].float()
        new_rows[query_rows, position] = columns + start
        merged_scores = torch.cat([pool_scores, new_scores], dim=1)
        merged_rows = torch.cat([pool_rows, new_rows], dim=1)
        pool_scores, order = merged_scores.topk(take, dim=1)
        pool_rows = merged_rows.gather(1, order)
    return pool_rows


def top_k_rescored(
    queries: torch.Tensor,
    items: torch.Tensor,
    approximate: torch.Tensor,
    k: int,
    chunk_size: int = 16384,
    overfetch: int = 22,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k``: ``k + overfetch`` candidates from 16-bit scores against ``approximate`` (a 16-bit copy of
    ``items``, or ``items`` themselves), then those candidates scored in float32 against ``items``.

    One query: a 16-bit matrix-vector product; a batch: bfloat16 matrix products chunk by chunk (AVX-512
    BF16 where the CPU has it) with a running per-query threshold (:func:`_threshold_candidates`). Returned
    scores are exact for the stored vectors; a true top-k item is
    missed only when 16-bit rounding pushes it below ``k + overfetch`` others.
    """
    q = queries.float()
    take = min(items.shape[0], k + overfetch)
    if q.shape[0] == 1:
        candidates = torch.mv(approximate, q[0].to(approximate.dtype)).float().topk(take).indices.unsqueeze(0)
    else:
        candidates = _threshold_candidates(q.to(torch.bfloat16), approximate, take, chunk_size)
    exact = torch.einsum("qd,qcd->qc", q, items[candidates].float())
    scores, order = exact.topk(min(k, take), dim=1)
    return scores, candidates.gather(1, order)


class VectorIndex:
    """Ids, modalities and vectors ``[N, D]``; exact or FAISS search.

    Args:
        dim: vector size.
        dtype: storage of the vectors (``float32`` or ``float16``; exact search only for float16).
        backend: ``exact``, ``faiss-flat``, ``faiss-ivf`` (``nlist`` cells, ``nprobe`` searched) or ``faiss-hnsw``
            (``hnsw_m`` links, ``ef_search``).
        bf16_shadow: float32 exact indexes keep a bfloat16 copy of the vectors to score candidates
            (:func:`top_k_rescored`; 1.5x the memory, about 1.5x the batched throughput); False: plain float32.
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
        bf16_shadow: bool = True,
    ) -> None:
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
        if backend not in ("exact", "faiss-flat", "faiss-ivf", "faiss-hnsw"):
            raise ValueError(f"unknown backend {backend!r}")
        if backend != "exact" and dtype != "float32":
            raise ValueError("FAISS backends store float32 vectors; use dtype='float32'")
        self.dim, self.dtype, self.backend = dim, dtype, backend
        self.options = {"nlist": nlist, "nprobe": nprobe, "hnsw_m": hnsw_m, "ef_search": ef_search}
        self.options["bf16_shadow"] = bf16_shadow
        self._shadow: torch.Tensor | None = None
        self._modality_rows: dict[str, torch.Tensor] | None = None
        self.ids: list[str] = []
        self.modalities: list[str] = []
        self.vectors = torch.empty(0, dim, dtype=getattr(torch, dtype))
        self._faiss = None
        self._position: dict[str, int] = {}

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
        self._shadow = None
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
        subset = None
        if modalities is not None:
            subset = self._rows_of(modalities)
        if self.backend == "exact" or subset is not None:
            items = self.vectors if subset is None else self.vectors[subset]
            if self.dtype == "float32" and self.options["bf16_shadow"]:
                if self._shadow is None:
                    self._shadow = self.vectors.bfloat16()
                shadow = self._shadow if subset is None else self._shadow[subset]
                scores, indices = top_k_rescored(queries, items, shadow, k)
            else:
                scores, indices = top_k_chunked(queries, items, k)
            if subset is not None:
                indices = subset[indices]
        else:
            scores_np, indices_np = self._faiss_index().search(queries.numpy().astype(np.float32), k)
            scores, indices = torch.from_numpy(scores_np), torch.from_numpy(indices_np).long()
        if scores.shape[1] < k:  # fewer items than k
            pad = k - scores.shape[1]
            scores = torch.cat([scores, torch.full((len(scores), pad), float("-inf"))], dim=1)
            indices = torch.cat([indices, torch.full((len(indices), pad), -1)], dim=1)
        ids = [[self.ids[i] if i >= 0 else None for i in row] for row in indices.tolist()]
        return SearchResult(scores, indices, ids)

    def _rows_of(self, modalities: Sequence[str]) -> torch.Tensor:
        """Sorted rows of the items of ``modalities``; the per-modality rows are computed once per content."""
        if self._modality_rows is None:
            codes = {m: i for i, m in enumerate(dict.fromkeys(self.modalities))}
            per_item = torch.tensor([codes[m] for m in self.modalities], dtype=torch.long)
            self._modality_rows = {m: torch.nonzero(per_item == c).flatten() for m, c in codes.items()}
        parts = [self._modality_rows[m] for m in dict.fromkeys(modalities) if m in self._modality_rows]
        return torch.sort(torch.cat(parts)).values if parts else torch.empty(0, dtype=torch.long)

    def vector(self, item_id: str) -> torch.Tensor:
        return self.vectors[self._position[item_id]].float()

    # -- persistence ------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``vectors.safetensors`` and ``index.json`` atomically (temporary names, then renames)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "dim": self.dim,
            "dtype": self.dtype,
            "backend": self.backend,
            "options": self.options,
            "ids": self.ids,
            "modalities": self.modalities,
        }
        vectors_tmp, meta_tmp = directory / ".vectors.safetensors.tmp", directory / ".index.json.tmp"
        save_file({"vectors": self.vectors.contiguous()}, str(vectors_tmp), metadata={"count": str(len(self))})
        meta_tmp.write_text(json.dumps(meta))
        for tmp in (vectors_tmp, meta_tmp):
            with tmp.open("rb") as handle:
                os.fsync(handle.fileno())
        os.replace(vectors_tmp, directory / "vectors.safetensors")
        os.replace(meta_tmp, directory / "index.json")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> VectorIndex:
        """Read an index written by :meth:`save`; a mismatch between the two files raises."""
        directory = Path(directory)
        meta_path = directory / "index.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path} not found: not a unibind index")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format_version {meta.get('format_version')} is not {FORMAT_VERSION}")
        index = cls(meta["dim"], meta["dtype"], meta["backend"], **meta["options"])
        vectors = load_file(str(directory / "vectors.safetensors"))["vectors"]
        if vectors.shape != (len(meta["ids"]), meta["dim"]):
            raise ValueError(f"{directory}: {vectors.shape[0]} vectors for {len(meta['ids'])} ids")
        index.ids, index.modalities, index.vectors = list(meta["ids"]), list(meta["modalities"]), vectors
        index._position = {item_id: i for i, item_id in enumerate(index.ids)}
        return index
