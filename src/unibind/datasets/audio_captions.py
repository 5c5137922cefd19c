"""Readers for audio-caption corpora in their official layouts: Clotho and AudioCaps.

- Clotho (Drossos et al. 2020, https://arxiv.org/abs/1910.09387): ``clotho_captions_{split}.csv`` with
  ``file_name, caption_1 .. caption_5`` and the audio in ``{split}/`` (splits development, validation,
  evaluation).
- AudioCaps (Kim et al. 2019, https://aclanthology.org/N19-1011): ``{split}.csv`` with
  ``audiocap_id, youtube_id, start_time, caption`` (one row per caption; val/test clips have five) and
  the clips you downloaded in a local folder, named by one of :data:`AUDIOCAPS_FILENAMES`.

Both give :class:`AudioCaptions` items; :func:`write_manifest` turns them into the manifest format of
:mod:`unibind.datasets.manifest`, one row per clip or one row per caption (grouped by clip, for the
multi-positive loss).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unibind.datasets.manifest import ManifestError, OnError, SkipReport

#: File names tried, in order, for an AudioCaps clip.
AUDIOCAPS_FILENAMES = (
    "{youtube_id}.wav",
    "Y{youtube_id}.wav",
    "{audiocap_id}.wav",
    "{youtube_id}_{start_time}.wav",
    "{youtube_id}.flac",
    "{audiocap_id}.flac",
)


@dataclass
class AudioCaptions:
    """One clip and its captions."""

    id: str
    audio: Path
    captions: list[str]


def read_clotho(root: str | Path, split: str, on_error: OnError = "raise") -> tuple[list[AudioCaptions], SkipReport]:
    """Clotho ``split`` under ``root``; a caption row whose audio file is missing raises, or is skipped and counted."""
    root = Path(root)
    table = root / f"clotho_captions_{split}.csv"
    if not table.is_file():
        raise FileNotFoundError(f"Clotho captions not found: {table} (expected clotho_captions_{{split}}.csv)")
    skipped, items = SkipReport(), []
    with table.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        caption_columns = [c for c in reader.fieldnames or [] if c.startswith("caption_")]
        if "file_name" not in (reader.fieldnames or []) or not caption_columns:
            raise ManifestError(f"{table}: expected columns file_name, caption_1..caption_5, got {reader.fieldnames}")
        for number, row in enumerate(reader, start=2):
            try:
                audio = _existing(root / split, row["file_name"], f"{table}, row {number}, field 'file_name'")
                captions = [row[c].strip() for c in caption_columns if (row.get(c) or "").strip()]
                if not captions:
                    raise ManifestError(f"{table}, row {number}: no caption")
            except ManifestError as err:
                if on_error == "raise":
                    raise
                skipped.add(str(err))
                continue
            items.append(AudioCaptions(row["file_name"], audio, captions))
    return items, skipped


def read_audiocaps(
    table: str | Path,
    audio_dir: str | Path,
    on_error: OnError = "raise",
    filenames: Sequence[str] = AUDIOCAPS_FILENAMES,
) -> tuple[list[AudioCaptions], SkipReport]:
    """AudioCaps captions ``table`` with clips from ``audio_dir``; captions of one clip are merged.

    Clips missing from ``audio_dir`` (YouTube videos disappear) raise, or with ``on_error="skip"``
    are skipped and counted, once per clip.
    """
    table, audio_dir = Path(table), Path(audio_dir)
    if not table.is_file():
        raise FileNotFoundError(f"AudioCaps captions not found: {table}")
    expected = {"audiocap_id", "youtube_id", "start_time", "caption"}
    skipped = SkipReport()
    clips: dict[str, AudioCaptions] = {}
    missing: set[str] = set()
    with table.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not expected <= set(reader.fieldnames or []):
            raise ManifestError(f"{table}: expected columns {sorted(expected)}, got {reader.fieldnames}")
        for number, row in enumerate(reader, start=2):
            clip = f"{row['youtube_id']}_{row['start_time']}"
            if clip in missing:
                continue
            if clip not in clips:
                names = [pattern.format(**row) for pattern in filenames]
                audio = next((audio_dir / name for name in names if (audio_dir / name).is_file()), None)
                if audio is None:
                    message = (
                        f"{table}, row {number}: no audio for clip {clip} in {audio_dir} (tried {', '.join(names)})"
                    )
                    if on_error == "raise":
                        raise ManifestError(message)
                    skipped.add(message)
                    missing.add(clip)
                    continue
                clips[clip] = AudioCaptions(clip, audio, [])
            caption = row["caption"].strip()
            if caption:
                clips[clip].captions.append(caption)
    return [clip for clip in clips.values() if clip.captions], skipped


def _existing(folder: Path, name: str, where: str) -> Path:
    """``folder / name`` when it is a file inside ``folder``; a ``ManifestError`` naming ``where`` otherwise."""
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ManifestError(f"{where}: {name!r} leaves the audio folder {folder}")
    if not path.is_file():
        raise ManifestError(f"{where}: audio file not found: {path}")
    return path


def write_manifest(items: Sequence[AudioCaptions], path: str | Path, one_row_per_caption: bool = False) -> Path:
    """Write ``items`` as a JSONL manifest at ``path``; audio paths become relative to its folder.

    With ``one_row_per_caption`` each caption is its own row (id ``clip#k``) in the clip's group, so
    the multi-positive loss sees a clip's captions as positives of one another.
    """
    path = Path(path)
    root = path.parent.resolve()
    lines = []
    for item in items:
        audio = item.audio.resolve()
        if not audio.is_relative_to(root):
            raise ManifestError(f"{audio} is outside {root}: write the manifest in a folder that contains the audio")
        relative = audio.relative_to(root).as_posix()
        if one_row_per_caption:
            for k, caption in enumerate(item.captions):
                lines.append({"id": f"{item.id}#{k}", "audio": relative, "text": caption, "group": item.id})
        else:
            lines.append({"id": item.id, "audio": relative, "text": item.captions, "group": item.id})
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path
