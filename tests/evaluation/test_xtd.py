from pathlib import Path

import pytest
import torch
from PIL import Image
from tests.evaluation.lookup_embedder import LookupEmbedder

from unibind.datasets.emoji import EmojiCorpus
from unibind.evaluation.xtd import XTDDataError, evaluate_xtd, paired_recall, read_xtd, results_table
from unibind.quickstart.xtd_export import export_emoji_xtd

EMOJI = Path(__file__).parents[1] / "fixtures" / "emoji" / "corpus"


def xtd_layout(root: Path) -> None:
    """Three images, English captions (LF) in XTD10/, German (CRLF, no final newline) in MIC/."""
    (root / "XTD10").mkdir(parents=True)
    (root / "MIC").mkdir()
    (root / "images").mkdir()
    names = ["i0.jpg", "i1.jpg", "i2.jpg"]
    for name in names:
        Image.new("RGB", (4, 4)).save(root / "images" / name)
    (root / "XTD10" / "test_image_names.txt").write_text("\n".join(names) + "\n")
    (root / "XTD10" / "test_1kcaptions_en.txt").write_text("red\ngreen\nblue\n")
    (root / "MIC" / "test_1kcaptions_de.txt").write_bytes("rot\r\ngrün\r\nblau".encode())


def lookup() -> LookupEmbedder:
    return LookupEmbedder(
        # en: every caption on its image. de: "rot" on i0, "grün" closest to i2 (rank 2 for i1), "blau" on i2
        texts={
            "red": [1, 0, 0],
            "green": [0, 1, 0],
            "blue": [0, 0, 1],
            "rot": [1, 0, 0],
            "grün": [0, 0.6, 0.8],
            "blau": [0, 0, 1],
        },
        images={"i0.jpg": [1, 0, 0], "i1.jpg": [0, 1, 0], "i2.jpg": [0, 0, 1]},
    )


def test_hand_computed_recall(tmp_path: Path) -> None:
    xtd_layout(tmp_path)
    data = read_xtd(tmp_path)
    assert data.captions == {"en": ["red", "green", "blue"], "de": ["rot", "grün", "blau"]}
    rows = evaluate_xtd(lookup(), data)["rows"]
    assert rows["text->image en"] == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0}
    # de: "grün" ranks i2 (0.8) above i1 (0.6): 2 of 3 at rank 1, all within 5
    assert rows["text->image de"]["R@1"] == pytest.approx(200 / 3)
    assert rows["text->image de"]["R@5"] == 100.0
    assert rows["text->image mean"]["R@1"] == pytest.approx((100 + 200 / 3) / 2)
    # image -> German text: i1's best caption is "grün" (0.6), the only one with a non-zero score: rank 1;
    # i2: "blau" 1.0 beats "grün" 0.8
    assert rows["image->text de"]["R@1"] == 100.0
    # caption -> English: "grün" = (0, .6, .8) is closer to "blue" than to "green"
    assert rows["caption->en de"]["R@1"] == pytest.approx(200 / 3)
    assert "caption->en en" not in rows
    table = results_table(rows)
    assert "| de | 66.7 / 100.0 / 100.0 | 100.0 / 100.0 / 100.0 | 66.7 / 100.0 / 100.0 |" in table


def test_text_only_reads_no_images(tmp_path: Path) -> None:
    xtd_layout(tmp_path)
    for image in (tmp_path / "images").iterdir():
        image.unlink()
    data = read_xtd(tmp_path, with_images=False)
    rows = evaluate_xtd(lookup(), data)["rows"]
    assert set(rows) == {"caption->en de", "caption->en mean"}


def test_paired_recall_matches_a_naive_rank_count() -> None:
    similarity = torch.randn(50, 50, generator=torch.Generator().manual_seed(1))
    similarity[3, 7] = similarity[3, 3]  # a tie counts against the gold
    ranks = [1 + sum(1 for j in range(50) if j != q and similarity[q, j] >= similarity[q, q]) for q in range(50)]
    expected = {f"R@{k}": 100.0 * sum(r <= k for r in ranks) / 50 for k in (1, 5, 10)}
    assert paired_recall(similarity) == pytest.approx(expected)


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    xtd_layout(tmp_path)
    (tmp_path / "XTD10" / "test_1kcaptions_en.txt").write_text("red\n\nblue\n")
    with pytest.raises(XTDDataError, match=r"test_1kcaptions_en.txt, line 2: empty line"):
        read_xtd(tmp_path)
    (tmp_path / "XTD10" / "test_1kcaptions_en.txt").write_text("red\ngreen\n")
    with pytest.raises(XTDDataError, match=r"test_1kcaptions_en.txt: 2 captions, but .* lists 3 images"):
        read_xtd(tmp_path)
    (tmp_path / "XTD10" / "test_1kcaptions_en.txt").write_text("red\ngreen\nblue\n")
    (tmp_path / "images" / "i1.jpg").unlink()
    with pytest.raises(XTDDataError, match=r"test_image_names.txt, line 2: image 'i1.jpg' not found"):
        read_xtd(tmp_path)
    skipped = read_xtd(tmp_path, on_error="skip")
    assert skipped.image_names == ["i0.jpg", "i2.jpg"]
    assert skipped.captions["de"] == ["rot", "blau"]
    assert skipped.skipped.count == 1
    with pytest.raises(FileNotFoundError, match="no caption file for"):
        read_xtd(tmp_path, languages=["fr"])


def test_emoji_export_round_trips(tmp_path: Path) -> None:
    corpus = EmojiCorpus(EMOJI)
    out = export_emoji_xtd(tmp_path / "xtd", corpus, split="train")
    data = read_xtd(out)
    rows = corpus.rows("train")
    assert data.image_names == [Path(r["image"]).name for r in rows]
    assert data.captions["ja"] == [r["names"]["ja"] for r in rows]
    assert len(data.captions) == 11
    assert all(
        path.read_bytes() == (EMOJI / r["image"]).read_bytes() for path, r in zip(data.images, rows, strict=True)
    )
