"""``unibind index build`` and ``unibind search``: a saved model embeds items into an index, queries search it.

:func:`build_card_index` embeds :class:`IndexEntry` items (a text, a file, or a graph node's attributes) and
saves, next to the vectors, what a front end shows of them (:mod:`unibind.retrieval.payload`: cards, media,
input settings). :func:`build_index` does that for a manifest: every item contributes one vector per
modality it carries (its first caption for text); index ids are the item ids, suffixed ``#<modality>`` when
the manifest holds more than one modality. Manifest inputs go through each modality's default spec
(``unibind.modalities.default_spec``); a model trained with other spec settings (image size, audio rate)
should be indexed from Python with those specs (:func:`build_card_index`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from unibind.datasets.manifest import OnError, SkipReport, read_manifest
from unibind.embedder import UnifiedEmbedder
from unibind.encoding import check_dim, index_query_dim, truncate
from unibind.modalities import InputError, Modality, ModalitySpec, default_spec
from unibind.motion.sources import load_motion_features
from unibind.retrieval.index import VectorIndex
from unibind.retrieval.lexical import BM25Index
from unibind.retrieval.payload import (
    INPUTS_NAME,
    ITEMS_NAME,
    MEDIA_DIR,
    ItemCard,
    Neighbour,
    copy_media,
    read_items,
    render_motion,
    write_inputs,
    write_items,
)
from unibind.retrieval.rank_fusion import Fusion, fuse_rankings
from unibind.runtimes import load_model

log = logging.getLogger(__name__)
#: What a card index's save writes (and replaces as a whole).
CARD_FILES = (ITEMS_NAME, INPUTS_NAME, MEDIA_DIR)
#: One distinct model input: ``(modality, str(raw))``.
_Key = tuple[str, str]


@dataclass
class IndexEntry:
    """One item to embed into an index and show.

    Args:
        id: its index id.
        modality: its modality; a ``graph`` node is embedded as the mean of its attributes' embeddings
            (no trained graph tower is needed to serve it) and shown with its neighbours.
        raw: the model input: a text or a file path (motion: any file
            :func:`~unibind.motion.sources.load_motion_features` reads); a graph node: ``{modality: raw}``.
        text, label: shown on its card.
        media: an image or audio file shown for it (image and audio items: default ``raw``; motion items are
            drawn from their input).
        neighbours: a graph node's neighbours.
    """

    id: str
    modality: str
    raw: Any
    text: str | None = None
    label: str | None = None
    media: Path | None = None
    neighbours: list[Neighbour] = field(default_factory=list)

    def inputs(self) -> dict[str, Any]:
        """``{modality: raw}`` of the model inputs embedded for this item."""
        return dict(self.raw) if self.modality == Modality.GRAPH else {self.modality: self.raw}


def load_input(spec: ModalitySpec, raw: Any, item: str) -> tuple[Any, np.ndarray | None]:
    """``(sample, positions)``: ``raw`` loaded by ``spec``; a motion file also gives its joint positions (or None)."""
    if spec.modality != Modality.MOTION:
        return spec.load(raw, item=item), None
    features, positions = load_motion_features(raw, spec.num_features, getattr(spec, "representation", "features"))
    return spec.load(features, item=item), positions


@torch.no_grad()
def build_card_index(
    model: UnifiedEmbedder,
    entries: Sequence[IndexEntry],
    out: str | Path,
    specs: Mapping[str, ModalitySpec] | None = None,
    dtype: str = "float32",
    backend: str = "exact",
    batch_size: int = 32,
    media: bool = True,
    progress: bool = True,
    on_error: OnError = "raise",
    skipped: SkipReport | None = None,
    backend_options: Mapping[str, Any] | None = None,
    dim: int | None = None,
) -> VectorIndex:
    """Embed ``entries`` with ``model`` and save the index with its cards, media and input settings in ``out``,
    as a whole (:func:`unibind.atomic.write_directory`: a kill while saving leaves the previous card index).

    Inputs are loaded by ``specs`` (modality -> spec; default specs for the others); an input shared by
    several entries (a graph node's image that is also an image item) is embedded once. ``media=False``
    copies and draws nothing (cards keep their text). An input that fails to load raises ``InputError``
    naming the entry, or with ``on_error="skip"`` leaves out the entries that need it, counted in ``skipped``
    (and logged), while every other entry is embedded and saved. ``backend`` names the index backend
    (:mod:`unibind.retrieval.backends`) and ``backend_options`` its settings; a Milvus Lite database goes into
    ``out`` unless they name another URI. ``dim`` keeps the first ``dim`` dimensions of every vector
    (Matryoshka: the model must have been trained for that size), so queries are cut to it too.
    """
    out = Path(out)
    cut = check_dim(dim, model.embed_dim, model.matryoshka_dims)
    specs = {m: (specs or {}).get(m) or default_spec(m) for m in model.modalities}
    skipped = skipped if skipped is not None else SkipReport()
    vectors, drawings = _embed_inputs(model, entries, specs, batch_size, progress, on_error, skipped)
    entries = [e for e in entries if all(_key(m, raw) in vectors for m, raw in e.inputs().items())]
    if not entries:
        raise InputError(f"no item could be embedded; {skipped.count} skipped, first: {skipped.reasons[:1]}")
    index = VectorIndex(cut or model.embed_dim, backend, folder=out, dtype=dtype, **(backend_options or {}))
    item_vectors = [torch.stack([vectors[_key(m, raw)] for m, raw in e.inputs().items()]).mean(0) for e in entries]
    index.add([e.id for e in entries], truncate(torch.stack(item_vectors), cut), [e.modality for e in entries])

    def write(folder: Path) -> None:
        media_dir = folder / MEDIA_DIR
        media_dir.mkdir()
        cards = []
        for position, entry in enumerate(entries):
            key = _key(*next(iter(entry.inputs().items())))
            shown = None
            if media and entry.modality == Modality.MOTION and drawings.get(key) is not None:
                shown = render_motion(drawings[key], media_dir, position)
            elif media and (entry.media or entry.modality in (Modality.IMAGE, Modality.AUDIO)):
                shown = copy_media(entry.media or entry.raw, media_dir, position)
            cards.append(ItemCard(entry.id, entry.modality, entry.text, entry.label, shown, list(entry.neighbours)))
        write_items(folder, cards)
        write_inputs(folder, specs)

    index.save(out, write, owned=CARD_FILES)
    return index


def _key(modality: str, raw: Any) -> _Key:
    return modality, str(raw)


def _embed_inputs(
    model: UnifiedEmbedder,
    entries: Sequence[IndexEntry],
    specs: Mapping[str, ModalitySpec],
    batch_size: int,
    progress: bool,
    on_error: OnError,
    skipped: SkipReport,
) -> tuple[dict[_Key, torch.Tensor], dict[_Key, np.ndarray | None]]:
    """Vectors ``[D]`` of every distinct input of ``entries`` and the joint positions of the motion inputs; inputs
    that fail to load are absent (``on_error="skip"``, each counted in ``skipped``) or raise (``"raise"``)."""
    vectors, drawings = {}, {}
    for modality, inputs in _distinct_inputs(model, entries, specs).items():
        keys = list(inputs)
        for start in tqdm(range(0, len(keys), batch_size), desc=f"embedding {modality}", disable=not progress):
            chunk, loaded = _load_chunk(
                modality, specs[modality], inputs, keys[start : start + batch_size], on_error, skipped
            )
            if not chunk:
                continue
            batch = specs[modality].collate([sample for sample, _ in loaded])
            embedded = model.embed_batch(modality, batch)
            for key, vector, (_, positions) in zip(chunk, embedded, loaded, strict=True):
                vectors[key], drawings[key] = vector, positions
    return vectors, drawings


def _distinct_inputs(
    model: UnifiedEmbedder, entries: Sequence[IndexEntry], specs: Mapping[str, ModalitySpec]
) -> dict[str, dict[_Key, tuple[Any, str]]]:
    """Modality -> each distinct input's key -> ``(raw, id of the first entry using it)``, in entry order."""
    pending: dict[str, dict[_Key, tuple[Any, str]]] = {}
    for entry in entries:
        for modality, raw in entry.inputs().items():
            if modality not in specs:
                raise KeyError(f"item {entry.id!r}: the model has no {modality} encoder; it has {model.modalities}")
            pending.setdefault(modality, {}).setdefault(_key(modality, raw), (raw, entry.id))
    return pending


def _load_chunk(
    modality: str,
    spec: ModalitySpec,
    inputs: Mapping[_Key, tuple[Any, str]],
    keys: Sequence[_Key],
    on_error: OnError,
    skipped: SkipReport,
) -> tuple[list[_Key], list[tuple[Any, np.ndarray | None]]]:
    """``(keys loaded, (sample, positions) of each)`` of ``keys`` by :func:`load_input`; a failure raises or is
    skipped (counted in ``skipped`` and logged)."""
    chunk, loaded = [], []
    for key in keys:
        raw, entry_id = inputs[key]
        try:
            loaded.append(load_input(spec, raw, f"item {entry_id!r} ({modality})"))
        except InputError as err:
            if on_error == "raise":
                raise
            skipped.add(str(err))
            log.warning("skipping %s", err)
            continue
        chunk.append(key)
    return chunk, loaded


@torch.no_grad()
def build_index(
    model_dir: str | Path,
    manifest: str | Path,
    modalities: Sequence[str],
    out: str | Path,
    dtype: str = "float32",
    backend: str = "exact",
    batch_size: int = 64,
    on_error: OnError = "raise",
    progress: bool = True,
    media: bool = True,
    backend_options: Mapping[str, Any] | None = None,
    dim: int | None = None,
    runtime: str = "torch",
) -> VectorIndex:
    """Embed the ``modalities`` of every manifest item with the model (run by ``runtime``,
    :mod:`unibind.runtimes`); save the index and its cards under ``out``."""
    model = load_model(model_dir, runtime, modalities)
    items, skipped = read_manifest(manifest, modalities, on_error)
    suffix = len(modalities) > 1
    entries = [
        IndexEntry(
            f"{item.id}#{modality}" if suffix else item.id,
            modality,
            item.fields[modality][0] if modality == Modality.TEXT else item.fields[modality],
            text=item.fields[Modality.TEXT][0] if Modality.TEXT in item.fields else None,
            label=item.group,
        )
        for modality in modalities
        for item in items
        if modality in item.fields
    ]
    specs = {m: default_spec(m) for m in modalities}
    index = build_card_index(
        model, entries, out, specs, dtype, backend, batch_size, media, progress, on_error, skipped, backend_options, dim
    )
    if skipped.count:
        log.warning("skipped %d manifest rows or inputs: %s", skipped.count, skipped.reasons[:3])
    return index


@torch.no_grad()
def search_text(
    model_dir: str | Path,
    index_dir: str | Path,
    query: str,
    k: int = 10,
    modalities: Sequence[str] | None = None,
    hybrid: Fusion | None = None,
    depth: int = 100,
    runtime: str = "torch",
) -> list[tuple[str, float]]:
    """``(id, score)`` of the top ``k`` items for a text query.

    ``hybrid`` (``rrf`` or ``zscore``) fuses the dense top ``depth`` with BM25's top ``depth`` over the items'
    card texts (:mod:`unibind.retrieval.payload`; an image's caption, a text item's text) by
    :func:`unibind.retrieval.fuse_rankings`; the scores are then fused scores.
    """
    model = load_model(model_dir, runtime, ["text"])
    index = VectorIndex.load(index_dir)
    cut = index_query_dim(index.dim, model)
    spec = default_spec("text")
    vector = truncate(model.embed_batch("text", spec.collate([spec.load(query)])), cut)
    result = index.search(vector, depth if hybrid else k, modalities)
    dense = [(i, float(s)) for i, s in zip(result.ids[0], result.scores[0].tolist(), strict=True) if i is not None]
    if hybrid is None:
        return dense
    cards = [c for c in read_items(index_dir).values() if c.text and (modalities is None or c.modality in modalities)]
    if not cards:
        raise ValueError(f"{index_dir}: no item card carries a text for BM25; hybrid search needs a card index")
    lexical = BM25Index([c.id for c in cards], [c.text for c in cards]).search([query], depth)[0]
    return fuse_rankings([dict(dense), lexical], hybrid, top_k=k)
