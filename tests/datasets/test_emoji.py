"""The emoji corpus builder on the committed fixture (trimmed real sources, no network)."""

import json
from pathlib import Path

import pytest

from unibind.datasets import ManifestDataset
from unibind.datasets.emoji import LANGUAGES, SPLITS, EmojiCorpus, make_rows, split_of, write_corpus
from unibind.modalities import ImageSpec, TextSpec

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "emoji"
SOURCES = FIXTURE / "sources"


def build(out: Path) -> EmojiCorpus:
    emoji_root = SOURCES / "emoji-datasource-google"
    return write_corpus(make_rows(emoji_root, SOURCES / "cldr-annotations-full"), emoji_root, out)


def test_builder_is_deterministic_and_reproduces_the_fixture(tmp_path: Path) -> None:
    first, second = build(tmp_path / "a"), build(tmp_path / "b")
    committed = FIXTURE / "corpus"
    for name in ("items.jsonl", *(f"{split}.jsonl" for split in SPLITS)):
        assert (first.root / name).read_bytes() == (second.root / name).read_bytes()
        assert (first.root / name).read_bytes() == (committed / name).read_bytes()
    assert sorted(p.name for p in (first.root / "images").iterdir()) == sorted(
        p.name for p in (committed / "images").iterdir()
    )


def test_rows_join_names_in_every_language() -> None:
    rows = EmojiCorpus(FIXTURE / "corpus").rows()
    assert 40 <= len(rows) <= 60
    grinning = next(row for row in rows if row["id"] == "1f600")
    assert grinning["names"]["en"] == "grinning face"
    assert grinning["names"]["de"] == "grinsendes Gesicht"
    assert grinning["captions"]["ja"][0] == grinning["names"]["ja"]
    assert grinning["category"] == "Smileys & Emotion"
    assert all(set(row["names"]) == set(LANGUAGES) for row in rows)
    assert all(caption in row["text"] for row in rows for captions in row["captions"].values() for caption in captions)


def test_splits_are_by_emoji_disjoint_and_complete() -> None:
    corpus = EmojiCorpus(FIXTURE / "corpus")
    ids = {split: [row["id"] for row in corpus.rows(split)] for split in SPLITS}
    assert all(ids.values())
    assert not set(ids["train"]) & set(ids["val"])
    assert not set(ids["train"]) & set(ids["test"])
    assert not set(ids["val"]) & set(ids["test"])
    assert sorted(i for members in ids.values() for i in members) == sorted(row["id"] for row in corpus.rows())
    for split, members in ids.items():
        assert all(split_of(emoji_id) == split for emoji_id in members)


def test_split_of_is_stable_and_proportioned() -> None:
    assert split_of("1f600") == split_of("1f600")
    counts = {split: 0 for split in SPLITS}
    for number in range(5000):
        counts[split_of(f"{number:x}")] += 1
    assert 0.77 < counts["train"] / 5000 < 0.83
    assert 0.08 < counts["test"] / 5000 < 0.12


def test_manifests_load_through_the_core_reader() -> None:
    dataset = ManifestDataset(FIXTURE / "corpus" / "train.jsonl", {"image": ImageSpec(32), "text": TextSpec()})
    item = dataset[0]
    assert item["inputs"]["image"].shape == (3, 32, 32)
    assert (
        item["inputs"]["text"]
        == json.loads((FIXTURE / "corpus" / "train.jsonl").read_text().splitlines()[0])["text"][0]
    )


def test_licence_notes_ship_with_fixture_and_corpus() -> None:
    for path in (FIXTURE / "LICENSES.md", FIXTURE / "corpus" / "LICENSES.md"):
        text = path.read_text()
        assert "Apache License 2.0" in text
        assert "Unicode License v3" in text


@pytest.mark.parametrize("split", SPLITS)
def test_every_manifest_image_exists(split: str) -> None:
    corpus = EmojiCorpus(FIXTURE / "corpus")
    assert all((corpus.root / row["image"]).is_file() for row in corpus.rows(split))
