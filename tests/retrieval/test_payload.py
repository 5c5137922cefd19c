"""Index cards, media and input settings: written by ``build_card_index`` and ``unibind index build``, read back."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from unibind.alignment import DenseAligner
from unibind.cli import main
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import TINY_CLIP_CFG, MotionTransformerEncoder, OpenClipImageEncoder, OpenClipTextEncoder
from unibind.modalities import ImageSpec, MotionSpec, TextSpec
from unibind.retrieval import VectorIndex
from unibind.retrieval.build import IndexEntry, build_card_index
from unibind.retrieval.payload import ItemCard, Neighbour, copy_media, read_inputs, read_items, write_items

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PNG = FIXTURES / "emoji" / "corpus" / "images" / "1f600.png"
JOINTS = FIXTURES / "humanml3d" / "new_joints" / "000000.npy"
SPECS = {"image": ImageSpec(32), "text": TextSpec(), "motion": MotionSpec(45, max_frames=64)}


@pytest.fixture
def model() -> UnifiedEmbedder:
    encoders = {
        "image": OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG),
        "text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG),
        "motion": MotionTransformerEncoder(45, width=32, depth=1, heads=2, ff_dim=64, max_frames=64),
    }
    return UnifiedEmbedder(encoders, 16, DenseAligner(16)).eval()


def test_cards_media_and_inputs(model: UnifiedEmbedder, tmp_path: Path) -> None:
    entries = [
        IndexEntry("a", "image", PNG, "grinning face", "smileys"),
        IndexEntry("b", "text", "grinning face"),
        IndexEntry("c", "motion", JOINTS, "a left kick"),
        IndexEntry("d", "graph", {"image": PNG, "text": "grinning face"}, media=PNG, neighbours=[Neighbour("x", "kw")]),
    ]
    index = build_card_index(model, entries, tmp_path / "idx", SPECS, progress=False)
    assert index.ids == ["a", "b", "c", "d"]
    assert index.modalities == ["image", "text", "motion", "graph"]
    # a graph node is the mean of its attributes, which are the very inputs of items a and b
    torch.testing.assert_close(
        index.vector("d"), torch.nn.functional.normalize(index.vector("a") + index.vector("b"), dim=0)
    )
    loaded = VectorIndex.load(tmp_path / "idx")
    assert "a" in loaded
    assert "z" not in loaded
    assert loaded.modality_of("c") == "motion"
    cards = read_items(tmp_path / "idx")
    assert cards["a"] == ItemCard("a", "image", "grinning face", "smileys", "0.png")
    assert cards["b"].media is None
    assert cards["c"].media == "2.gif"
    assert Image.open(tmp_path / "idx" / "media" / "2.gif").n_frames > 1  # a stick figure, animated
    assert cards["d"].neighbours == [Neighbour("x", "kw")]
    assert (tmp_path / "idx" / "media" / "0.png").read_bytes() == PNG.read_bytes()
    assert {m: repr(s) for m, s in read_inputs(tmp_path / "idx").items()} == {m: repr(s) for m, s in SPECS.items()}


def test_rebuild_replaces_media_and_media_can_be_left_out(model: UnifiedEmbedder, tmp_path: Path) -> None:
    build_card_index(model, [IndexEntry("a", "image", PNG)], tmp_path, SPECS, progress=False)
    (tmp_path / "media" / "stale.png").write_bytes(b"")
    build_card_index(model, [IndexEntry("a", "image", PNG)], tmp_path, SPECS, media=False, progress=False)
    assert read_items(tmp_path)["a"].media is None
    assert list((tmp_path / "media").iterdir()) == []


def test_a_failed_rebuild_leaves_the_previous_card_index_whole(model: UnifiedEmbedder, tmp_path: Path) -> None:
    build_card_index(model, [IndexEntry("a", "image", PNG, "grinning face")], tmp_path, SPECS, progress=False)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    entries = [IndexEntry("b", "text", "a kick", media=tmp_path / "no-such.png")]  # fails while copying media
    with pytest.raises(FileNotFoundError):
        build_card_index(model, entries, tmp_path, SPECS, progress=False)
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert VectorIndex.load(tmp_path).ids == ["a"]
    assert list(read_items(tmp_path)) == ["a"]


def test_missing_encoder_is_named(model: UnifiedEmbedder, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="item 'x': the model has no audio encoder"):
        build_card_index(model, [IndexEntry("x", "audio", PNG)], tmp_path, SPECS, progress=False)


def test_media_types_and_absent_payload(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be shown"):
        copy_media(JOINTS, tmp_path, 0)
    assert read_items(tmp_path) == {}
    assert read_inputs(tmp_path) == {}
    write_items(tmp_path, [ItemCard("i", "text", "hello")])
    assert json.loads((tmp_path / "items.jsonl").read_text())["text"] == "hello"


def test_index_build_writes_cards(tmp_path: Path, shapes_dir: Path) -> None:
    torch.manual_seed(0)
    encoders = {
        "image": OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG),
        "text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG),
    }
    UnifiedEmbedder(encoders, 16, DenseAligner(16)).save_pretrained(tmp_path / "model")
    argv = ["index", "build", "--model", str(tmp_path / "model"), "--manifest", str(shapes_dir / "val.jsonl")]
    assert main([*argv, "--modalities", "image", "text", "--out", str(tmp_path / "idx")]) == 0
    cards = read_items(tmp_path / "idx")
    image = next(card for card in cards.values() if card.modality == "image")
    assert image.id.endswith("#image")
    assert image.text  # the item's first caption
    rows = [json.loads(line) for line in (shapes_dir / "val.jsonl").read_text().splitlines()]
    source = next(row["image"] for row in rows if f"{row['id']}#image" == image.id)
    assert (tmp_path / "idx" / "media" / image.media).read_bytes() == (shapes_dir / source).read_bytes()
