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

The tables are read by the shared CSV reader of :mod:`unibind.datasets.text_files` (UTF-8, byte-order mark
accepted, strict quoting). A bad row raises ``ManifestError`` naming the table and row, or with
``on_error="skip"`` is dropped and counted: a line that is not UTF-8, broken quoting, more fields than the
header, an empty required field (Clotho ``file_name``; AudioCaps ``audiocap_id``, ``youtube_id``,
``start_time``, ``caption``), a Clotho row without captions or repeating an earlier ``file_name``, an audio
path that leaves the audio folder, a missing audio file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unibind.datasets.manifest import OnError, SkipReport
from unibind.datasets.text_files import ManifestError, is_file, read_table, resolve_file, resolve_inside

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
    """Clotho ``split`` under ``root``; a bad caption row (e.g. its audio file is missing) raises, or is skipped
    and counted."""
    root = Path(root)
    table = root / f"clotho_captions_{split}.csv"
    if not table.is_file():
        raise FileNotFoundError(f"Clotho captions not found: {table} (expected clotho_captions_{{split}}.csv)")
    skipped, items = SkipReport(), []
    bad = skipped.handler(on_error)
    folder = (root / split).resolve()
    header, rows = read_table(table, ",", "row", bad)
    caption_columns = [c for c in header if c.startswith("caption_")]
    if "file_name" not in header or not caption_columns:
        raise ManifestError(f"{table}: expected columns file_name, caption_1..caption_5, got {header}")
    first_row: dict[str, int] = {}
    for number, row in rows:
        name = row.get("file_name", "")
        try:
            if not name.strip():
                raise ManifestError(f"{table}, row {number}, field 'file_name': empty")
            if name in first_row:
                raise ManifestError(f"{table}, row {number}: file_name {name!r} repeats row {first_row[name]}")
            where = f"{table}, row {number}, field 'file_name'"
            audio = resolve_file(folder, name, where, "the audio folder", kind="audio file")
            captions = [row[c].strip() for c in caption_columns if row.get(c, "").strip()]
            if not captions:
                raise ManifestError(f"{table}, row {number}: no caption")
        except ManifestError as err:
            bad(err)
            continue
        first_row[name] = number
        items.append(AudioCaptions(name, audio, captions))
    return items, skipped


def read_audiocaps(
    table: str | Path,
    audio_dir: str | Path,
    on_error: OnError = "raise",
    filenames: Sequence[str] = AUDIOCAPS_FILENAMES,
) -> tuple[list[AudioCaptions], SkipReport]:
    """AudioCaps captions ``table`` with clips from ``audio_dir``; captions of one clip are merged.

    Clips missing from ``audio_dir`` (YouTube videos disappear) raise, or with ``on_error="skip"``
    are skipped and counted, once per clip; other bad rows (see the module) likewise, once per row.
    """
    table, audio_dir = Path(table), Path(audio_dir)
    if not table.is_file():
        raise FileNotFoundError(f"AudioCaps captions not found: {table}")
    expected = ("audiocap_id", "youtube_id", "start_time", "caption")
    skipped = SkipReport()
    bad = skipped.handler(on_error)
    clips: dict[str, AudioCaptions] = {}
    missing: set[str] = set()
    folder = audio_dir.resolve()
    header, rows = read_table(table, ",", "row", bad)
    if not set(expected) <= set(header):
        raise ManifestError(f"{table}: expected columns {sorted(expected)}, got {header}")
    for number, row in rows:
        try:
            empty = [name for name in expected if not row.get(name, "").strip()]
            if empty:
                raise ManifestError(f"{table}, row {number}, field {empty[0]!r}: empty")
            clip = f"{row['youtube_id']}_{row['start_time']}"
            if clip in missing:
                continue
            if clip not in clips:
                clips[clip] = AudioCaptions(clip, _find_clip(folder, row, filenames, f"{table}, row {number}"), [])
        except _MissingClipError as err:
            bad(ManifestError(str(err)))
            missing.add(clip)
            continue
        except ManifestError as err:
            bad(err)
            continue
        clips[clip].captions.append(row["caption"].strip())
    return list(clips.values()), skipped


class _MissingClipError(ManifestError):
    pass


def _find_clip(folder: Path, row: dict[str, str], filenames: Sequence[str], where: str) -> Path:
    """The first of ``filenames`` (formatted with the row) that is a file in ``folder``; a name leaving the
    folder raises ``ManifestError``, no file at all ``_MissingClipError``."""
    names = [pattern.format(**row) for pattern in filenames]
    for name in names:
        path = resolve_inside(folder, name, where, "the audio folder")
        if is_file(path):
            return path
    clip = f"{row['youtube_id']}_{row['start_time']}"
    raise _MissingClipError(f"{where}: no audio for clip {clip} in {folder} (tried {', '.join(names)})")


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
