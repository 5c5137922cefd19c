"""Embedding benchmark inputs with a saved model: texts, image files, and text + image pairs mixed into one vector.

A query or candidate that carries both a text and an image (MMEB's "represent the given image with the
following question", composed-image retrieval, ...) becomes one vector: each part goes through the model
(its tower, projection head and the MoE aligner), the two unit vectors are mixed,
``normalize(w * image + (1 - w) * text)`` with ``image_weight = w`` (0.5 by default: the plain sum of the
two aligned unit vectors; 1.0 keeps the image only), and the mix is L2-normalised again. This is the
multimodal mode of VLM2Vec's CLIP baselines (sum of the image and text features) on the aligned space.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from unibind.datasets.manifest import SkipReport
from unibind.embedder import UnifiedEmbedder
from unibind.modalities import ModalitySpec, default_spec


class TextImageEmbedder(Protocol):
    """What the evaluators need: unit vectors ``[N, D]`` for texts and for image files."""

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor: ...

    def embed_images(self, paths: Sequence[Path], items: Sequence[str] | None = None) -> torch.Tensor: ...


def mix(text: torch.Tensor, image: torch.Tensor, image_weight: float = 0.5) -> torch.Tensor:
    """``normalize(w * image + (1 - w) * text)`` row by row; ``text``, ``image``: ``[N, D]`` unit vectors."""
    if not 0.0 <= image_weight <= 1.0:
        raise ValueError(f"image_weight must be in [0, 1], got {image_weight}")
    return torch.nn.functional.normalize(image_weight * image + (1.0 - image_weight) * text, dim=-1)


def embed_pairs(
    embedder: TextImageEmbedder,
    texts: Sequence[str],
    images: Sequence[Path | None],
    image_weight: float = 0.5,
    items: Sequence[str] | None = None,
) -> torch.Tensor:
    """One vector per input: text only (image ``None``), image only (empty text), or both mixed.

    Each distinct text and each distinct image is embedded once. ``items`` name the inputs in errors.
    Returns ``[N, D]`` unit vectors.
    """
    if len(texts) != len(images):
        raise ValueError(f"{len(texts)} texts but {len(images)} images")
    names = list(items) if items is not None else [f"input {i}" for i in range(len(texts))]
    for text, image, name in zip(texts, images, names, strict=True):
        if not text and image is None:
            raise ValueError(f"{name}: neither text nor image")
    unique_texts = list(dict.fromkeys(t for t in texts if t))
    first_use = {}
    for image, name in zip(images, names, strict=True):
        if image is not None:
            first_use.setdefault(image, name)
    unique_images = list(first_use)
    text_vectors = dict(zip(unique_texts, embedder.embed_texts(unique_texts), strict=True)) if unique_texts else {}
    image_vectors = (
        dict(zip(unique_images, embedder.embed_images(unique_images, list(first_use.values())), strict=True))
        if unique_images
        else {}
    )
    rows = []
    for text, image in zip(texts, images, strict=True):
        if text and image is not None:
            rows.append(mix(text_vectors[text][None], image_vectors[image][None], image_weight)[0])
        else:
            rows.append(text_vectors[text] if text else image_vectors[image])
    return torch.stack(rows)


def embed_raw(
    model: UnifiedEmbedder,
    modality: str,
    raws: Sequence[Any],
    spec: ModalitySpec | None = None,
    names: Sequence[str] | None = None,
    batch_size: int = 64,
    progress: bool = False,
    skipped: SkipReport | None = None,
) -> tuple[torch.Tensor, list[int]]:
    """``(vectors [K, D], kept)``: :meth:`UnifiedEmbedder.encode` of raw inputs of one ``modality``.

    ``names`` name the inputs in load errors. An input that fails to load raises
    :class:`~unibind.errors.InputError`, or, given a ``skipped`` report, is counted there and left
    out: ``kept`` lists the positions of the inputs that have a vector.
    """
    names = list(names) if names is not None else [f"{modality} input {i}" for i in range(len(raws))]
    options = {"specs": {modality: spec} if spec else None, "names": names, "show_progress_bar": progress}
    if skipped is None:
        return model.encode(list(raws), modality, batch_size, **options), list(range(len(raws)))
    vectors, left_out = model.encode(
        list(raws), modality, batch_size, on_error="skip", on_skip=lambda _, message: skipped.add(message), **options
    )
    return vectors, sorted(set(range(len(raws))) - set(left_out))


class ModelEmbedder:
    """A saved :class:`UnifiedEmbedder` behind :class:`TextImageEmbedder`, inputs through the default specs.

    The model needs a text encoder; an image encoder only if images are embedded.
    """

    def __init__(self, model: UnifiedEmbedder, batch_size: int = 64, progress: bool = True) -> None:
        if "text" not in model.modalities:
            raise ValueError(f"the model has no text encoder (it has {model.modalities})")
        self.model = model.eval()
        self.batch_size = batch_size
        self.progress = progress
        self.text_spec = default_spec("text")
        self.image_spec = default_spec("image")

    @classmethod
    def from_pretrained(cls, directory: str | Path, **kwargs) -> ModelEmbedder:
        return cls(UnifiedEmbedder.from_pretrained(directory, modalities=["text", "image"]), **kwargs)

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return embed_raw(self.model, "text", texts, self.text_spec, None, self.batch_size, self.progress)[0]

    def embed_images(self, paths: Sequence[Path], items: Sequence[str] | None = None) -> torch.Tensor:
        if "image" not in self.model.modalities:
            raise ValueError(f"the model has no image encoder (it has {self.model.modalities})")
        names = list(items) if items is not None else [str(p) for p in paths]
        return embed_raw(self.model, "image", paths, self.image_spec, names, self.batch_size, self.progress)[0]
