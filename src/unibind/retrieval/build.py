"""``unibind index build`` and ``unibind search``: a saved model embeds a manifest into an index, queries search it.

Every item of the manifest contributes one vector per modality it carries (its first caption for text);
index ids are the item ids, suffixed ``#<modality>`` when the manifest holds more than one modality.
Inputs go through each modality's default spec (``unibind.modalities.default_spec``); a model trained with
other spec settings (image size, audio rate) should be indexed from Python with those specs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from unibind.datasets.manifest import OnError, read_manifest
from unibind.embedder import UnifiedEmbedder
from unibind.modalities import Modality, default_spec
from unibind.retrieval.index import Backend, VectorIndex


@torch.no_grad()
def build_index(
    model_dir: str | Path,
    manifest: str | Path,
    modalities: Sequence[str],
    out: str | Path,
    dtype: str = "float32",
    backend: Backend = "exact",
    batch_size: int = 64,
    on_error: OnError = "raise",
    progress: bool = True,
) -> VectorIndex:
    """Embed the ``modalities`` of every manifest item with the model and save the index under ``out``."""
    model = UnifiedEmbedder.from_pretrained(model_dir, modalities=modalities).eval()
    items, skipped = read_manifest(manifest, modalities, on_error)
    index = VectorIndex(model.embed_dim, dtype=dtype, backend=backend)  # type: ignore[arg-type]
    suffix = len(modalities) > 1
    for modality in modalities:
        spec = default_spec(modality)
        chosen = [item for item in items if modality in item.fields]
        for start in tqdm(range(0, len(chosen), batch_size), desc=f"embedding {modality}", disable=not progress):
            chunk = chosen[start : start + batch_size]
            raws = [item.fields[modality][0] if modality == Modality.TEXT else item.fields[modality] for item in chunk]
            batch = spec.collate(
                [spec.load(raw, item=f"{manifest}, row {it.row}") for raw, it in zip(raws, chunk, strict=True)]
            )
            vectors = model({modality: batch})[modality]
            ids = [f"{item.id}#{modality}" if suffix else item.id for item in chunk]
            index.add(ids, vectors, modality)
    if skipped.count:
        print(f"skipped {skipped.count} manifest rows: {skipped.reasons[:3]}")
    index.save(out)
    return index


@torch.no_grad()
def search_text(
    model_dir: str | Path, index_dir: str | Path, query: str, k: int = 10, modalities: Sequence[str] | None = None
) -> list[tuple[str, float]]:
    """``(id, score)`` of the top ``k`` items for a text query."""
    model = UnifiedEmbedder.from_pretrained(model_dir, modalities=["text"]).eval()
    index = VectorIndex.load(index_dir)
    if index.dim != model.embed_dim:
        raise ValueError(f"the index holds {index.dim}-d vectors, the model makes {model.embed_dim}-d ones")
    spec = default_spec("text")
    vector = model({"text": spec.collate([spec.load(query)])})["text"]
    result = index.search(vector, k, modalities)
    return [(i, float(s)) for i, s in zip(result.ids[0], result.scores[0].tolist(), strict=True) if i is not None]
