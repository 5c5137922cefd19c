"""What an index shows of its items: ``items.jsonl``, the ``media/`` folder and ``inputs.json``.

Next to the vectors (:class:`~unibind.retrieval.VectorIndex`) an index folder may carry, for a demo or any
front end:

- ``items.jsonl``: one :class:`ItemCard` per index id: its modality, text (a caption or a name), label, the
  name of its media file and, for graph nodes, its neighbours.
- ``media/``: a copy of each image and audio item's file, or a GIF of each motion item (a stick figure),
  named by the item's position in the index and the file's type (``12.png``), never by its id or source path.
- ``inputs.json``: the settings of the modality specs the items were loaded with, so that queries are
  loaded the same way (:mod:`unibind.modalities.settings`).

Each file is written atomically (:func:`unibind.atomic.atomic_write_text`);
:func:`unibind.retrieval.build.build_card_index` saves the whole card index as one
(:func:`unibind.atomic.write_directory`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from unibind.atomic import atomic_write_text
from unibind.datasets.text_files import read_jsonl
from unibind.modalities import ModalitySpec
from unibind.modalities.settings import spec_from_settings, spec_settings
from unibind.motion.render import save_gif

ITEMS_NAME = "items.jsonl"
INPUTS_NAME = "inputs.json"
MEDIA_DIR = "media"
# media types copied into an index, by suffix: what a browser can show or play
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".mp3": "audio/mpeg",
}


@dataclass
class Neighbour:
    """A graph neighbour on a node's card: its text, the edge's type and its index id (None: not indexed)."""

    text: str
    relation: str | None = None
    id: str | None = None


@dataclass
class ItemCard:
    """What a front end shows of one indexed item.

    Args:
        id: the item's index id.
        modality: its modality.
        text: a caption, a name or the text itself.
        label: a class or group name.
        media: file name under ``media/`` (None: nothing to show but the text).
        neighbours: graph nodes only, the node's neighbours.
    """

    id: str
    modality: str
    text: str | None = None
    label: str | None = None
    media: str | None = None
    neighbours: list[Neighbour] = field(default_factory=list)

    @classmethod
    def from_json(cls, row: Mapping) -> ItemCard:
        neighbours = [Neighbour(**n) for n in row.get("neighbours", [])]
        return cls(row["id"], row["modality"], row.get("text"), row.get("label"), row.get("media"), neighbours)


def copy_media(source: str | Path, media_dir: Path, position: int) -> str:
    """Copy an image or audio file into ``media_dir`` as ``<position><suffix>``; returns the new name."""
    suffix = Path(source).suffix.lower()
    if suffix not in MEDIA_TYPES:
        raise ValueError(f"{source}: media of type {suffix!r} cannot be shown; expected one of {sorted(MEDIA_TYPES)}")
    name = f"{position}{suffix}"
    shutil.copyfile(source, media_dir / name)
    return name


def render_motion(positions: np.ndarray, media_dir: Path, position: int) -> str:
    """A looping stick-figure GIF of ``positions: [T, 15, 3]`` in ``media_dir``; returns its name."""
    name = f"{position}.gif"
    save_gif(positions, media_dir / name, size=160)
    return name


def write_items(index_dir: str | Path, cards: Iterable[ItemCard]) -> Path:
    """Write ``items.jsonl`` (one card per line) into ``index_dir``."""
    lines = "".join(json.dumps(asdict(card), ensure_ascii=False) + "\n" for card in cards)
    return atomic_write_text(Path(index_dir) / ITEMS_NAME, lines)


def read_items(index_dir: str | Path) -> dict[str, ItemCard]:
    """The cards of ``index_dir`` by id (empty when the index has no ``items.jsonl``)."""
    path = Path(index_dir) / ITEMS_NAME
    if not path.is_file():
        return {}
    cards = [ItemCard.from_json(row) for _, row in read_jsonl(path, unit="line")]
    return {card.id: card for card in cards}


def write_inputs(index_dir: str | Path, specs: Mapping[str, ModalitySpec]) -> Path:
    """Write the settings of ``specs`` (modality -> spec) into ``inputs.json``."""
    settings = {modality: spec_settings(spec) for modality, spec in specs.items()}
    return atomic_write_text(Path(index_dir) / INPUTS_NAME, json.dumps(settings, indent=2))


def read_inputs(index_dir: str | Path) -> dict[str, ModalitySpec]:
    """The specs an index was built with, by modality (empty when it has no ``inputs.json``)."""
    path = Path(index_dir) / INPUTS_NAME
    if not path.is_file():
        return {}
    return {m: spec_from_settings(m, settings) for m, settings in json.loads(path.read_text()).items()}
