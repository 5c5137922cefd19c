"""Clotho and AudioCaps readers on fixtures in the official layouts (tests/fixtures/make_audio_caption_fixtures.py)."""

import json
import shutil
from pathlib import Path

import pytest

from unibind.datasets import ManifestDataset, ManifestError, read_audiocaps, read_clotho, write_manifest
from unibind.modalities import AudioSpec, TextSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_clotho_reads_five_captions_per_file() -> None:
    items, skipped = read_clotho(FIXTURES / "clotho", "evaluation")
    assert skipped.count == 0
    assert [item.id for item in items] == ["steady tone, indoors.wav", "rain, on a tin roof.wav", "short beep.wav"]
    assert len(items[0].captions) == 5
    assert items[0].captions[4] == '"a steady high tone rings without a break"'  # CSV quoting survives
    assert items[1].audio == FIXTURES / "clotho" / "evaluation" / "rain, on a tin roof.wav"


def test_clotho_missing_audio_raises_or_is_counted(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "clotho", tmp_path / "clotho")
    (tmp_path / "clotho" / "evaluation" / "short beep.wav").unlink()
    with pytest.raises(
        ManifestError, match=r"clotho_captions_evaluation.csv, row 4, field 'file_name': audio file not found"
    ):
        read_clotho(tmp_path / "clotho", "evaluation")
    items, skipped = read_clotho(tmp_path / "clotho", "evaluation", on_error="skip")
    assert len(items) == 2
    assert skipped.count == 1
    with pytest.raises(FileNotFoundError, match=r"clotho_captions_development\.csv"):
        read_clotho(tmp_path / "clotho", "development")


def test_audiocaps_merges_captions_and_counts_missing_clips() -> None:
    table = FIXTURES / "audiocaps" / "test.csv"
    with pytest.raises(ManifestError, match=r"test.csv, row 12: no audio for clip gone0000000_10"):
        read_audiocaps(table, FIXTURES / "audiocaps" / "audio")
    items, skipped = read_audiocaps(table, FIXTURES / "audiocaps" / "audio", on_error="skip")
    assert [item.id for item in items] == ["abcDEF12345_30", "xyzXYZ67890_0"]
    assert len(items[0].captions) == 5
    assert items[0].audio.name == "YabcDEF12345.wav"
    assert skipped.count == 1  # one missing clip, counted once for its five caption rows


def test_bad_header_is_named(tmp_path: Path) -> None:
    (tmp_path / "test.csv").write_text("id,caption\n1,x\n")
    with pytest.raises(ManifestError, match="expected columns"):
        read_audiocaps(tmp_path / "test.csv", tmp_path)


@pytest.mark.parametrize("one_row_per_caption", [False, True])
def test_manifest_round_trip_through_the_core_reader(tmp_path: Path, one_row_per_caption: bool) -> None:
    root = tmp_path / "clotho"
    shutil.copytree(FIXTURES / "clotho", root)
    items, _ = read_clotho(root, "evaluation")
    manifest = write_manifest(items, root / "evaluation.jsonl", one_row_per_caption=one_row_per_caption)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(rows) == (15 if one_row_per_caption else 3)
    assert rows[0]["audio"] == "evaluation/steady tone, indoors.wav"
    dataset = ManifestDataset(manifest, {"audio": AudioSpec(16000, clip_seconds=1.0), "text": TextSpec()})
    batch = dataset.collate([dataset[i] for i in range(len(dataset))])
    assert batch["inputs"]["audio"].waveforms.shape == (len(rows), 16000)
    assert len(set(batch["groups"].tolist())) == 3  # captions of one clip share a group


def test_manifest_must_live_above_the_audio(tmp_path: Path) -> None:
    items, _ = read_clotho(FIXTURES / "clotho", "evaluation")
    with pytest.raises(ManifestError, match="outside"):
        write_manifest(items, tmp_path / "elsewhere.jsonl")


def test_clotho_file_name_may_not_leave_the_split_folder(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "clotho", tmp_path / "clotho")
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    table = tmp_path / "clotho" / "clotho_captions_evaluation.csv"
    lines = table.read_text(encoding="utf-8").splitlines()
    lines.append("../../secret.wav,a,b,c,d,e")
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        ManifestError, match=r"row \d+, field 'file_name': path '../../secret.wav' leaves the audio folder"
    ):
        read_clotho(tmp_path / "clotho", "evaluation")


def _clotho_with(tmp_path: Path, extra: bytes, bom: bool = False) -> Path:
    root = tmp_path / "clotho"
    shutil.copytree(FIXTURES / "clotho", root)
    table = root / "clotho_captions_evaluation.csv"
    table.write_bytes((b"\xef\xbb\xbf" if bom else b"") + table.read_bytes() + extra)
    return root


def test_clotho_hostile_rows_are_named_or_counted_and_good_rows_kept(tmp_path: Path) -> None:
    root = _clotho_with(
        tmp_path,
        b"short beep.wav,caf\xe9 noise,b,c,d,e\n"  # Latin-1, not UTF-8
        b'"rain, on a tin roof.wav",again,b,c,d,e\n'  # repeats row 3
        b",a,b,c,d,e\n"  # no file name
        b"short beep.wav,a,b,c,d,e,f\n",  # one field too many
        bom=True,
    )
    with pytest.raises(ManifestError, match=r"clotho_captions_evaluation\.csv, row 5: not valid UTF-8 \(byte 0xe9"):
        read_clotho(root, "evaluation")
    items, skipped = read_clotho(root, "evaluation", on_error="skip")
    assert [item.id for item in items] == ["steady tone, indoors.wav", "rain, on a tin roof.wav", "short beep.wav"]
    assert skipped.count == 4
    assert "row 6: file_name 'rain, on a tin roof.wav' repeats row 3" in skipped.reasons[1]
    assert "row 7, field 'file_name': empty" in skipped.reasons[2]
    assert "row 8: 7 fields but the header has 6" in skipped.reasons[3]


def test_audiocaps_hostile_rows_are_named_or_counted(tmp_path: Path) -> None:
    table = tmp_path / "test.csv"
    table.write_bytes(
        b"".join((FIXTURES / "audiocaps" / "test.csv").read_bytes().splitlines(keepends=True)[:11])  # two clips
        + b"1040,abcDEF12345,30,\n"  # empty caption: was silently dropped
        + b"1041,abcDEF12345\n"  # short row: was a crash
        + b"1042,../abcDEF12345,30,escape\n"  # file name leaving the audio folder
        + b'1043,xyzXYZ67890,0,"caf\xe9"\n'
    )
    audio = FIXTURES / "audiocaps" / "audio"
    with pytest.raises(ManifestError, match=r"test\.csv, row 12, field 'caption': empty"):
        read_audiocaps(table, audio)
    items, skipped = read_audiocaps(table, audio, on_error="skip")
    assert [(item.id, len(item.captions)) for item in items] == [("abcDEF12345_30", 5), ("xyzXYZ67890_0", 5)]
    assert skipped.count == 4
    assert "row 13, field 'start_time': empty" in skipped.reasons[1]
    assert "row 14: path '../abcDEF12345.wav' leaves the audio folder" in skipped.reasons[2]
    assert "row 15: not valid UTF-8" in skipped.reasons[3]
