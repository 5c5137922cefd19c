"""``OnnxEmbedder``: a unibind model exported by :func:`unibind.export.export_onnx`, run by onnxruntime.

It needs no PyTorch weights: each modality is its Python preprocessing (rebuilt from the export's JSON file
and assets, :mod:`unibind.encoders.preprocessing`) followed by an onnxruntime session over the exported graph of
encoder + projection head + aligner. Embedding goes through :func:`unibind.encoding.encode`, the same loop as
:meth:`UnifiedEmbedder.encode <unibind.embedder.UnifiedEmbedder.encode>`, so inputs, batching, Matryoshka
truncation and errors behave the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unibind.atomic import read_directory
from unibind.encoders.preprocessing import Preprocessor, load_preprocessor

MANIFEST_NAME = "unibind_onnx.json"
FORMAT_VERSION = 1
OUTPUT_NAME = "aligned_embedding"  # not "embedding": the exporter names aten.embedding outputs so
#: onnxruntime's input type names -> numpy dtypes
_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


def session_feeds(session: Any, tensors: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The numpy inputs of ``session`` from named tensors, each cast to the type the graph declares."""
    feeds = {}
    for spec in session.get_inputs():
        if spec.name not in tensors:
            raise KeyError(f"the graph takes {spec.name!r}; the preprocessing gave {sorted(tensors)}")
        array = tensors[spec.name].detach().cpu().numpy()
        dtype = _ORT_TYPES.get(spec.type)
        feeds[spec.name] = np.ascontiguousarray(array if dtype is None else array.astype(dtype, copy=False))
    return feeds


def open_session(
    path: str | Path,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    config: Mapping[str, str] | None = None,
) -> Any:
    """An onnxruntime session over ``path`` (CPU unless ``providers`` are given; ``threads`` intra-op threads;
    ``config``: session config entries, e.g. ``{"session.intra_op.allow_spinning": "0"}``)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    for key, value in (config or {}).items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), options, providers=list(providers or ["CPUExecutionProvider"]))


def read_manifest(folder: Path) -> dict[str, Any]:
    """The export's ``unibind_onnx.json``, checked for its format version."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a unibind ONNX export (see `unibind export onnx`)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {manifest.get('format_version')!r} is not {FORMAT_VERSION}")
    return manifest


class OnnxEmbedder:
    """Exported modalities run by onnxruntime: ``embed_batch(modality, batch) -> Tensor[B, D]`` and ``encode``.

    Build it with :meth:`from_dir`. Attributes as :class:`~unibind.embedder.UnifiedEmbedder`: ``modalities``
    (the exported ones), ``embed_dim`` and ``matryoshka_dims``; ``skipped`` maps the model's other modalities
    to why they were not exported.
    """

    def __init__(
        self,
        sessions: Mapping[str, Any],
        preprocessors: Mapping[str, Preprocessor],
        embed_dim: int,
        matryoshka_dims: Sequence[int] | None = None,
        skipped: Mapping[str, str] | None = None,
    ) -> None:
        if set(sessions) != set(preprocessors):
            raise ValueError(f"sessions {sorted(sessions)} and preprocessors {sorted(preprocessors)} differ")
        self.sessions, self.preprocessors = dict(sessions), dict(preprocessors)
        self.embed_dim = int(embed_dim)
        self.matryoshka_dims = tuple(matryoshka_dims) if matryoshka_dims else None
        self.skipped = dict(skipped or {})

    @classmethod
    def from_dir(
        cls,
        out_dir: str | Path,
        int8: bool = False,
        providers: Sequence[str] | None = None,
        modalities: Iterable[str] | None = None,
        threads: int | None = None,
        session_config: Mapping[str, str] | None = None,
    ) -> OnnxEmbedder:
        """Load an export folder: the fp32 graphs, or with ``int8`` the quantised ones; only ``modalities``
        (default: every exported one). ``providers``: onnxruntime execution providers (default CPU);
        ``threads``: intra-op threads per session (default: onnxruntime's, one per core); ``session_config``:
        onnxruntime session config entries for every session."""
        return read_directory(
            out_dir, lambda folder: cls._read(folder, int8, providers, modalities, threads, session_config)
        )

    @classmethod
    def _read(
        cls,
        folder: Path,
        int8: bool,
        providers: Sequence[str] | None,
        modalities: Iterable[str] | None,
        threads: int | None,
        session_config: Mapping[str, str] | None,
    ) -> OnnxEmbedder:
        manifest = read_manifest(folder)
        graphs = manifest["graphs"]
        wanted = list(graphs) if modalities is None else [str(m) for m in modalities]
        missing = [m for m in wanted if m not in graphs]
        if missing:
            reasons = {m: manifest.get("skipped", {}).get(m, "not in the model") for m in missing}
            raise KeyError(f"{folder} has no graph for {missing} ({reasons}); it has {list(graphs)}")
        sessions, preprocessors = {}, {}
        for modality in wanted:
            graph = graphs[modality]
            name = graph["int8_file"] if int8 else graph["file"]
            if not name:
                raise FileNotFoundError(f"{folder}: {modality} was exported without int8; export again with --int8")
            sessions[modality] = open_session(folder / name, providers, threads, session_config)
            preprocessors[modality] = load_preprocessor(graph["preprocessing"], folder / graph["assets"])
        return cls(sessions, preprocessors, manifest["embed_dim"], manifest.get("matryoshka_dims"), manifest["skipped"])

    @property
    def modalities(self) -> list[str]:
        return list(self.sessions)

    def embed_batch(self, modality: str, batch: Any) -> torch.Tensor:
        """Aligned embeddings ``[B, D]`` of one collated batch: Python preprocessing, then the graph."""
        if modality not in self.sessions:
            why = f" ({self.skipped[modality]})" if modality in self.skipped else ""
            raise KeyError(f"no graph for modality {modality!r}{why}; this export has {self.modalities}")
        session = self.sessions[modality]
        feeds = session_feeds(session, self.preprocessors[modality](batch))
        return torch.from_numpy(session.run([OUTPUT_NAME], feeds)[0])

    def encode(self, inputs: Any, modality: str | None = None, batch_size: int = 32, **options: Any) -> Any:
        """Embeddings ``[N, D]`` of strings, paths, images, arrays or a mixed list, as
        :meth:`UnifiedEmbedder.encode <unibind.embedder.UnifiedEmbedder.encode>` (see
        :func:`unibind.encoding.encode` for ``normalize``, ``dim``, ``convert_to``, ``on_error``, ``specs`` ...)."""
        from unibind.encoding import encode

        return encode(self, inputs, modality, batch_size, **options)

    def __repr__(self) -> str:
        return f"OnnxEmbedder(modalities={self.modalities}, embed_dim={self.embed_dim})"
