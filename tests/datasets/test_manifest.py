import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unibind.datasets import ManifestDataset, ManifestError, read_manifest
from unibind.modalities import ImageSpec, InputError, TextSpec

SPECS = {"image": ImageSpec(16), "text": TextSpec()}


def write_image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((json.dumps(r) if not isinstance(r, str) else r) + "\n" for r in rows))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_image(tmp_path / "img" / "a.png")
    write_image(tmp_path / "img" / "b.png")
    return tmp_path


def test_jsonl_and_csv_read_the_same_items(folder: Path) -> None:
    jsonl = write_jsonl(
        folder / "m.jsonl",
        [
            {"id": "a", "image": "img/a.png", "text": ["a cat", "a small cat"]},
            {"id": "b", "image": "img/b.png"},
            {"id": "c", "text": "only text"},
        ],
    )
    csv = folder / "m.csv"
    csv.write_text("id,image,text\na,img/a.png,a cat\na,,a small cat\nb,img/b.png,\nc,,only text\n")
    from_jsonl, _ = read_manifest(jsonl, ["image", "text"])
    from_csv, _ = read_manifest(csv, ["image", "text"])
    assert [(i.id, i.fields) for i in from_jsonl] == [(i.id, i.fields) for i in from_csv]
    assert from_jsonl[0].fields["text"] == ["a cat", "a small cat"]
    assert from_jsonl[0].fields["image"] == (folder / "img" / "a.png").resolve()


def test_dataset_items_and_partial_modalities(folder: Path) -> None:
    path = write_jsonl(folder / "m.jsonl", [{"id": "a", "image": "img/a.png", "text": "x"}, {"id": "c", "text": "y"}])
    dataset = ManifestDataset(path, SPECS)
    batch = dataset.collate([dataset[0], dataset[1]])
    assert batch["ids"] == ["a", "c"]
    assert batch["inputs"]["image"].shape == (1, 3, 16, 16)
    assert batch["inputs"]["text"] == ["x", "y"]
    assert batch["present"]["image"] == [0]
    assert batch["present"]["text"] == [0, 1]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"image": "img/a.png"}, r"row 2: missing 'id'"),
        (
            {"id": "x", "image": "../outside.png"},
            r"row 2, field 'image': path '../outside.png' leaves the manifest's folder",
        ),
        ({"id": "x", "image": "/etc/passwd"}, r"leaves the manifest's folder"),
        ({"id": "x", "image": "img/none.png"}, r"row 2, field 'image': file not found"),
        ({"id": "x", "text": ""}, r"row 2, field 'text': expected a non-empty string"),
        ({"id": "x", "audio": "a.wav"}, r"row 2: none of the fields"),
        ("{not json", r"row 2: not valid JSON"),
        ("[1, 2]", r"row 2: expected a JSON object"),
    ],
)
def test_bad_rows_name_file_row_and_field(folder: Path, row, message: str) -> None:
    (folder.parent / "outside.png").write_bytes(b"x")
    path = write_jsonl(folder / "bad.jsonl", [{"id": "ok", "text": "fine"}, row])
    with pytest.raises(ManifestError, match=message) as info:
        read_manifest(path, ["image", "text"])
    assert "bad.jsonl" in str(info.value)


def test_skip_counts_bad_rows(folder: Path) -> None:
    path = write_jsonl(
        folder / "m.jsonl",
        [
            {"id": "a", "image": "img/a.png", "text": "x"},
            {"id": "b", "image": "img/missing.png", "text": "y"},
            {"id": "c", "image": "../escape.png"},
        ],
    )
    items, skipped = read_manifest(path, ["image", "text"], on_error="skip")
    assert [i.id for i in items] == ["a"]
    assert skipped.count == 2
    assert "row 2" in skipped.reasons[0]
    assert "row 3" in skipped.reasons[1]


def test_corrupt_file_raises_or_is_skipped_and_counted(folder: Path) -> None:
    (folder / "img" / "corrupt.png").write_bytes(b"not an image")
    path = write_jsonl(
        folder / "m.jsonl",
        [{"id": "a", "image": "img/a.png", "text": "x"}, {"id": "z", "image": "img/corrupt.png", "text": "y"}],
    )
    with pytest.raises(InputError, match=r"m.jsonl, row 2 \(z\): cannot decode image"):
        ManifestDataset(path, SPECS)[1]
    lenient = ManifestDataset(path, SPECS, on_error="skip")
    batch = lenient.collate([lenient[0], lenient[1]])
    assert batch["ids"] == ["a"]
    assert batch["skipped"] == 1


def test_missing_manifest_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "none.jsonl", ["text"])
    (tmp_path / "m.parquet").write_text("")
    with pytest.raises(ManifestError, match="unknown manifest format"):
        read_manifest(tmp_path / "m.parquet", ["text"])
    (tmp_path / "noid.csv").write_text("name,text\nx,y\n")
    with pytest.raises(ManifestError, match="'id' column"):
        read_manifest(tmp_path / "noid.csv", ["text"])
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ManifestError, match="no usable rows"):
        read_manifest(tmp_path / "empty.jsonl", ["text"])


def test_repeated_id_with_different_file_is_an_error(folder: Path) -> None:
    path = write_jsonl(folder / "m.jsonl", [{"id": "a", "image": "img/a.png"}, {"id": "a", "image": "img/b.png"}])
    with pytest.raises(ManifestError, match="row 2: id 'a' repeats with a different image file"):
        read_manifest(path, ["image"])


def test_groups_index_and_text_sampling(shapes_dir: Path) -> None:
    dataset = ManifestDataset(shapes_dir / "train.jsonl", SPECS, text_sampling="first")
    assert len(dataset) == 32
    assert len(dataset.group_index) == 16
    first = dataset[0]
    assert first["inputs"]["text"] == "a red circle"
    assert dataset[0]["group"] == dataset[1]["group"] != dataset[2]["group"]
    sampled = ManifestDataset(shapes_dir / "train.jsonl", SPECS, text_sampling="random")
    assert len({sampled[0]["inputs"]["text"] for _ in range(40)}) > 1
