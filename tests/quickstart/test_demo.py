"""The quickstart's demo index entries, from the committed emoji fixture and small stand-in corpora."""

import json
from pathlib import Path

import pytest

from unibind.datasets.emoji import EmojiCorpus
from unibind.datasets.mocap_corpus import MocapCorpus
from unibind.datasets.sounds import SoundCorpus
from unibind.quickstart.demo import emoji_entries, graph_entries, motion_entries, serve_command, sound_entries

FIXTURE = EmojiCorpus(Path(__file__).resolve().parents[1] / "fixtures" / "emoji" / "corpus")


def test_emoji_entries_are_the_held_out_images_names_and_speech() -> None:
    rows = FIXTURE.rows("test")
    entries = emoji_entries(FIXTURE, speech={rows[0]["id"]: Path("spoken.wav")})
    assert len(entries) == 2 * len(rows) + 1
    image, name, speech = entries[:3]
    assert (image.id, image.modality, image.raw) == (f"emoji:{rows[0]['id']}", "image", FIXTURE.root / rows[0]["image"])
    assert (name.modality, name.raw, name.text) == ("text", rows[0]["names"]["en"], rows[0]["names"]["en"])
    assert (speech.modality, speech.raw, speech.text) == ("audio", Path("spoken.wav"), f"{name.text} (spoken)")
    assert image.label == rows[0]["category"]


def test_graph_entries_list_neighbours_once_with_their_edge_types() -> None:
    entries = graph_entries(FIXTURE)
    held_out = {row["id"] for row in FIXTURE.rows("test")}
    assert {entry.id for entry in entries} == {f"node:{i}" for i in held_out}
    for entry in entries:
        assert entry.modality == "graph"
        assert set(entry.raw) == {"image", "text"}
        assert entry.media == entry.raw["image"]
        names = [n.text for n in entry.neighbours]
        assert len(names) == len(set(names))
        for neighbour in entry.neighbours:
            assert set(neighbour.relation.split(", ")) <= {"keyword", "subgroup"}
            assert neighbour.id is None or neighbour.id.removeprefix("node:") in held_out
    assert any(entry.neighbours for entry in entries)


def _corpus(root: Path, rows: list[dict]) -> Path:
    root.mkdir()
    for split in ("train", "val", "test"):
        chosen = [row for row in rows if row["split"] == split]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in chosen))
    return root


def test_sound_and_motion_entries_are_the_test_split(tmp_path: Path) -> None:
    sounds = _corpus(
        tmp_path / "sounds",
        [
            {"id": "n1", "audio": "notes/n1.wav", "text": ["cello"], "family": "strings", "split": "test"},
            {"id": "n2", "audio": "notes/n2.wav", "text": ["harp"], "family": "strings", "split": "train"},
        ],
    )
    [sound] = sound_entries(SoundCorpus(sounds))
    assert (sound.id, sound.modality, sound.raw, sound.text) == ("sound:n1", "audio", sounds / "notes/n1.wav", "cello")
    mocap = _corpus(
        tmp_path / "mocap",
        [{"id": "w", "motion": "windows/w.npy", "text": ["a person walks"], "clip": "walk", "split": "test"}],
    )
    [motion] = motion_entries(MocapCorpus(mocap))
    assert (motion.id, motion.modality, motion.text, motion.label) == ("motion:w", "motion", "a person walks", "walk")


def test_serve_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / ".venv" / "bin" / "python"))
    monkeypatch.chdir(tmp_path)
    command = serve_command(Path("runs/quickstart/model"), Path("runs/quickstart/index"))
    assert command == ".venv/bin/unibind serve --model runs/quickstart/model --index runs/quickstart/index"
