"""Index backends behind one interface (:class:`~unibind.retrieval.backends.base.IndexBackend`), by name.

This registry is the one place that maps a backend's name (``unibind index build --backend``, ``index.json``)
to its class; classes are imported when first used, so reading the names costs nothing.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

BACKENDS = {
    "exact": "unibind.retrieval.backends.exact:ExactBackend",
    "faiss-flat": "unibind.retrieval.backends.faiss_index:FaissFlat",
    "faiss-ivf": "unibind.retrieval.backends.faiss_index:FaissIVF",
    "faiss-hnsw": "unibind.retrieval.backends.faiss_index:FaissHNSW",
    "milvus": "unibind.retrieval.backends.milvus:MilvusBackend",
}
#: Every top-level name some backend writes into an index folder (a save removes the other backends' files).
BACKEND_FILES = ("vectors.safetensors", "faiss")
#: Vector index types of the ``milvus`` backend.
MILVUS_INDEX_TYPES = ("FLAT", "HNSW", "IVF_FLAT")


def backend_class(name: str) -> type:
    """The class registered as ``name``."""
    if name not in BACKENDS:
        raise ValueError(f"unknown index backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module, attribute = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def backend_options(name: str) -> tuple[str, ...]:
    """The option names backend ``name`` takes (its constructor's keyword parameters after ``dim``)."""
    return tuple(p for p in inspect.signature(backend_class(name)).parameters if p != "dim")


def create_backend(name: str, dim: int, options: dict[str, Any], folder: str | Path | None = None):
    """A new, empty backend ``name`` for ``dim``-d vectors, to be saved in ``folder`` (when known): a backend with
    ``folder_defaults`` (files of its own) takes them there unless ``options`` override them."""
    cls = backend_class(name)
    unknown = sorted(set(options) - set(backend_options(name)))
    if unknown:
        raise ValueError(f"index backend {name!r} takes no option {', '.join(map(repr, unknown))}; "
                         f"it takes {', '.join(backend_options(name)) or 'none'}")  # fmt: skip
    defaults = cls.folder_defaults(Path(folder)) if folder is not None and hasattr(cls, "folder_defaults") else {}
    return cls(dim, **{**defaults, **options})


def read_backend(name: str, folder: Path, dim: int, options: dict[str, Any], modalities: list[str]):
    """The backend ``name`` saved in ``folder``."""
    return backend_class(name).read(folder, dim, options, modalities)
