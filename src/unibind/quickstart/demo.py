"""The quickstart's demo index: its held-out items of every modality, searchable with ``unibind serve``.

Items (ids prefixed by kind): ``emoji:`` the test emoji images and ``name:`` their English names; ``speech:``
the names spoken by piper; ``sound:`` the test instrument notes and event sounds; ``motion:`` the held-out
mocap windows (drawn as stick-figure GIFs); ``node:`` the test emoji as graph nodes, each embedded as the mean
of its image and name embeddings (the quickstart's GAT tower has a space of its own and is not part of
``model/``) and shown with its emoji-graph neighbours (shared rare keywords, Unicode sub-group).
"""

from __future__ import annotations

import shlex
import sys
from collections import defaultdict
from pathlib import Path

from unibind.datasets.emoji import EmojiCorpus
from unibind.datasets.emoji_graph import emoji_graph_edges
from unibind.datasets.mocap_corpus import MocapCorpus
from unibind.datasets.sounds import SoundCorpus
from unibind.embedder import UnifiedEmbedder
from unibind.quickstart.features import IMAGE_SPEC, TEXT_SPEC
from unibind.quickstart.motion import MOTION_SPEC
from unibind.quickstart.sounds import SOUND_SPEC
from unibind.quickstart.state import Quickstart
from unibind.retrieval import VectorIndex
from unibind.retrieval.build import IndexEntry, build_card_index
from unibind.retrieval.payload import Neighbour

SPLIT = "test"
MAX_NEIGHBOURS = 12


def emoji_entries(corpus: EmojiCorpus, speech: dict[str, Path] | None = None) -> list[IndexEntry]:
    """The held-out emoji: each image, its English name and, with ``speech``, the name spoken."""
    entries = []
    for row in corpus.rows(SPLIT):
        name, category = row["names"]["en"], row["category"]
        entries.append(IndexEntry(f"emoji:{row['id']}", "image", corpus.root / row["image"], name, category))
        entries.append(IndexEntry(f"name:{row['id']}", "text", name, name, category))
        if speech is not None and row["id"] in speech:
            entries.append(IndexEntry(f"speech:{row['id']}", "audio", speech[row["id"]], f"{name} (spoken)", category))
    return entries


def sound_entries(corpus: SoundCorpus) -> list[IndexEntry]:
    """The held-out instrument notes and event sounds, captioned with their names."""
    return [
        IndexEntry(f"sound:{row['id']}", "audio", corpus.root / row["audio"], row["text"][0], row["family"])
        for row in corpus.rows(SPLIT)
    ]


def motion_entries(corpus: MocapCorpus) -> list[IndexEntry]:
    """The held-out mocap windows, captioned with their clip's label."""
    return [
        IndexEntry(f"motion:{row['id']}", "motion", corpus.root / row["motion"], row["text"][0], row["clip"])
        for row in corpus.rows(SPLIT)
    ]


def graph_entries(corpus: EmojiCorpus) -> list[IndexEntry]:
    """The held-out emoji as graph nodes (image and name as attributes) with their emoji-graph neighbours."""
    rows = corpus.rows()
    names = {row["id"]: row["names"]["en"] for row in rows}
    held_out = [row for row in rows if row["split"] == SPLIT]
    indexed = {row["id"] for row in held_out}
    relations: dict[str, dict[str, list[str]]] = defaultdict(dict)  # node -> neighbour -> edge types
    for source, target, relation in emoji_graph_edges(rows):
        for node, other in ((source, target), (target, source)):
            if node in indexed:
                relations[node].setdefault(other, []).append(relation)
    neighbours = {
        node: [
            Neighbour(names[other], ", ".join(types), f"node:{other}" if other in indexed else None)
            for other, types in by_other.items()
        ]
        for node, by_other in relations.items()
    }
    return [
        IndexEntry(
            f"node:{row['id']}",
            "graph",
            {"image": corpus.root / row["image"], "text": row["names"]["en"]},
            row["names"]["en"],
            row["category"],
            media=corpus.root / row["image"],
            neighbours=neighbours.get(row["id"], [])[:MAX_NEIGHBOURS],
        )
        for row in held_out
    ]


def build_demo_index(
    model: UnifiedEmbedder,
    out: str | Path,
    corpus: EmojiCorpus,
    speech: dict[str, Path] | None = None,
    sounds: SoundCorpus | None = None,
    mocap: MocapCorpus | None = None,
    with_graph: bool = True,
    progress: bool = True,
    backend: str = "exact",
) -> VectorIndex:
    """The held-out items of every corpus given, embedded by ``model`` with the quickstart's input specs, in an
    index on ``backend`` (e.g. ``milvus``: a Milvus Lite database inside ``out``)."""
    entries = emoji_entries(corpus, speech)
    if sounds is not None:
        entries += sound_entries(sounds)
    if mocap is not None and "motion" in model.modalities:
        entries += motion_entries(mocap)
    if with_graph:
        entries += graph_entries(corpus)
    specs = {"image": IMAGE_SPEC, "text": TEXT_SPEC, "audio": SOUND_SPEC, "motion": MOTION_SPEC}
    return build_card_index(model, entries, out, specs, backend=backend, progress=progress)


def serve_command(model_dir: Path, index_dir: Path) -> str:
    """The shell command that serves ``index_dir`` with ``model_dir`` (the ``unibind`` of this environment)."""
    unibind = Path(sys.executable).parent / "unibind"
    if unibind.is_relative_to(Path.cwd()):
        unibind = unibind.relative_to(Path.cwd())
    return shlex.join([str(unibind), "serve", "--model", str(model_dir), "--index", str(index_dir)])


def demo_index(run: Quickstart) -> None:
    """The quickstart's demo index (``index/``), served with its saved MoE."""
    options = run.options
    run.demo = build_demo_index(
        run.full_model,
        options.out / "index",
        run.corpus,
        run.speech,
        run.sound_corpus,
        run.mocap,
        with_graph=options.with_graph,
        progress=options.progress,
        backend=options.index_backend,
    )
