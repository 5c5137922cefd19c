"""``encode()``: embed any inputs with any unibind model (PyTorch or exported), the one embedding loop.

Inputs are strings, paths, images, arrays or graph batches, or a list mixing them. Each item's modality is
``modality`` when given, else inferred from the item (:func:`infer_modality`). Items are grouped by modality,
loaded by the modality's spec (``InputError`` naming the item when one cannot be), batched ``batch_size`` at
a time, embedded by the model's ``embed_batch(modality, batch)`` and returned ``[N, D]`` in input order.

Matryoshka (Kusupati et al. 2022, https://arxiv.org/abs/2205.13147): ``dim=d`` keeps the first ``d``
dimensions of each embedding and normalises again; a model trained with a Matryoshka loss records the
dimensions it was trained for (``matryoshka_dims``), and only those (and the full size) are accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from unibind.modalities import GraphBatch, InputError, ModalitySpec, default_spec
from unibind.modalities.suffixes import modality_of_suffix

ConvertTo = Literal["torch", "numpy"]
OnError = Literal["raise", "skip"]
#: The array rank each array modality takes when none is named: an image [H, W, C] / [C, H, W], a motion
#: [frames, features], an audio waveform [frames].
ARRAY_MODALITIES = {3: "image", 2: "motion", 1: "audio"}


class Embeds(Protocol):
    """What :func:`encode` needs of a model: its modalities, sizes and one batch's aligned embeddings."""

    embed_dim: int
    matryoshka_dims: tuple[int, ...] | None

    @property
    def modalities(self) -> list[str]: ...

    def embed_batch(self, modality: str, batch: Any) -> torch.Tensor:
        """Aligned embeddings ``[B, D]`` of a collated batch of ``modality``."""


def infer_modality(item: Any) -> str:
    """The modality of one input: a path (or a string that is one, see :func:`_names_a_file`) by its suffix, any
    other string is text; a PIL image is an image; an array or tensor by its rank (:data:`ARRAY_MODALITIES`); a
    :class:`~unibind.modalities.GraphBatch` is a graph. Anything else raises ``InputError``."""
    if isinstance(item, Path) or (isinstance(item, str) and _names_a_file(item)):
        modality = modality_of_suffix(item)
        if modality is None:
            raise InputError(f"{item}: no modality reads {Path(item).suffix or 'files without a suffix'!r} files; "
                             "pass modality=")  # fmt: skip
        return modality
    if isinstance(item, str):
        return "text"
    if isinstance(item, Image.Image):
        return "image"
    if isinstance(item, GraphBatch):
        return "graph"
    if isinstance(item, np.ndarray | torch.Tensor) and item.ndim in ARRAY_MODALITIES:
        return ARRAY_MODALITIES[item.ndim]
    shape = f" of shape {tuple(item.shape)}" if hasattr(item, "shape") else ""
    raise InputError(f"cannot tell the modality of a {type(item).__name__}{shape}; pass modality=")


def _names_a_file(text: str) -> bool:
    """A string is a file's path when it ends in a file modality's suffix and has no whitespace (a missing file
    then fails to load with an error naming it, rather than being embedded as text), or names an existing file."""
    if len(text) > 1000 or modality_of_suffix(text) is None:
        return False
    if not any(c.isspace() for c in text):
        return True
    try:
        return Path(text).is_file()
    except OSError:  # a name too long for the file system
        return False


def check_dim(dim: int | None, embed_dim: int, trained: Sequence[int] | None) -> int | None:
    """``dim`` if a model of ``embed_dim`` trained for Matryoshka ``trained`` dimensions can give it, else raise.

    ``None`` and ``embed_dim`` are always accepted (no truncation).
    """
    if dim is None or dim == embed_dim:
        return None
    if not trained:
        raise ValueError(f"dim={dim}: this model was not trained for smaller dimensions (Matryoshka); it gives "
                         f"{embed_dim}")  # fmt: skip
    if dim not in trained:
        raise ValueError(f"dim={dim}: this model was trained for dimensions {sorted(trained)} (of {embed_dim})")
    return dim


def index_query_dim(index_dim: int, model: Embeds) -> int | None:
    """The prefix size ``model``'s queries are cut to for an index of ``index_dim``-d vectors (None: whole), or
    ``ValueError`` when the model cannot give vectors of that size."""
    try:
        return check_dim(index_dim, model.embed_dim, model.matryoshka_dims)
    except ValueError as err:
        raise ValueError(f"the index holds {index_dim}-d vectors, the model makes {model.embed_dim}-d ones "
                         f"({err})") from None  # fmt: skip


def truncate(vectors: torch.Tensor, dim: int | None, normalize: bool = True) -> torch.Tensor:
    """The first ``dim`` dimensions of ``vectors [N, D]`` (all when None), L2-normalised when ``normalize``."""
    if dim is not None:
        vectors = vectors[:, :dim]
    return torch.nn.functional.normalize(vectors, dim=-1) if normalize else vectors


