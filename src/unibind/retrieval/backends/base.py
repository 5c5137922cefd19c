"""What every index backend does, and the per-row modality bookkeeping the in-memory ones share.

A backend stores unit-norm vectors in insertion order (row ``r`` is the ``r``-th vector added), each with a
modality, and returns rows. :class:`~unibind.retrieval.VectorIndex` keeps the ids and turns rows into ids, so
a backend never sees them except to store them beside the vectors (a database backend does, for other clients).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch


class IndexBackend(Protocol):
    """Storage and search of ``[N, D]`` unit vectors by inner product, optionally within some modalities.

    ``options`` are what :meth:`read` needs besides the files (saved in ``index.json``); ``files`` the top-level
    names :meth:`write_files` may write into an index folder.
    """

    name: ClassVar[str]
    files: ClassVar[tuple[str, ...]]
    dim: int
    options: dict[str, Any]

    def add(self, ids: Sequence[str], vectors: torch.Tensor, modalities: Sequence[str]) -> None:
        """Append ``vectors [n, D]`` (float32, unit norm) as the next ``n`` rows."""

    def search(
        self, queries: torch.Tensor, k: int, modalities: Sequence[str] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores, rows)``, each ``[Q, <= k]`` best first, of ``queries [Q, D]`` (unit norm) among the rows of
        ``modalities`` (None: all); a row ``-1`` (score ``-inf``) pads a query with fewer hits."""

    def vectors(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The stored vectors of ``rows`` (None: all rows), ``[n, D]``, in the backend's storage dtype."""

    def count(self) -> int:
        """Rows stored."""

    @property
    def nbytes(self) -> int:
        """Bytes this process holds for the vectors (and any search structure built from them)."""

    def write_files(self, folder: Path) -> None:
        """Write what :meth:`read` needs into ``folder`` (part of an atomic index save)."""

    def saved_options(self, directory: Path) -> dict[str, Any]:
        """``options`` as ``index.json`` keeps them for an index saved in ``directory``."""

    def release_replaced(self, replaced: dict[str, Any], directory: Path) -> None:
        """After a save committed, free what the replaced index (its saved ``options``) held outside the folder."""

    @classmethod
    def read(cls, folder: Path, dim: int, options: dict[str, Any], modalities: Sequence[str]) -> IndexBackend:
        """The backend saved in ``folder`` with these ``options``; ``modalities`` are its rows' modalities."""


class ModalityRows:
    """Each row's modality as a small integer code; the sorted rows of any set of modalities, computed once."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self._per_row: list[int] = []
        self._rows: dict[str, torch.Tensor] | None = None

    def add(self, modalities: Sequence[str]) -> None:
        self._per_row += [self.codes.setdefault(m, len(self.codes)) for m in modalities]
        self._rows = None

    def __len__(self) -> int:
        return len(self._per_row)

    def by_modality(self) -> dict[str, torch.Tensor]:
        """``modality -> sorted rows`` (long tensor), in order of first appearance."""
        if self._rows is None:
            per_row = torch.tensor(self._per_row, dtype=torch.long)
            self._rows = {m: torch.nonzero(per_row == code).flatten() for m, code in self.codes.items()}
        return self._rows

    def present(self, modalities: Sequence[str] | None) -> list[str]:
        """The modalities of ``modalities`` (None: all) that have rows, without repeats."""
        by_modality = self.by_modality()
        return list(by_modality) if modalities is None else [m for m in dict.fromkeys(modalities) if m in by_modality]

    def rows_of(self, modalities: Sequence[str]) -> torch.Tensor:
        """Sorted rows of the items of ``modalities``."""
        parts = [self.by_modality()[m] for m in self.present(modalities)]
        return torch.sort(torch.cat(parts)).values if parts else torch.empty(0, dtype=torch.long)


def pad_hits(scores: torch.Tensor, rows: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad ``[Q, m]`` hits to ``[Q, k]`` with score ``-inf`` and row ``-1``."""
    missing = k - scores.shape[1]
    if missing <= 0:
        return scores, rows
    scores = torch.cat([scores, torch.full((len(scores), missing), float("-inf"))], dim=1)
    return scores, torch.cat([rows, torch.full((len(rows), missing), -1, dtype=torch.long)], dim=1)


def merge_hits(parts: Sequence[tuple[torch.Tensor, torch.Tensor]], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The best ``k`` of several ``(scores, rows)`` hit lists per query (e.g. one per modality)."""
    scores = torch.cat([s for s, _ in parts], dim=1)
    rows = torch.cat([r for _, r in parts], dim=1)
    best = scores.topk(min(k, scores.shape[1]), dim=1)
    return best.values, rows.gather(1, best.indices)
