"""Labelled sounds: the MIDI writer, splits, manifests, and real FluidSynth renders where installed."""

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from unibind.datasets import read_manifest
from unibind.datasets.sounds import (
    GM_FAMILIES,
    GM_INSTRUMENTS,
    SoundSourceMissingError,
    build_sound_corpus,
    event_rows,
    find_soundfont,
    instrument_rows,
    note_midi,
    render_note,
)


def _has_fluidsynth() -> bool:
    try:
        find_soundfont()
    except SoundSourceMissingError:
        return False
    return shutil.which("fluidsynth") is not None


needs_fluidsynth = pytest.mark.skipif(
    not _has_fluidsynth(), reason="fluidsynth + a GM soundfont are not installed (make system-packages)"
)


def _events(folder: Path, names: list[str]) -> Path:
    folder.mkdir()
    rate = 16000
    for index, name in enumerate(names):
        tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * index) * np.arange(rate // 2) / rate)
        soundfile.write(folder / f"{name}.oga", tone, rate, format="OGG", subtype="VORBIS")
    return folder


def test_note_midi_is_a_standard_midi_file() -> None:
    data = note_midi(program=40, pitch=69, seconds=1.5, velocity=90)
    kind, length, form, tracks, division = struct.unpack(">4sIHHH", data[:14])
    assert (kind, length, form, tracks, division) == (b"MThd", 6, 0, 1, 480)
    kind, track_length = struct.unpack(">4sI", data[14:22])
    assert kind == b"MTrk"
    assert len(data) == 22 + track_length
    track = data[22:]
    assert bytes([0x00, 0xC0, 40]) in track  # program change at time 0
    assert bytes([0x00, 0x90, 69, 90]) in track  # note on
    # 1.5 s at 120 bpm = 3 beats = 1440 ticks = variable-length 0x8B 0x20, then note off
    assert bytes([0x8B, 0x20, 0x80, 69, 0]) in track
    assert track.endswith(bytes([0xFF, 0x2F, 0x00]))
    with pytest.raises(ValueError, match="0-127"):
        note_midi(program=128, pitch=60)


def test_gm_tables_and_instrument_splits() -> None:
    assert len(GM_INSTRUMENTS) == 128
    assert len(GM_FAMILIES) == 16
    assert GM_INSTRUMENTS[0] == "acoustic grand piano"
    assert GM_INSTRUMENTS[40] == "violin"
    rows = instrument_rows(pitches=(48, 60))
    assert len(rows) == 256
    programs = {split: {r["program"] for r in rows if r["split"] == split} for split in ("train", "val", "test")}
    assert not programs["train"] & programs["test"]
    assert not programs["train"] & programs["val"]
    assert (len(programs["train"]), len(programs["val"]), len(programs["test"])) == (80, 16, 32)
    for family in GM_FAMILIES:  # every family is both trained on and tested, on different instruments
        splits = {r["split"] for r in rows if r["family"] == family}
        assert splits == {"train", "val", "test"}
    assert rows[0]["text"][0] == "acoustic grand piano"
    with pytest.raises(ValueError, match="0-127"):
        instrument_rows(programs=[200])


def test_event_rows_name_each_sound(tmp_path: Path) -> None:
    rows = event_rows(_events(tmp_path / "stereo", ["dialog-warning", "bell"]))
    assert [r["label"] for r in rows] == ["bell", "dialog warning"]
    assert {r["split"] for r in rows} == {"test"}
    with pytest.raises(SoundSourceMissingError, match="sound-theme-freedesktop"):
        event_rows(tmp_path / "nowhere")


def test_missing_soundfont_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(SoundSourceMissingError, match="timgm6mb-soundfont"):
        find_soundfont(tmp_path / "missing.sf2")


@needs_fluidsynth
def test_rendered_note_has_its_pitch(tmp_path: Path) -> None:
    path = tmp_path / "a4.wav"
    render_note(find_soundfont(), program=80, pitch=69, path=path)  # square lead, A4
    samples, rate = soundfile.read(path)
    assert rate == 16000
    assert samples.ndim == 1
    assert np.abs(samples).max() == pytest.approx(0.7, abs=0.01)
    held = samples[int(0.2 * rate) : int(1.2 * rate)]
    spectrum = np.abs(np.fft.rfft(held * np.hanning(len(held))))
    peak_hz = np.fft.rfftfreq(len(held), 1 / rate)[spectrum.argmax()]
    assert peak_hz == pytest.approx(440.0, rel=0.02)
    assert not list(tmp_path.glob("*.mid"))
    assert not list(tmp_path.glob("*.raw.wav"))


@needs_fluidsynth
def test_sound_corpus_manifests_and_resume(tmp_path: Path) -> None:
    events = _events(tmp_path / "stereo", ["bell", "message"])
    corpus = build_sound_corpus(tmp_path / "sounds", events=events, pitches=(60,), programs=[0, 2], progress=False)
    assert [r["id"] for r in corpus.rows("train")] == ["gm000-p60"]
    assert [r["id"] for r in corpus.rows("test")] == ["gm002-p60", "event-bell", "event-message"]
    items, skipped = read_manifest(corpus.manifest("test"), ["audio", "text"])
    assert len(items) == 3
    assert skipped.count == 0
    assert items[0].fields["text"][0] == "electric grand piano"
    note = tmp_path / "sounds" / "notes" / "gm000-p60.wav"
    stamp = note.stat().st_mtime_ns
    build_sound_corpus(tmp_path / "sounds", events=events, pitches=(60,), programs=[0, 2], progress=False)
    assert note.stat().st_mtime_ns == stamp  # rendered notes are reused
    index = json.loads((tmp_path / "sounds" / "index.json").read_text())
    index["made_with"]["sample_rate"] = 8000  # as if made another way: the notes are rendered again
    (tmp_path / "sounds" / "index.json").write_text(json.dumps(index))
    build_sound_corpus(tmp_path / "sounds", events=events, pitches=(60,), programs=[0, 2], progress=False)
    assert note.stat().st_mtime_ns != stamp
