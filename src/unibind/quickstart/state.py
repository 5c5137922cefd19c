"""What a quickstart run was asked to do (:class:`Options`) and what its stages have made (:class:`Quickstart`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from unibind.datasets.emoji import EmojiCorpus
from unibind.datasets.mocap_corpus import MocapCorpus
from unibind.datasets.sounds import SoundCorpus
from unibind.embedder import UnifiedEmbedder
from unibind.encoders.base import Encoder
from unibind.quickstart.evaluate import Ranks
from unibind.quickstart.features import FeatureTable
from unibind.quickstart.motion import MotionTable
from unibind.quickstart.paired import PairedTable
from unibind.quickstart.sounds import SoundTable
from unibind.retrieval import VectorIndex


@dataclass(frozen=True)
class Options:
    """The arguments of :func:`unibind.quickstart.run.run_quickstart`, which documents them."""

    out: Path
    corpus_dir: str | Path | None
    epochs: int
    progress: bool
    english_minilm: bool
    with_speech: bool
    with_sounds: bool
    sounds_dir: str | Path | None
    with_motion: bool
    motion_dir: str | Path | None
    with_graph: bool
    graph_epochs: int
    index_backend: str


@dataclass
class Results:
    """The evaluation's numbers, in the shapes ``metrics.json`` and the report tables take them."""

    languages: list[str] = field(default_factory=list)
    ranks: dict[str, dict[str, dict[str, Ranks]]] = field(default_factory=dict)
    recall: dict[str, dict] = field(default_factory=dict)
    speech: dict[str, dict] = field(default_factory=dict)
    zero_shot: dict[str, dict] = field(default_factory=dict)
    sounds: dict[str, dict] = field(default_factory=dict)
    sounds_zero_shot: dict[str, dict] = field(default_factory=dict)
    motion: dict[str, dict] = field(default_factory=dict)
    motion_queries: list[dict] = field(default_factory=list)
    espeak: dict[str, dict] = field(default_factory=dict)
    graph: dict[str, Any] | None = None
    english_minilm: dict[str, dict] | None = None
    matryoshka: dict[str, dict] = field(default_factory=dict)
    expert_usage: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Quickstart:
    """One run: its options, then each stage's output (``None`` / empty until made, or when skipped)."""

    options: Options
    timings: dict[str, float] = field(default_factory=dict)
    corpus: EmojiCorpus | None = None
    speech: dict[str, Path] | None = None  # emoji id -> its English name spoken by piper
    sound_corpus: SoundCorpus | None = None
    mocap: MocapCorpus | None = None
    towers: dict[str, Encoder] = field(default_factory=dict)
    cache: Path | None = None  # the feature cache folder
    table: FeatureTable | None = None
    sounds: SoundTable | None = None
    motions: MotionTable | None = None
    espeak: dict[str, torch.Tensor] = field(default_factory=dict)  # language -> held-out names spoken by espeak-ng
    english: FeatureTable | None = None  # English captions through all-MiniLM-L6-v2
    trained: dict[str, UnifiedEmbedder] = field(default_factory=dict)
    trained_english: UnifiedEmbedder | None = None
    matryoshka: UnifiedEmbedder | None = None
    results: Results = field(default_factory=Results)
    full_model: UnifiedEmbedder | None = None  # the MoE behind the real towers, as saved in model/
    demo: VectorIndex | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def extras(self) -> list[PairedTable]:
        """The tables trained next to the emoji: labelled sounds and mocap windows, where made."""
        return [extra for extra in (self.sounds, self.motions) if extra is not None]