@torch.no_grad()
def encode(
    model: Embeds,
    inputs: Any,
    modality: str | None = None,
    batch_size: int = 32,
    normalize: bool = True,
    dim: int | None = None,
    show_progress_bar: bool | None = None,
    convert_to: ConvertTo = "torch",
    on_error: OnError = "raise",
    specs: Mapping[str, ModalitySpec] | None = None,
    names: Sequence[str] | None = None,
    on_skip: Callable[[int, str], object] | None = None,
) -> torch.Tensor | np.ndarray | tuple[torch.Tensor | np.ndarray, list[int]]:
    """Embeddings ``[N, D]`` (``[N, dim]``) of ``inputs`` in input order; see the module docstring.

    A single input (a string, a path, an image ...) gives ``[1, D]``; a list gives one row per item.
    ``specs`` override the default spec per modality and ``names`` name the items in errors (default:
    ``input i``). ``show_progress_bar=None`` shows one for more than ``batch_size`` inputs. With
    ``on_error="skip"`` an item that fails to load is left out and ``(embeddings, skipped positions)`` is
    returned (``on_skip(position, error message)`` is called for each); with ``"raise"`` the error names the
    item and only the embeddings are returned.
    """
    _check_options(on_error, convert_to, batch_size)
    items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    names = list(names) if names is not None else [f"input {i}" for i in range(len(items))]
    cut = check_dim(dim, model.embed_dim, model.matryoshka_dims)
    failures = _Failures(on_error, on_skip)
    groups = _group_by_modality(model, items, names, modality, failures)
    progress = len(items) > batch_size if show_progress_bar is None else show_progress_bar
    rows: dict[int, torch.Tensor] = {}
    for group, positions in groups.items():
        spec = (specs or {}).get(group) or default_spec(group)
        starts = range(0, len(positions), batch_size)
        for start in tqdm(starts, desc=f"encoding {group}", disable=not progress):
            loaded, samples = _load_batch(spec, items, names, positions[start : start + batch_size], failures)
            if samples:
                vectors = model.embed_batch(group, spec.collate(samples)).float()
                rows.update(zip(loaded, truncate(vectors, cut, normalize), strict=True))
    embeddings = _in_input_order(rows, cut or model.embed_dim)
    result = embeddings.numpy() if convert_to == "numpy" else embeddings
    return (result, sorted(failures.skipped)) if on_error == "skip" else result


def _check_options(on_error: str, convert_to: str, batch_size: int) -> None:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if convert_to not in ("torch", "numpy"):
        raise ValueError(f"convert_to must be 'torch' or 'numpy', got {convert_to!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")


@dataclass
class _Failures:
    """What :func:`encode` does with an input it cannot read (``on_error``), and the positions it ``skipped``."""

    on_error: OnError
    on_skip: Callable[[int, str], object] | None
    skipped: list[int] = field(default_factory=list)

    def skip(self, position: int, message: str) -> None:
        """Leave the input at ``position`` out, telling ``on_skip`` why."""
        self.skipped.append(position)
        if self.on_skip is not None:
            self.on_skip(position, message)


def _group_by_modality(
    model: Embeds, items: list[Any], names: list[str], modality: str | None, failures: _Failures
) -> dict[str, list[int]]:
    """Modality -> the positions of its items, in input order; ``modality`` (when given) for every item.

    An item whose modality cannot be told raises ``InputError`` naming it, or is skipped; a modality the model
    has no encoder for raises ``KeyError``.
    """
    groups: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        try:
            wanted = modality or infer_modality(item)
        except InputError as error:
            if failures.on_error == "raise":
                raise InputError(f"{names[position]}: {error}") from None
            failures.skip(position, f"{names[position]}: {error}")
            continue
        if wanted not in model.modalities:
            raise KeyError(f"{names[position]}: the model has no {wanted} encoder; it has {model.modalities}")
        groups.setdefault(wanted, []).append(position)
    return groups


def _load_batch(
    spec: ModalitySpec, items: list[Any], names: list[str], positions: list[int], failures: _Failures
) -> tuple[list[int], list[Any]]:
    """``(positions loaded, samples)`` of the items at ``positions``; an item that fails raises or is skipped."""
    loaded, samples = [], []
    for position in positions:
        try:
            samples.append(spec.load(items[position], item=names[position]))
        except InputError as error:
            if failures.on_error == "raise":
                raise
            failures.skip(position, str(error))
            continue
        loaded.append(position)
    return loaded, samples


def _in_input_order(rows: dict[int, torch.Tensor], width: int) -> torch.Tensor:
    """The rows ``position -> [D]`` stacked by position into ``[N, D]``; ``[0, width]`` when there are none."""
    order = sorted(rows)
    return torch.stack([rows[p] for p in order]) if order else torch.empty(0, width)
