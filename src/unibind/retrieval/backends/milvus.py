"""A Milvus collection as the index: Milvus Lite (a local ``.db`` folder, nothing to start) or any Milvus
server or cluster by URI, with the same code.

One collection per index: ``row`` (int64 primary key, the insertion order), ``item_id`` and ``modality``
(VARCHAR scalar fields) and ``vector`` (FLOAT_VECTOR, inner product on unit vectors). A search limited to
some modalities is a filter expression (``modality in [...]``) that Milvus applies inside its index search.
Vector index: ``FLAT`` (exact), ``HNSW`` (``hnsw_m``, ``ef_construction``; ``ef_search`` at query time) or
``IVF_FLAT`` (``nlist``; ``nprobe``). Inserts go in batches of ``insert_batch`` rows with a progress bar.

Saving an index writes only ``index.json`` (URI, collection, parameters): the rows are already in Milvus. A
local URI inside the index folder is stored relative to it, so the folder can move. Each new index writes a
new collection (``unibind_<random>``); a save that replaces an index on the same database drops the
collection the replaced index used, after the new ``index.json`` is committed. The token of a secured server
comes from the ``MILVUS_TOKEN`` environment variable, never from ``index.json``.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm import tqdm

from unibind.atomic import PENDING_NAME
from unibind.retrieval.backends import MILVUS_INDEX_TYPES as INDEX_TYPES
from unibind.retrieval.backends.base import pad_hits

MAX_ID_CHARS = 1024
MAX_MODALITY_CHARS = 64
MAX_RESULTS = 16384  # Milvus caps a search's limit (topk) and its number of queries


class MilvusBackend:
    """Rows in a Milvus collection at ``uri`` (a ``.db`` path: Milvus Lite; ``http://host:19530``: a server)."""

    name: ClassVar[str] = "milvus"
    files: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        dim: int,
        uri: str = "milvus.db",
        collection: str | None = None,
        index_type: str = "FLAT",
        hnsw_m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 128,
        nlist: int = 1024,
        nprobe: int = 16,
        insert_batch: int = 5000,
        progress: bool = True,
        dtype: str = "float32",
    ) -> None:
        if dtype != "float32":
            raise ValueError(f"Milvus stores float32 vectors; use dtype='float32', not {dtype!r}")
        if index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")
        self.dim = dim
        self.options: dict[str, Any] = {
            "uri": uri,
            "collection": collection or f"unibind_{secrets.token_hex(8)}",
            "index_type": index_type,
            "hnsw_m": hnsw_m,
            "ef_construction": ef_construction,
            "ef_search": ef_search,
            "nlist": nlist,
            "nprobe": nprobe,
            "insert_batch": insert_batch,
        }
        self.progress = progress
        self._client = None
        self._rows = 0
        self._dirty = False
        self._loaded = False  # load_collection done since the last flush

    @classmethod
    def folder_defaults(cls, folder: Path) -> dict[str, Any]:
        """A Milvus Lite database inside the index folder."""
        return {"uri": str(folder / "milvus.db")}

    @property
    def collection(self) -> str:
        return self.options["collection"]

    @property
    def client(self):
        """A ``pymilvus.MilvusClient`` (connected at first use; a Lite ``.db`` folder's parent is created)."""
        if self._client is None:
            from pymilvus import MilvusClient

            uri = self.options["uri"]
            if uri.endswith(".db"):
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            self._client = MilvusClient(uri, token=os.environ.get("MILVUS_TOKEN", ""))
        return self._client

    def _create_collection(self) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("item_id", DataType.VARCHAR, max_length=MAX_ID_CHARS)
        schema.add_field("modality", DataType.VARCHAR, max_length=MAX_MODALITY_CHARS)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        index_params = self.client.prepare_index_params()
        build = {
            "FLAT": {},
            "HNSW": {"M": self.options["hnsw_m"], "efConstruction": self.options["ef_construction"]},
            "IVF_FLAT": {"nlist": self.options["nlist"]},
        }[self.options["index_type"]]
        index_params.add_index(field_name="vector", index_type=self.options["index_type"], metric_type="IP",
                               params=build)  # fmt: skip
        self.client.create_collection(self.collection, schema=schema, index_params=index_params)

    def add(self, ids: Sequence[str], vectors: torch.Tensor, modalities: Sequence[str]) -> None:
        for text, limit, what in ((ids, MAX_ID_CHARS, "id"), (modalities, MAX_MODALITY_CHARS, "modality")):
            long = next((t for t in text if len(t.encode()) > limit), None)
            if long is not None:
                raise ValueError(f"Milvus keeps an {what} in at most {limit} bytes; {long[:80]!r}... is longer")
        if not self.client.has_collection(self.collection):
            self._create_collection()
        array = vectors.float().numpy()
        batch = self.options["insert_batch"]
        starts = range(0, len(ids), batch)
        for start in tqdm(
            starts, desc=f"Milvus insert into {self.collection}", disable=not self.progress or len(starts) < 2
        ):
            end = min(start + batch, len(ids))
            self.client.insert(self.collection, [
                {"row": self._rows + i, "item_id": ids[i], "modality": modalities[i], "vector": array[i]}
                for i in range(start, end)
            ])  # fmt: skip
        self._rows += len(ids)
        self._dirty = True

    def _ready(self) -> None:
        """Flush what was inserted and load the collection for search, once per batch of additions (not on every
        search: a load is a round trip to the server)."""
        if self._dirty:
            self.client.flush(self.collection)
            self._dirty, self._loaded = False, False
        if not self._loaded:
            self.client.load_collection(self.collection)
            self._loaded = True

    def search(
        self, queries: torch.Tensor, k: int, modalities: Sequence[str] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self._rows == 0:
            return torch.empty(len(queries), 0), torch.empty(len(queries), 0, dtype=torch.long)
        self._ready()
        limit = min(k, self._rows, MAX_RESULTS)
        expression = "" if modalities is None else f"modality in {json.dumps(list(dict.fromkeys(modalities)))}"
        params = {"ef": max(self.options["ef_search"], limit)} if self.options["index_type"] == "HNSW" else {}
        if self.options["index_type"] == "IVF_FLAT":
            params = {"nprobe": self.options["nprobe"]}
        array = queries.float().numpy()
        scores = torch.full((len(queries), limit), float("-inf"))
        rows = torch.full((len(queries), limit), -1, dtype=torch.long)
        for start in range(0, len(array), MAX_RESULTS):
            hits = self.client.search(
                self.collection,
                data=list(array[start : start + MAX_RESULTS]),
                limit=limit,
                filter=expression,
                search_params={"metric_type": "IP", "params": params},
            )
            for offset, found in enumerate(hits):
                for j, hit in enumerate(found):
                    scores[start + offset, j] = hit["distance"]
                    rows[start + offset, j] = hit["row"]
        return pad_hits(scores, rows, k) if limit < k else (scores, rows)

    def vectors(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        wanted = list(range(self._rows)) if rows is None else [int(r) for r in rows.reshape(-1)]
        if not wanted:
            return torch.empty(0, self.dim)
        self._ready()
        found: dict[int, np.ndarray] = {}
        for start in range(0, len(wanted), MAX_RESULTS):
            for entity in self.client.get(
                self.collection, ids=wanted[start : start + MAX_RESULTS], output_fields=["vector"]
            ):
                found[int(entity["row"])] = np.asarray(entity["vector"], dtype=np.float32)
        missing = next((r for r in wanted if r not in found), None)
        if missing is not None:
            raise KeyError(f"row {missing} is not in Milvus collection {self.collection!r} at {self.options['uri']}")
        return torch.from_numpy(np.stack([found[r] for r in wanted]))

    def count(self) -> int:
        if not self.client.has_collection(self.collection):
            return 0
        self._ready()
        return int(self.client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"])

    @property
    def nbytes(self) -> int:
        """0: the vectors live in Milvus, not in this process."""
        return 0

    def write_files(self, folder: Path) -> None:
        if self._rows and self._dirty:
            self.client.flush(self.collection)
            self._dirty, self._loaded = False, False

    def saved_options(self, directory: Path) -> dict[str, Any]:
        """:attr:`options` as ``index.json`` keeps them for an index saved in ``directory``: a Lite path inside
        it relative to it."""
        uri = self.options["uri"]
        if uri.endswith(".db") and Path(uri).resolve().is_relative_to(directory.resolve()):
            uri = str(Path(uri).resolve().relative_to(directory.resolve()))
        return {**self.options, "uri": uri}

    def release_replaced(self, replaced: dict[str, Any], directory: Path) -> None:
        """Drop the collection of the index this save replaced, if it lives on the same database."""
        old = resolve_uri(replaced.get("uri", ""), directory)
        collection = replaced.get("collection")
        if (
            old == self.options["uri"]
            and collection not in (None, self.collection)
            and self.client.has_collection(collection)
        ):
            self.client.drop_collection(collection)

    @classmethod
    def read(cls, folder: Path, dim: int, options: dict[str, Any], modalities: Sequence[str]) -> MilvusBackend:
        directory = folder.parent if folder.name == PENDING_NAME else folder  # a save's pending copy: its index
        backend = cls(dim, **{**options, "uri": resolve_uri(options["uri"], directory)})
        if not backend.client.has_collection(backend.collection):
            raise ValueError(f"{folder}: Milvus collection {backend.collection!r} is not at {backend.options['uri']}")
        backend._rows = len(modalities)
        stored = backend.count()
        if stored != len(modalities):
            raise ValueError(f"{folder}: Milvus collection {backend.collection!r} holds {stored} rows, "
                             f"the index {len(modalities)} ids")  # fmt: skip
        return backend


def resolve_uri(uri: str, directory: Path) -> str:
    """A relative Milvus Lite path, as ``index.json`` keeps it, resolved against the index folder."""
    if uri.endswith(".db") and not Path(uri).is_absolute() and "://" not in uri:
        return str(directory / uri)
    return uri
