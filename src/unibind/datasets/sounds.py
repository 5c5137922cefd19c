"""Labelled real sounds: General MIDI instrument notes and the freedesktop event sounds, as manifests.

Instrument notes are real sampled instruments: one note per General MIDI program (128 instruments in
16 families of 8, from the General MIDI Level 1 specification) rendered by FluidSynth from a GM
soundfont (Debian ``fluidsynth`` + ``timgm6mb-soundfont``), at a few pitches. Event sounds are the 35
named sounds of the freedesktop sound theme (Debian ``sound-theme-freedesktop``), copied as they are.

Splits: instruments are split by program so that test instruments are never heard in training
(two programs of each family in ``test``, one in ``val``); every event sound is ``test`` only, a set of
classes never seen in training. The corpus folder holds ``{split}.jsonl`` manifests (rows: ``id``,
``audio``, ``text`` captions, ``group`` = the instrument or sound, plus ``label``, ``family``, ``source``)
that :func:`unibind.datasets.read_manifest` reads, and ``index.json`` describing how it was made.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from tqdm.auto import tqdm

from unibind.cache import cache_dir
from unibind.checksums import sha256_file

GM_FAMILIES = (
    "piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
    "reed", "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive", "sound effects",
)  # fmt: skip
GM_INSTRUMENTS = (
    "acoustic grand piano", "bright acoustic piano", "electric grand piano", "honky-tonk piano",
    "electric piano 1", "electric piano 2", "harpsichord", "clavinet",
    "celesta", "glockenspiel", "music box", "vibraphone", "marimba", "xylophone", "tubular bells", "dulcimer",
    "drawbar organ", "percussive organ", "rock organ", "church organ", "reed organ", "accordion", "harmonica",
    "tango accordion",
    "acoustic guitar (nylon)", "acoustic guitar (steel)", "electric guitar (jazz)", "electric guitar (clean)",
    "electric guitar (muted)", "overdriven guitar", "distortion guitar", "guitar harmonics",
    "acoustic bass", "electric bass (finger)", "electric bass (pick)", "fretless bass", "slap bass 1",
    "slap bass 2", "synth bass 1", "synth bass 2",
    "violin", "viola", "cello", "contrabass", "tremolo strings", "pizzicato strings", "orchestral harp", "timpani",
    "string ensemble 1", "string ensemble 2", "synth strings 1", "synth strings 2", "choir aahs", "voice oohs",
    "synth voice", "orchestra hit",
    "trumpet", "trombone", "tuba", "muted trumpet", "french horn", "brass section", "synth brass 1", "synth brass 2",
    "soprano sax", "alto sax", "tenor sax", "baritone sax", "oboe", "english horn", "bassoon", "clarinet",
    "piccolo", "flute", "recorder", "pan flute", "blown bottle", "shakuhachi", "whistle", "ocarina",
    "square lead", "sawtooth lead", "calliope lead", "chiff lead", "charang lead", "voice lead", "fifths lead",
    "bass and lead",
    "new age pad", "warm pad", "polysynth pad", "choir pad", "bowed pad", "metallic pad", "halo pad", "sweep pad",
    "rain effect", "soundtrack effect", "crystal effect", "atmosphere effect", "brightness effect", "goblins effect",
    "echoes effect", "sci-fi effect",
    "sitar", "banjo", "shamisen", "koto", "kalimba", "bagpipe", "fiddle", "shanai",
    "tinkle bell", "agogo", "steel drums", "woodblock", "taiko drum", "melodic tom", "synth drum", "reverse cymbal",
    "guitar fret noise", "breath noise", "seashore", "bird tweet", "telephone ring", "helicopter", "applause",
    "gunshot",
)  # fmt: skip
SOUNDFONTS = (Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), Path("/usr/share/sounds/sf2/default-GM.sf2"))
FREEDESKTOP_SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
APT_PACKAGES = "fluidsynth timgm6mb-soundfont sound-theme-freedesktop"
DEFAULT_PITCHES = (48, 60, 72)  # C3, C4, C5 as MIDI note numbers
TEST_SLOTS, VAL_SLOTS = (2, 5), (7,)  # positions within each family of 8 programs
PEAK = 0.7  # rendered notes are peak-normalised to this level


class SoundSourceMissingError(RuntimeError):
    """A system tool or data folder the sound corpus needs is not installed."""


@dataclass(frozen=True)
class SoundCorpus:
    """A built sound corpus folder: ``{split}.jsonl`` manifests and the audio files they name."""

    root: Path

    def manifest(self, split: str) -> Path:
        return self.root / f"{split}.jsonl"

    def rows(self, split: str | None = None) -> list[dict]:
        """Manifest rows of one split, or of all splits (train, val, test) in that order."""
        splits = [split] if split else ["train", "val", "test"]
        rows = []
        for name in splits:
            with self.manifest(name).open(encoding="utf-8") as handle:
                rows += [json.loads(line) for line in handle if line.strip()]
        return rows


def instrument_split(program: int) -> str:
    slot = program % 8
    return "test" if slot in TEST_SLOTS else "val" if slot in VAL_SLOTS else "train"


def note_midi(program: int, pitch: int, seconds: float = 1.5, velocity: int = 100) -> bytes:
    """A one-track Standard MIDI File: ``program`` plays ``pitch`` for ``seconds`` at 120 bpm, then 0.5 s of rest."""
    if not (0 <= program < 128 and 0 <= pitch < 128 and 0 < velocity < 128):
        raise ValueError(
            f"MIDI program, pitch and velocity must be 0-127 (velocity > 0), got {program}, {pitch}, {velocity}"
        )
    ticks_per_beat = 480  # at 120 bpm a beat is 0.5 s
    held = round(seconds * 2 * ticks_per_beat)
    events = [
        (0, bytes([0xFF, 0x51, 0x03]) + (500_000).to_bytes(3, "big")),  # tempo: 500,000 us per beat
        (0, bytes([0xC0, program])),
        (0, bytes([0x90, pitch, velocity])),
        (held, bytes([0x80, pitch, 0])),
        (ticks_per_beat, bytes([0xFF, 0x2F, 0x00])),  # end of track
    ]
    track = b"".join(_variable_length(delta) + event for delta, event in events)
    header = struct.pack(">4sIHHH", b"MThd", 6, 0, 1, ticks_per_beat)
    return header + struct.pack(">4sI", b"MTrk", len(track)) + track


def _variable_length(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def find_soundfont(soundfont: str | Path | None = None) -> Path:
    candidates = [Path(soundfont)] if soundfont else list(SOUNDFONTS)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise SoundSourceMissingError(
        f"no General MIDI soundfont at {', '.join(map(str, candidates))}; install one (apt-get install {APT_PACKAGES})"
        " or pass soundfont=PATH"
    )


def render_note(soundfont: Path, program: int, pitch: int, path: Path, sample_rate: int = 16000) -> None:
    """Render one note with FluidSynth (reverb and chorus off) to a peak-normalised mono 16-bit WAV."""
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise SoundSourceMissingError(f"fluidsynth is not installed (apt-get install {APT_PACKAGES})")
    midi = path.with_suffix(".mid")
    raw = path.with_suffix(".raw.wav")
    midi.write_bytes(note_midi(program, pitch))
    command = [fluidsynth, "-ni", "-q", "-R", "0", "-C", "0", "-r", str(sample_rate), "-F", str(raw), "-T", "wav"]
    result = subprocess.run([*command, str(soundfont), str(midi)], capture_output=True, text=True, check=False)
    midi.unlink()
    if result.returncode != 0 or not raw.is_file():
        raise RuntimeError(f"fluidsynth failed on program {program}, pitch {pitch}: {result.stderr.strip()[-500:]}")
    samples, _ = soundfile.read(raw, dtype="float32", always_2d=True)
    raw.unlink()
    mono = samples.mean(axis=1)
    peak = float(np.abs(mono).max())
    if peak == 0.0:
        raise RuntimeError(
            f"fluidsynth rendered silence for program {program} ({GM_INSTRUMENTS[program]}), pitch {pitch}"
        )
    partial = path.with_suffix(".partial.wav")
    soundfile.write(partial, mono * (PEAK / peak), sample_rate, subtype="PCM_16")
    partial.replace(path)  # a killed build never leaves a truncated note that looks finished


def instrument_rows(pitches: Sequence[int] = DEFAULT_PITCHES, programs: Sequence[int] | None = None) -> list[dict]:
    """One manifest row per (program, pitch), all 128 programs by default; captions name the instrument and family."""
    rows = []
    for program in range(128) if programs is None else programs:
        if not 0 <= program < 128:
            raise ValueError(f"General MIDI programs are 0-127, got {program}")
        name, family = GM_INSTRUMENTS[program], GM_FAMILIES[program // 8]
        for pitch in pitches:
            rows.append(
                {
                    "id": f"gm{program:03d}-p{pitch}",
                    "audio": f"notes/gm{program:03d}-p{pitch}.wav",
                    "text": [name, f"{name}, {family}", f"a {name} note"],
                    "group": f"gm{program:03d}",
                    "label": name,
                    "family": family,
                    "source": "fluidsynth",
                    "program": program,
                    "pitch": pitch,
                    "split": instrument_split(program),
                }
            )
    return rows


def event_rows(folder: Path = FREEDESKTOP_SOUNDS) -> list[dict]:
    """One row per freedesktop sound; its label: the file name with spaces (``dialog-warning``: ``dialog warning``)."""
    files = sorted(folder.glob("*.oga")) if folder.is_dir() else []
    if not files:
        raise SoundSourceMissingError(f"no freedesktop event sounds in {folder} (apt-get install {APT_PACKAGES})")
    rows = []
    for file in files:
        label = file.stem.replace("-", " ")
        rows.append(
            {
                "id": f"event-{file.stem}",
                "audio": f"events/{file.name}",
                "text": [label, f"the {label} sound"],
                "group": f"event-{file.stem}",
                "label": label,
                "family": label.split()[0],
                "source": "freedesktop",
                "split": "test",
            }
        )
    return rows


def _fluidsynth_version() -> str:
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise SoundSourceMissingError(f"fluidsynth is not installed (apt-get install {APT_PACKAGES})")
    result = subprocess.run([fluidsynth, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.splitlines()[0].strip() if result.stdout else "unknown"


def build_sound_corpus(
    out: str | Path | None = None,
    soundfont: str | Path | None = None,
    events: Path = FREEDESKTOP_SOUNDS,
    pitches: Sequence[int] = DEFAULT_PITCHES,
    programs: Sequence[int] | None = None,
    sample_rate: int = 16000,
    workers: int = 2,
    progress: bool = True,
) -> SoundCorpus:
    """Render (or reuse) the instrument notes, copy the event sounds, write the split manifests.

    ``programs``: a subset of the 128 GM programs (default all). Notes already rendered with the same soundfont
    (sha256), FluidSynth version and sample rate are kept.
    Raises :class:`SoundSourceMissingError`, naming the Debian packages, when a source is not installed.
    """
    root = Path(out) if out else cache_dir() / "corpora" / "sounds"
    font = find_soundfont(soundfont)
    event_list = event_rows(events)
    (root / "notes").mkdir(parents=True, exist_ok=True)
    (root / "events").mkdir(exist_ok=True)
    made_with = {"soundfont": font.name, "soundfont_sha256": sha256_file(font), "sample_rate": sample_rate}
    made_with["fluidsynth"] = _fluidsynth_version()
    index_path = root / "index.json"
    previous = json.loads(index_path.read_text()) if index_path.is_file() else {}
    if previous.get("made_with") != made_with:  # notes of another soundfont or rate are stale
        for stale in (root / "notes").glob("*.wav"):
            stale.unlink()
        index_path.write_text(json.dumps({"made_with": made_with}, indent=1))
    notes = instrument_rows(pitches, programs)
    todo = [row for row in notes if not (root / row["audio"]).is_file()]  # an interrupted build resumes here
    if todo:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            done = pool.map(
                lambda row: render_note(font, row["program"], row["pitch"], root / row["audio"], sample_rate), todo
            )
            for _ in tqdm(done, total=len(todo), desc="rendering instrument notes", unit="note", disable=not progress):
                pass
    for row in event_list:
        shutil.copyfile(events / Path(row["audio"]).name, root / row["audio"])
    rows = notes + event_list
    for split in ("train", "val", "test"):
        lines = [json.dumps(row, ensure_ascii=False) for row in rows if row["split"] == split]
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    index_path.write_text(json.dumps({"made_with": made_with, "items": len(rows)}, indent=1))
    return SoundCorpus(root)
