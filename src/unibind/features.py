"""Precomputed features of frozen encoders, cached on disk keyed by model and data checksums.

With frozen (LiT-style) towers the features never change, so they are computed once and training
epochs touch only the heads and the aligner. The cache key covers the encoder's
:meth:`~unibind.encoders.Encoder.fingerprint`, the spec's settings and the content of every input
(file bytes for paths, the strings for text), so changing any of them recomputes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from unibind.atomic import atomic_write
from unibind.encoders.base import Encoder
from unibind.modalities import ModalitySpec


def data_checksum(raws: Sequence[Any]) -> str:
    """sha256 over the inputs in order: file contents for paths, UTF-8 for strings."""
    digest = hashlib.sha256()
    for raw in raws:
        if isinstance(raw, Path):
            digest.update(b"file\0" + raw.read_bytes())
        elif isinstance(raw, str):
            digest.update(b"text\0" + raw.encode("utf-8"))
        else:
            raise TypeError(f"cannot checksum a {type(raw).__name__}; expected Path or str")
        digest.update(b"\0")
    return digest.hexdigest()


def feature_cache_key(encoder: Encoder, spec: ModalitySpec, raws: Sequence[Any]) -> str:
    """sha256 of the encoder fingerprint, the spec and the data."""
    payload = json.dumps({"encoder": encoder.fingerprint(), "spec": repr(spec)}, sort_keys=True)
    return hashlib.sha256(payload.encode() + data_checksum(raws).encode()).hexdigest()


def cached_features(
    encoder: Encoder,
    spec: ModalitySpec,
    raws: Sequence[Any],
    cache_root: Path,
    batch_size: int = 64,
    progress: bool = True,
    names: Sequence[str] | None = None,
) -> torch.Tensor:
    """``Tensor[N, encoder.width]`` for ``raws``, read from ``cache_root`` or computed and stored there.

    ``names`` (one per raw: an id, a row) name the inputs in the spec's errors; without them the spec names an
    input itself (a path by its path, a text as ``input``: a text is never named by its content).
    """
    if names is not None and len(names) != len(raws):
        raise ValueError(f"{len(names)} names for {len(raws)} inputs")
    key = feature_cache_key(encoder, spec, raws)
    path = Path(cache_root) / f"{spec.modality}-{key[:24]}.safetensors"
    if path.is_file():
        features = load_file(path)["features"]
        if features.shape[0] == len(raws):
            return features
    was_training = encoder.training
    encoder.eval()
    chunks = []
    with torch.no_grad():
        steps = range(0, len(raws), batch_size)
        for start in tqdm(steps, desc=f"{spec.modality} features", unit="batch", disable=not progress, leave=False):
            stop = min(start + batch_size, len(raws))
            batch = spec.collate(
                [spec.load(raws[i], item=names[i] if names is not None else None) for i in range(start, stop)]
            )
            chunks.append(encoder(batch).float().cpu())
    encoder.train(was_training)
    features = torch.cat(chunks) if chunks else torch.empty(0, encoder.width)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"key": key, "modality": str(spec.modality)}
    atomic_write(path, lambda temporary: save_file({"features": features.contiguous()}, str(temporary), metadata))
    return features
