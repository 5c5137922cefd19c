"""The quickstart's data stages: the corpora (emoji, spoken names, labelled sounds, mocap) and their cached
features through the frozen towers."""

from __future__ import annotations

from pathlib import Path

from unibind.cache import cache_dir
from unibind.datasets.emoji import LANGUAGES, EmojiCorpus, build_emoji_corpus
from unibind.datasets.emoji_speech import espeak_available, synthesize_names
from unibind.datasets.mocap_corpus import MocapCorpus, build_mocap_corpus
from unibind.datasets.sounds import SoundCorpus, SoundSourceMissingError, build_sound_corpus
from unibind.quickstart.features import corpus_features, english_text_tower, frozen_towers
from unibind.quickstart.motion import motion_features
from unibind.quickstart.sounds import espeak_features, sound_features
from unibind.quickstart.stages import Stage, stage_list
from unibind.quickstart.state import Quickstart


def load_corpus(run: Quickstart) -> None:
    """The emoji corpus given, or the full one (built on first use)."""
    corpus_dir = run.options.corpus_dir
    run.corpus = EmojiCorpus(Path(corpus_dir)) if corpus_dir else build_emoji_corpus()


def speak_names(run: Quickstart) -> None:
    """Every English name spoken by piper, when speech is on (timed either way)."""
    run.speech = synthesize_names(run.corpus, progress=run.options.progress) if run.options.with_speech else None


def load_sounds(run: Quickstart) -> None:
    """The labelled sounds given, or built here (needs fluidsynth, a GM soundfont and the sound theme)."""
    sounds_dir = run.options.sounds_dir
    run.sound_corpus = (
        SoundCorpus(Path(sounds_dir)) if sounds_dir else build_sound_corpus(progress=run.options.progress)
    )


def load_mocap(run: Quickstart) -> None:
    """The mocap windows given, or built here (downloads the motion clips)."""
    motion_dir = run.options.motion_dir
    run.mocap = MocapCorpus(Path(motion_dir)) if motion_dir else build_mocap_corpus(progress=run.options.progress)


def emoji_features(run: Quickstart) -> None:
    """The frozen towers, and the features of every emoji image, caption and spoken name."""
    run.towers = frozen_towers()
    run.cache = cache_dir() / "features"
    run.table = corpus_features(run.corpus, run.towers, run.cache, progress=run.options.progress, speech=run.speech)


def sound_table(run: Quickstart) -> None:
    run.sounds = sound_features(run.sound_corpus, run.towers, run.cache, run.options.progress)


def motion_table(run: Quickstart) -> None:
    run.motions = motion_features(run.mocap, run.towers["text"], run.cache, run.options.progress)


def espeak_names(run: Quickstart) -> None:
    """The held-out names spoken by espeak-ng in every language (evaluation only)."""
    progress = run.options.progress
    run.espeak = espeak_features(
        run.corpus, run.table, run.towers["audio"], list(LANGUAGES), run.cache, progress=progress
    )


def espeak_missing(run: Quickstart) -> str | None:
    return None if espeak_available() else "espeak-ng is not installed (apt-get install espeak-ng)"


def english_features(run: Quickstart) -> None:
    """The same images, English captions through all-MiniLM-L6-v2 instead of USE."""
    towers = {"image": run.towers["image"], "text": english_text_tower()}
    run.english = corpus_features(run.corpus, towers, run.cache, languages=["en"], progress=run.options.progress)


FEATURES = (
    Stage("emoji features", emoji_features),
    Stage("sound features", sound_table, wanted=lambda run: run.sound_corpus is not None),
    Stage("motion features", motion_table, wanted=lambda run: run.mocap is not None),
    Stage(
        "names spoken in other languages",
        espeak_names,
        wanted=lambda run: run.options.with_speech,
        missing=espeak_missing,
    ),
    Stage("English text tower features", english_features, wanted=lambda run: run.options.english_minilm),
)

DATA = (
    Stage("emoji corpus", load_corpus, "corpus_s"),
    Stage("spoken names", speak_names, "speech_s"),
    Stage(
        "labelled sounds",
        load_sounds,
        "sounds_s",
        wanted=lambda run: run.options.with_sounds,
        skip_on=(SoundSourceMissingError,),
    ),
    Stage("motion", load_mocap, "motion_corpus_s", wanted=lambda run: run.options.with_motion, skip_on=(RuntimeError,)),
    stage_list("features", FEATURES, "features_s"),
)
