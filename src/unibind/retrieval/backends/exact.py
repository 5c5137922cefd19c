"""Exact search in this process: every stored vector scored, chunk by chunk (memory ``O(queries * chunk)``).

Vectors are stored as float32 or float16 in ``vectors.safetensors``. ``scoring`` picks how they are scored:
candidates from int8 products (:mod:`unibind.retrieval.int8`, one packed int8 copy per modality) or bfloat16
products (:func:`~unibind.retrieval.topk.top_k_rescored`), re-scored exactly in float32; or float32 products
throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from safetensors.torch import save_file

from unibind.retrieval.backends.base import ModalityRows
from unibind.retrieval.int8 import Int8Rows, int8_available
from unibind.retrieval.topk import OVERFETCH, rescore, top_k_chunked, top_k_half, top_k_rescored
from unibind.weights import load_safetensors

Scoring = Literal["auto", "int8", "bfloat16", "float32"]
VECTORS_NAME = "vectors.safetensors"


class InMemoryVectors:
    """Vectors ``[N, D]`` held in this process with their rows' modalities, saved to ``vectors.safetensors``."""

    files: ClassVar[tuple[str, ...]] = (VECTORS_NAME,)

    def __init__(self, dim: int, dtype: Literal["float32", "float16"] = "float32") -> None:
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
        self.dim, self.dtype = dim, dtype
        self.options: dict[str, Any] = {"dtype": dtype}
        self.stored = torch.empty(0, dim, dtype=getattr(torch, dtype))
        self.rows = ModalityRows()

    def add(self, ids: Sequence[str], vectors: torch.Tensor, modalities: Sequence[str]) -> None:
        self.stored = torch.cat([self.stored, vectors.to(self.stored.dtype)])
        self.rows.add(modalities)

    def vectors(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        return self.stored if rows is None else self.stored[rows]

    def count(self) -> int:
        return len(self.stored)

    @property
    def nbytes(self) -> int:
        return self.stored.numel() * self.stored.element_size()

    def write_files(self, folder: Path) -> None:
        save_file(
            {"vectors": self.stored.contiguous()}, str(folder / VECTORS_NAME), metadata={"count": str(self.count())}
        )

    def saved_options(self, directory: Path) -> dict[str, Any]:
        return dict(self.options)

    def release_replaced(self, replaced: dict[str, Any], directory: Path) -> None:
        """Nothing outside the index folder to release."""

    @classmethod
    def read(cls, folder: Path, dim: int, options: dict[str, Any], modalities: Sequence[str]):
        backend = cls(dim, **options)
        path = folder / VECTORS_NAME
        tensors = load_safetensors(path, keys={"vectors"})
        if "vectors" not in tensors:
            raise ValueError(f"{path} has no 'vectors' tensor: not a unibind index")
        if tensors["vectors"].shape != (len(modalities), dim):
            raise ValueError(f"{folder}: {tensors['vectors'].shape[0]} vectors for {len(modalities)} ids")
        backend.stored = tensors["vectors"]
        backend.rows.add(modalities)
        return backend


class ExactBackend(InMemoryVectors):
    """Exact top-k by ``scoring``.

    ``int8``: 32 candidates per query for top-10 from int8 products against a packed int8 copy built at the
    first search (about 1 byte per value more; needs int8 dot-product instructions, see
    :func:`~unibind.retrieval.int8.int8_available`), re-scored in float32. ``bfloat16``: candidates from
    bfloat16 products (float32 storage keeps a bfloat16 copy, 2 bytes per value; float16 storage converts
    chunk by chunk), re-scored in float32. ``float32``: float32 products of every item, no copy. ``auto``:
    ``int8`` where the CPU allows it, else ``bfloat16``. Returned scores are the stored vectors' exact inner
    products in every mode; the candidate modes miss a true top-k item only when rounding pushes it below
    ``k + 22`` others.
    """

    name: ClassVar[str] = "exact"

    def __init__(self, dim: int, dtype: Literal["float32", "float16"] = "float32", scoring: Scoring = "auto") -> None:
        super().__init__(dim, dtype)
        if scoring not in ("auto", "int8", "bfloat16", "float32"):
            raise ValueError(f"scoring must be auto, int8, bfloat16 or float32, got {scoring!r}")
        if scoring == "int8" and not int8_available():
            raise ValueError("scoring='int8' needs int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX) "
                             "and torch with oneDNN; this machine has not: use scoring='auto'")  # fmt: skip
        self.options["scoring"] = scoring
        self._bf16_copy: torch.Tensor | None = None
        self._int8: dict[str, Int8Rows] | None = None

    @property
    def scoring(self) -> Literal["int8", "bfloat16", "float32"]:
        """The scoring used here (``auto`` resolved for this CPU)."""
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
        return super().nbytes + copies

    def add(self, ids: Sequence[str], vectors: torch.Tensor, modalities: Sequence[str]) -> None:
        super().add(ids, vectors, modalities)
        self._bf16_copy, self._int8 = None, None

    def search(
        self, queries: torch.Tensor, k: int, modalities: Sequence[str] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        by_modality = self.rows.by_modality()
        present = self.rows.present(modalities)
        if not present:
            return torch.empty(len(queries), 0), torch.empty(len(queries), 0, dtype=torch.long)
        if self.scoring == "int8":
            int8 = self._int8_rows()
            candidates = [by_modality[m][int8[m].candidates(queries, k + OVERFETCH)] for m in present]
            return rescore(queries, self.stored, torch.cat(candidates, dim=1), k)
        subset = None if len(present) == len(by_modality) else self.rows.rows_of(present)
        items = self.stored if subset is None else self.stored[subset]
        if self.scoring == "float32":
            scores, indices = top_k_chunked(queries, items, k)
        elif self.dtype == "float16":
            scores, indices = top_k_half(queries, items, k)
        else:
            if self._bf16_copy is None:
                self._bf16_copy = self.stored.bfloat16()
            copy = self._bf16_copy if subset is None else self._bf16_copy[subset]
            scores, indices = top_k_rescored(queries, items, copy, k)
        return scores, indices if subset is None else subset[indices]

    def _int8_rows(self) -> dict[str, Int8Rows]:
        """One :class:`Int8Rows` per modality (over that modality's rows), built at the first int8 search."""
        if self._int8 is None:
            by_modality = self.rows.by_modality()
            if len(by_modality) == 1:  # every row: no gather
                self._int8 = {m: Int8Rows(self.stored) for m in by_modality}
            else:
                self._int8 = {m: Int8Rows(self.stored, rows) for m, rows in by_modality.items()}
        return self._int8
