"""A vector index over items of any modality, on a chosen backend, saved safely.

Items have an id, a modality and a unit-norm vector; scores are inner products (cosine). The vectors live in a
backend (:mod:`unibind.retrieval.backends`: ``exact``, ``faiss-flat`` / ``faiss-ivf`` / ``faiss-hnsw``,
``milvus``), chosen by name; this class keeps the ids and modalities, checks what is added and turns the
backend's rows into ids. A search may be restricted to some modalities (cross-modal search: a text query
against images); every backend filters inside its own search.

On disk: ``index.json`` (ids, modalities, backend name and options) and the backend's files, saved as a
whole by :func:`unibind.atomic.write_directory`: a crash or kill while saving leaves :meth:`VectorIndex.load`
exactly the previous index or exactly the new one, never the vectors of one with the ids of the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from unibind.atomic import read_directory, write_directory
from unibind.retrieval.backends import BACKEND_FILES, backend_options, create_backend, read_backend
from unibind.retrieval.backends.base import pad_hits

FORMAT_VERSION = 1
META_NAME = "index.json"
INDEX_FILES = (META_NAME, *BACKEND_FILES)


@dataclass
class SearchResult:
    """``scores: [Q, k]`` (descending) and ``ids[q][j]`` of the hits; fewer than ``k`` hits pad with ``-inf`` / None."""

    scores: torch.Tensor
    indices: torch.Tensor
    ids: list[list[str | None]]


class VectorIndex:
    """Ids, modalities and vectors ``[N, D]`` on the backend ``backend`` (see :mod:`unibind.retrieval.backends`).

    Args:
        dim: vector size.
        backend: the backend's registry name.
        folder: the index folder it will be saved in, where a backend that keeps files of its own (a Milvus
            Lite database) puts them unless ``options`` say otherwise.
        options: the backend's own settings, e.g. ``dtype`` and ``scoring`` (``exact``), ``nlist`` / ``nprobe``
            (``faiss-ivf``), ``hnsw_m`` / ``ef_search`` (``faiss-hnsw``), ``uri`` / ``index_type`` (``milvus``).
    """

    def __init__(self, dim: int, backend: str = "exact", folder: str | Path | None = None, **options: Any) -> None:
        self.dim = dim
        self.backend = create_backend(backend, dim, options, folder)
        self.ids: list[str] = []
        self.modalities: list[str] = []
        self._position: dict[str, int] = {}

    @property
    def options(self) -> dict[str, Any]:
        return self.backend.options

    @property
    def vectors(self) -> torch.Tensor:
        """Every stored vector ``[N, D]`` in insertion order (a database backend reads them back)."""
        return self.backend.vectors()

    @property
    def nbytes(self) -> int:
        """Bytes this process holds for the vectors and the backend's search structures."""
        return self.backend.nbytes

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._position

    def modality_of(self, item_id: str) -> str:
        """The modality of an indexed item (KeyError if it is not in the index)."""
        return self.modalities[self._position[item_id]]

    def vector(self, item_id: str) -> torch.Tensor:
        return self.backend.vectors(torch.tensor([self._position[item_id]]))[0].float()

    def add(self, ids: Sequence[str], vectors: torch.Tensor, modality: str | Sequence[str]) -> None:
        """Append items; ``vectors: [n, dim]`` are stored unit-normalised. Ids must be new."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors [n, {self.dim}], got {tuple(vectors.shape)}")
        if len(ids) != vectors.shape[0]:
            raise ValueError(f"{len(ids)} ids for {vectors.shape[0]} vectors")
        modalities = [modality] * len(ids) if isinstance(modality, str) else list(modality)
        if len(modalities) != len(ids):
            raise ValueError(f"{len(modalities)} modalities for {len(ids)} ids")
        duplicate = next((i for i in ids if i in self._position), None)
        if duplicate is not None or len(set(ids)) != len(ids):
            raise ValueError(f"id {duplicate or 'repeated in this call'!r} is already in the index")
        if not torch.isfinite(vectors).all():
            raise ValueError("vectors contain NaN or inf")
        self.backend.add(list(ids), torch.nn.functional.normalize(vectors.float(), dim=-1), modalities)
        for offset, item_id in enumerate(ids):
            self._position[item_id] = len(self.ids) + offset
        self.ids += list(ids)
        self.modalities += modalities

    def search(self, queries: torch.Tensor, k: int = 10, modalities: Sequence[str] | None = None) -> SearchResult:
        """Top-``k`` items per query ``[Q, dim]`` (unit-normalised here), optionally only of ``modalities``."""
        if queries.ndim == 1:
            queries = queries.unsqueeze(0)
        if queries.shape[1] != self.dim:
            raise ValueError(f"queries have {queries.shape[1]} dimensions, the index {self.dim}")
        if len(self) == 0:
            raise ValueError("the index is empty")
        queries = torch.nn.functional.normalize(queries.float(), dim=-1)
        scores, rows = pad_hits(*self.backend.search(queries, k, modalities), k)
        ids = [[self.ids[i] if i >= 0 else None for i in row] for row in rows.tolist()]
        return SearchResult(scores, rows, ids)

    # -- persistence ------------------------------------------------------------------------------

    def save(
        self, directory: str | Path, write_more: Callable[[Path], object] | None = None, owned: Sequence[str] = ()
    ) -> Path:
        """Write ``index.json`` and the backend's files into ``directory``, atomically as a whole.

        ``write_more(folder)`` writes more files into the same save (an index's cards and media), ``owned``
        naming them; other files in ``directory`` (a Milvus Lite database) are left alone. After the commit, what
        the replaced index held outside the folder (a database collection) is released.
        """
        directory = Path(directory)
        replaced = _replaced_meta(directory)

        def write(folder: Path) -> None:
            meta = {
                "format_version": FORMAT_VERSION,
                "dim": self.dim,
                "backend": self.backend.name,
                "options": self.backend.saved_options(directory),
                "ids": self.ids,
                "modalities": self.modalities,
            }
            self.backend.write_files(folder)
            (folder / META_NAME).write_text(json.dumps(meta))
            if write_more is not None:
                write_more(folder)

        write_directory(directory, write, owned=(*INDEX_FILES, *owned))
        if replaced is not None and replaced.get("backend") == self.backend.name:
            self.backend.release_replaced(replaced["options"], directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> VectorIndex:
        """Read an index written by :meth:`save` (the last complete save); a mismatch between its files raises."""
        return read_directory(directory, cls._read)

    @classmethod
    def _read(cls, folder: Path) -> VectorIndex:
        meta_path = folder / META_NAME
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path} not found: not a unibind index")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format_version {meta.get('format_version')} is not {FORMAT_VERSION}")
        name, options = meta["backend"], _current_options(meta)
        index = cls.__new__(cls)
        index.dim, index.ids, index.modalities = meta["dim"], list(meta["ids"]), list(meta["modalities"])
        index.backend = read_backend(name, folder, meta["dim"], options, index.modalities)
        index._position = {item_id: i for i, item_id in enumerate(index.ids)}
        return index


def _replaced_meta(directory: Path) -> dict[str, Any] | None:
    """The ``index.json`` a save into ``directory`` replaces, if one is readable there."""
    try:
        return read_directory(directory, lambda folder: json.loads((folder / META_NAME).read_text()))
    except (OSError, ValueError):
        return None


def _current_options(meta: dict[str, Any]) -> dict[str, Any]:
    """The backend options of ``meta``, including indexes written before the backends were split: those kept
    ``dtype`` beside the options and every backend's options together (and ``bf16_shadow`` before ``scoring``)."""
    options = dict(meta["options"])
    if "bf16_shadow" in options:
        options.setdefault("scoring", "auto" if options.pop("bf16_shadow") else "float32")
    if "dtype" in meta:
        accepted = backend_options(meta["backend"])
        options = {key: value for key, value in {**options, "dtype": meta["dtype"]}.items() if key in accepted}
    return options
