"""``unibind eval clotho`` and ``unibind eval audiocaps``: text <-> audio retrieval on captioned clips.

Data, in the official layouts (readers in :mod:`unibind.datasets.audio_captions`):

- Clotho (Drossos et al. 2020): ``DIR/clotho_captions_<split>.csv`` and ``DIR/<split>/*.wav``; the
  benchmark split is ``evaluation`` (1,045 clips, 5 captions each).
- AudioCaps (Kim et al. 2019): ``DIR/<split>.csv`` (one row per caption) and the clips you downloaded in
  ``DIR/audio`` (or ``--audio``); the benchmark split is ``test`` (5 captions per clip). Clips no longer on
  YouTube are missing from every local copy: ``on_error="skip"`` drops them (and their captions), counted.

Protocols, as LAION-CLAP's ``evaluate_clotho_audiocaps`` (adapted from Mei et al.'s audio-text_retrieval
``t2a`` / ``a2t``) and the DCASE language-based audio retrieval task (2022-2024, task 6b / 8) compute them,
every clip of the split with all its captions:

- text -> audio: every caption is a query against all clips; its own clip is the one relevant item.
  R@k: the clip ranks in the top k. mAP@10: 1 / rank when the clip ranks within 10, else 0 (average
  precision with one relevant item; the DCASE metric).
- audio -> text: every clip is a query against all captions; its R captions are relevant. R@k: at least one
  of them in the top k. mAP@10: (1 / min(R, 10)) * sum over the top 10 of precision@i at each relevant
  position i. With R = 5 this is LAION-CLAP's / Mei et al.'s "sum of (hit number / rank) over hits within
  10, divided by 5"; a clip with another number of captions is divided by its own count (min(R, 10)).

Means over queries, in percent. Scores are cosine similarities of unit vectors; ties rank the relevant item
below the others it ties with (the worst case), so a constant scorer gets no credit. Audio goes through
``AudioSpec(crop="chunks")`` by default: every 10 s window of a clip, averaged by the encoder, so clips longer
than one window (Clotho's are 15-30 s) are heard in full; the spec used is recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from unibind.datasets.audio_captions import AudioCaptions, read_audiocaps, read_clotho
from unibind.datasets.manifest import OnError, SkipReport
from unibind.embedder import UnifiedEmbedder
from unibind.evaluation.embedding import embed_raw
from unibind.evaluation.records import MetricDefinition
from unibind.metrics.ranking import average_precision_at_k, best_relevant_rank, map_from_ranks, recall_from_ranks
from unibind.modalities import ModalitySpec, TextSpec
from unibind.modalities.settings import spec_from_settings

Benchmark = Literal["clotho", "audiocaps"]
KS = (1, 5, 10)
MAP_K = 10
DEFAULT_SPLITS = {"clotho": "evaluation", "audiocaps": "test"}
DEFAULT_AUDIO_SETTINGS: dict[str, Any] = {"crop": "chunks"}
DIRECTIONS = ("text->audio", "audio->text")

_REFERENCE = (
    "LAION-CLAP evaluate_clotho_audiocaps (github.com/LAION-AI/CLAP, src/laion_clap/training/train.py), "
    "adapted from Mei et al. audio-text_retrieval tools/utils.py t2a / a2t; DCASE language-based audio "
    "retrieval (Xie et al., arXiv 2206.06108)"
)
METRICS = (
    *(
        MetricDefinition(
            f"R@{k}",
            f"percent of queries with a relevant item in the top {k} by cosine similarity; text->audio: each "
            "caption, its own clip relevant, among all clips; audio->text: each clip, any of its captions, among "
            "all captions (ties ranked below the relevant item's competitors: worst case)",
            _REFERENCE,
        )
        for k in KS
    ),
    MetricDefinition(
        f"mAP@{MAP_K}",
        f"percent; mean over queries of AP@{MAP_K} = (1 / min(R, {MAP_K})) * sum over ranks i <= {MAP_K} of "
        "precision@i * rel_i, R the number of relevant items. text->audio (R = 1): 1 / rank of the clip within "
        f"{MAP_K}, else 0 (DCASE mAP@10); audio->text: the clip's R captions, equal to LAION-CLAP's "
        "sum(hit / rank) / 5 when R = 5 (ties worst case)",
        _REFERENCE,
    ),
)


class AudioCaptionDataError(ValueError):
    """A benchmark folder that cannot be evaluated (no clips left, no audio folder); names the folder."""


@dataclass
class AudioCaptionData:
    """The clips of one split with their captions, the files read, and what was skipped."""

    benchmark: str
    root: Path
    split: str
    clips: list[AudioCaptions]
    files: list[Path]
    skipped: SkipReport = field(default_factory=SkipReport)


def read_benchmark(
    benchmark: Benchmark,
    data: str | Path,
    split: str | None = None,
    on_error: OnError = "raise",
    audio_dir: str | Path | None = None,
) -> AudioCaptionData:
    """Read a Clotho or AudioCaps split under ``data`` (``audio_dir``: AudioCaps clips, default ``data/audio``).

    A missing clip raises naming its table row and file, or with ``on_error="skip"`` is dropped with its
    captions and counted.
    """
    root = Path(data)
    split = split or DEFAULT_SPLITS[benchmark]
    if benchmark == "clotho":
        clips, skipped = read_clotho(root, split, on_error)
        table = root / f"clotho_captions_{split}.csv"
    elif benchmark == "audiocaps":
        table = root / f"{split}.csv"
        folder = Path(audio_dir) if audio_dir is not None else root / "audio"
        if not folder.is_dir():
            raise FileNotFoundError(f"AudioCaps audio folder not found: {folder} (pass --audio DIR)")
        clips, skipped = read_audiocaps(table, folder, on_error)
    else:
        raise ValueError(f"benchmark must be clotho or audiocaps, got {benchmark!r}")
    if not clips:
        raise AudioCaptionDataError(f"{root}: no clip of split {split!r} to evaluate ({skipped.count} skipped)")
    return AudioCaptionData(benchmark, root, split, clips, [table, *(clip.audio for clip in clips)], skipped)


def audio_spec(settings: dict[str, Any] | None = None) -> ModalitySpec:
    """``AudioSpec`` with every window of a clip (``crop="chunks"``) unless ``settings`` say otherwise."""
    return spec_from_settings("audio", {**DEFAULT_AUDIO_SETTINGS, **(settings or {})})


@dataclass
class ClipEmbeddings:
    """Unit vectors of the clips that could be read and of their captions; ``caption_clip[j]`` is the row of
    ``audio`` that caption ``j`` describes."""

    clips: list[AudioCaptions]
    audio: torch.Tensor
    texts: torch.Tensor
    caption_clip: torch.Tensor


def embed_clips(
    model: UnifiedEmbedder,
    data: AudioCaptionData,
    spec: ModalitySpec | None = None,
    batch_size: int = 32,
    on_error: OnError = "raise",
    progress: bool = True,
) -> ClipEmbeddings:
    """Embed every clip (through ``spec``, default :func:`audio_spec`) and every caption of ``data``.

    A clip or caption that cannot be loaded raises naming it, or with ``on_error="skip"`` is left out and
    counted in ``data.skipped``: a clip with its captions, a caption alone (a clip left without captions is
    dropped and counted too).
    """
    missing = {"text", "audio"} - set(model.modalities)
    if missing:
        raise KeyError(f"the model has no {sorted(missing)} encoder; it has {model.modalities}")
    skipped = data.skipped if on_error == "skip" else None
    where = f"{data.benchmark} {data.split}"
    names = [f"{where}, clip {clip.id!r}" for clip in data.clips]
    paths = [clip.audio for clip in data.clips]
    audio, kept = embed_raw(model, "audio", paths, spec or audio_spec(), names, batch_size, progress, skipped)
    clips = [data.clips[i] for i in kept]
    captions = [(row, k, text) for row, clip in enumerate(clips) for k, text in enumerate(clip.captions, start=1)]
    caption_names = [f"{where}, clip {clips[row].id!r}, caption {k}" for row, k, _ in captions]
    texts, kept_captions = embed_raw(
        model, "text", [text for *_, text in captions], TextSpec(), caption_names, batch_size, progress, skipped
    )
    owner = [row for row, *_ in captions]
    caption_clip = torch.tensor([owner[j] for j in kept_captions], dtype=torch.long)
    described = set(caption_clip.tolist())
    if len(described) < len(clips):  # clips whose captions all failed: drop them too, counted
        keep = sorted(described)
        for row in sorted(set(range(len(clips))) - described):
            data.skipped.add(f"{where}, clip {clips[row].id!r}: none of its captions could be read")
        remap = torch.full((len(clips),), -1, dtype=torch.long)
        remap[keep] = torch.arange(len(keep))
        clips, audio, caption_clip = [clips[i] for i in keep], audio[keep], remap[caption_clip]
    if not clips:
        raise AudioCaptionDataError(f"{data.root}: no clip of split {data.split!r} could be embedded")
    return ClipEmbeddings(clips, audio, texts, caption_clip)


def retrieval_metrics(
    audio: torch.Tensor,
    texts: torch.Tensor,
    caption_clip: torch.Tensor,
    ks: Sequence[int] = KS,
    map_k: int = MAP_K,
    chunk_size: int = 1024,
) -> dict[str, dict[str, float]]:
    """R@k and mAP@``map_k`` (percent) in both directions from unit vectors ``audio [N, D]``, ``texts [M, D]``
    and the clip row of each caption ``caption_clip [M]`` (see the module docstring).

    One score matrix ``texts @ audio.T`` serves both directions; queries are ranked ``chunk_size`` at a time.
    """
    similarity = texts.float() @ audio.float().T  # [M captions, N clips]
    clips, captions = audio.shape[0], texts.shape[0]
    clip_ids = torch.arange(clips)
    ranks = torch.cat(
        [
            best_relevant_rank(similarity[s : s + chunk_size], caption_clip[s : s + chunk_size, None] == clip_ids)
            for s in range(0, captions, chunk_size)
        ]
    )
    text_to_audio = {**recall_from_ranks(ranks, clips, ks), f"mAP@{map_k}": map_from_ranks(ranks, map_k)}
    ranks, ap_sum = [], 0.0
    for s in range(0, clips, chunk_size):
        scores = similarity[:, s : s + chunk_size].T.contiguous()  # [chunk clips, M captions]
        relevant = clip_ids[s : s + chunk_size, None] == caption_clip[None, :]
        ranks.append(best_relevant_rank(scores, relevant))
        ap_sum += average_precision_at_k(scores, relevant, map_k) * len(scores)
    audio_to_text = {**recall_from_ranks(torch.cat(ranks), captions, ks), f"mAP@{map_k}": ap_sum / clips}
    return {
        direction: {name: 100.0 * value for name, value in values.items()}
        for direction, values in zip(DIRECTIONS, (text_to_audio, audio_to_text), strict=True)
    }


def evaluate_audio_captions(
    model: UnifiedEmbedder,
    data: AudioCaptionData,
    spec: ModalitySpec | None = None,
    batch_size: int = 32,
    on_error: OnError = "raise",
    progress: bool = True,
) -> dict[str, Any]:
    """``rows`` (``text->audio`` and ``audio->text``: R@1/5/10, mAP@10 in percent) and ``details``."""
    spec = spec or audio_spec()
    embedded = embed_clips(model, data, spec, batch_size, on_error, progress)
    rows = retrieval_metrics(embedded.audio, embedded.texts, embedded.caption_clip)
    per_clip = Counter(embedded.caption_clip.tolist()).values()
    details = {
        "clips": len(embedded.clips),
        "captions": len(embedded.caption_clip),
        "captions_per_clip": {str(n): c for n, c in sorted(Counter(per_clip).items())},
        "skipped": data.skipped.count,
        "skip_reasons": data.skipped.reasons,
        "split": data.split,
        "audio_spec": repr(spec),
    }
    return {"rows": rows, "details": details}


def results_table(rows: dict[str, dict[str, float]], details: dict[str, Any]) -> str:
    """Markdown: one line per direction with its query and candidate counts."""
    counts = {
        "text->audio": (details["captions"], details["clips"]),
        "audio->text": (details["clips"], details["captions"]),
    }
    names = [*(f"R@{k}" for k in KS), f"mAP@{MAP_K}"]
    lines = [
        "| direction | queries | candidates | " + " | ".join(names) + " |",
        "|---|---:|---:|" + "---:|" * len(names),
    ]
    for direction, values in rows.items():
        queries, candidates = counts[direction]
        cells = " | ".join(f"{values[name]:.2f}" for name in names)
        lines.append(f"| {direction} | {queries} | {candidates} | {cells} |")
    return "\n".join(lines)
