import json
import re
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


def test_captions_are_checked_by_the_text_spec_before_any_loading(folder: Path) -> None:
    path = write_jsonl(
        folder / "m.jsonl",
        [
            {"id": "a", "image": "img/a.png", "text": "x"},
            {"id": "b", "image": "img/b.png", "text": ["fine", "bell \u0007 here"]},
        ],
    )
    with pytest.raises(
        InputError, match=r"m\.jsonl, row 2 \(b\), field 'text': text holds the control character U\+0007"
    ):
        ManifestDataset(path, SPECS)
    dataset = ManifestDataset(path, SPECS, on_error="skip")
    assert [item.id for item in dataset.items] == ["a"]
    assert dataset.skipped.count == 1
    assert len(ManifestDataset(path, {"image": ImageSpec(16)})) == 2  # captions not read, not checked


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


# Hostile manifests: every bad row is named (file and row) or, with on_error="skip", counted; good rows stay.

BAD_UTF8 = b"\xff\xfe not utf-8"


def _manifest_bytes(folder: Path, suffix: str, rows: list[bytes]) -> Path:
    """``rows`` of (id, text) pairs as raw bytes, written as JSONL, CSV or TSV."""
    path = folder / f"m{suffix}"
    if suffix == ".jsonl":
        lines = [b'{"id": "' + row_id + b'", "text": "' + text + b'"}' for row_id, text in rows]
    else:
        sep = b"," if suffix == ".csv" else b"\t"
        lines = [b"id" + sep + b"text", *(row_id + sep + text for row_id, text in rows)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv"])
def test_invalid_utf8_line_is_named_or_skipped_and_counted(tmp_path: Path, suffix: str) -> None:
    path = _manifest_bytes(tmp_path, suffix, [(b"a", b"first"), (b"b", BAD_UTF8), (b"c", b"third")])
    row = 2 if suffix == ".jsonl" else 3  # CSV and TSV rows count the header line
    with pytest.raises(ManifestError, match=rf"m{suffix}, row {row}: not valid UTF-8 \(byte 0xff"):
        read_manifest(path, ["text"])
    items, skipped = read_manifest(path, ["text"], on_error="skip")
    assert [i.id for i in items] == ["a", "c"]
    assert skipped.count == 1
    assert "not valid UTF-8" in skipped.reasons[0]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv"])
def test_utf8_byte_order_mark_is_accepted(tmp_path: Path, suffix: str) -> None:
    path = _manifest_bytes(tmp_path, suffix, [(b"a", "caf\u00e9".encode()), (b"b", b"two")])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    items, skipped = read_manifest(path, ["text"])
    assert [(i.id, i.fields["text"]) for i in items] == [("a", ["caf\u00e9"]), ("b", ["two"])]
    assert skipped.count == 0


def test_utf16_manifest_is_refused_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes("id,text\na,x\n".encode("utf-16"))
    with pytest.raises(ManifestError, match=r"m\.csv: starts with a UTF-16 byte-order mark; expected UTF-8"):
        read_manifest(path, ["text"], on_error="skip")


def test_malformed_json_line_is_skipped_and_counted_not_fatal(folder: Path) -> None:
    path = write_jsonl(
        folder / "m.jsonl",
        [
            {"id": "a", "text": "x"},
            '{"id": "b", "text": ',
            '{"id": "d", "text": "y", "text": "z"}',
            "[1, 2]",
            {"id": "c", "image": "img/missing.png"},
            {"id": "e", "text": "last"},
        ],
    )
    items, skipped = read_manifest(path, ["image", "text"], on_error="skip")
    assert [i.id for i in items] == ["a", "e"]
    assert skipped.count == 4
    assert [re.search(r"row \d+", reason)[0] for reason in skipped.reasons] == ["row 2", "row 3", "row 4", "row 5"]
    assert "row 2: not valid JSON (Expecting value at column 21)" in skipped.reasons[0]
    assert "key 'text' appears twice" in skipped.reasons[1]
    with pytest.raises(ManifestError, match=r"m\.jsonl, row 2: key 'text' appears twice"):
        read_manifest(
            write_jsonl(folder / "m.jsonl", [{"id": "a", "text": "x"}, '{"id": "d", "text": "y", "text": "z"}']),
            ["text"],
        )


def test_unicode_line_separators_inside_a_row_do_not_split_it(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "one\u2028two\x85three"}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    items, _ = read_manifest(path, ["text"])
    assert items[0].fields["text"] == ["one\u2028two\x85three"]


def test_csv_quoting_and_field_count_errors_lose_no_good_rows(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        'id,text\na,ok\nb,"never closed\nc,fine\nd,"two\nlines"\ne,one,two\nf,"x"y\ng,trailing empty,,\nh,last\n',
        encoding="utf-8",
    )
    items, skipped = read_manifest(path, ["text"], on_error="skip")
    assert [(i.id, i.row) for i in items] == [("a", 2), ("c", 4), ("d", 5), ("g", 9), ("h", 10)]
    assert items[2].fields["text"] == ["two\nlines"]
    assert skipped.count == 3
    assert "row 3: malformed CSV" in skipped.reasons[0]
    assert "row 7: 3 fields but the header has 2" in skipped.reasons[1]
    assert "row 8: malformed CSV" in skipped.reasons[2]
    with pytest.raises(ManifestError, match=r"m\.csv, row 3: malformed CSV"):
        read_manifest(path, ["text"])
    (tmp_path / "twice.csv").write_text("id,text,text\na,x,y\n")
    with pytest.raises(ManifestError, match=r"header repeats column\(s\) \['text'\]"):
        read_manifest(tmp_path / "twice.csv", ["text"], on_error="skip")


def test_modality_like_fields_are_counted_and_warned_metadata_is_not(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [
        {"id": "a", "text": "x", "imgae": "img/a.png", "video": "v.mp4", "category": "animal", "emotion": "calm"},
        {"id": "b", "text": "y", "Image": "img/b.png", "audio": "s.wav", "split": "test", "label": "cat"},
        {"id": "c", "text": "z", "imgae": "img/b.png", "motion": "m.npy"},
    ]
    path = write_jsonl(folder / "m.jsonl", rows)
    with caplog.at_level("WARNING", logger="unibind.datasets.manifest"):
        items, report = read_manifest(path, ["text", "image"])
    assert len(items) == 3
    assert report.count == 0
    assert report.unknown_fields == {"imgae": 2, "video": 1, "Image": 1}
    assert "'imgae' (2 rows)" in caplog.text
    csv = folder / "m.csv"
    csv.write_text("id,text,txt,images,family\na,x,y,img/a.png,brass\n")
    assert read_manifest(csv, ["text"])[1].unknown_fields == {"txt": 1, "images": 1}


def test_duplicate_ids_are_merged_counted_and_warned_or_refused(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_jsonl(
        folder / "m.jsonl",
        [
            {"id": "a", "image": "img/a.png", "text": "one"},
            {"id": "b", "text": "other"},
            {"id": "a", "text": "two"},
            {"id": "a", "image": "img/a.png", "text": "three", "group": "g"},
        ],
    )
    with caplog.at_level("WARNING", logger="unibind.datasets.manifest"):
        items, report = read_manifest(path, ["image", "text"])
    assert [(i.id, i.fields["text"], i.group) for i in items] == [
        ("a", ["one", "two", "three"], "g"),
        ("b", ["other"], None),
    ]
    assert report.merged_ids == 2
    assert report.count == 0
    assert "2 rows repeat an earlier row's id" in caplog.text
    with pytest.raises(ManifestError, match=r"m\.jsonl, row 3: id 'a' repeats row 1"):
        read_manifest(path, ["image", "text"], duplicate_ids="error")
    items, report = read_manifest(path, ["image", "text"], on_error="skip", duplicate_ids="error")
    assert [(i.id, i.fields["text"]) for i in items] == [("a", ["one"]), ("b", ["other"])]
    assert (report.count, report.merged_ids) == (2, 0)
    dataset = ManifestDataset(path, SPECS, duplicate_ids="error", on_error="skip")
    assert len(dataset) == 2


def test_conflicting_repeat_is_a_bad_row_in_skip_mode_and_merges_nothing(folder: Path) -> None:
    path = write_jsonl(
        folder / "m.jsonl",
        [
            {"id": "a", "image": "img/a.png", "text": "one", "group": "g"},
            {"id": "a", "image": "img/b.png", "text": "from the wrong row"},
            {"id": "a", "text": "other group", "group": "h"},
            {"id": "c", "text": "kept"},
        ],
    )
    items, report = read_manifest(path, ["image", "text"], on_error="skip")
    assert [(i.id, i.fields["text"]) for i in items] == [("a", ["one"]), ("c", ["kept"])]
    assert report.count == 2
    assert "repeats with a different image file" in report.reasons[0]
    assert "row 3: id 'a' repeats row 1 with a different group" in report.reasons[1]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": True, "text": "x"}, r"field 'id': expected a string or an integer"),
        ({"id": ["a"], "text": "x"}, r"field 'id': expected a string or an integer"),
        ({"id": "x", "text": "x", "group": {"a": 1}}, r"field 'group': expected a string or an integer"),
        ({"id": "x", "image": "img/a\u0000.png"}, r"field 'image': unusable path"),
        ({"id": "x", "image": "a" * 5000 + ".png"}, r"field 'image': file not found"),
        ({"id": "x", "image": "link.png"}, r"field 'image': path 'link.png' leaves the manifest's folder"),
    ],
)
def test_hostile_values_are_named(folder: Path, row: dict, message: str) -> None:
    outside = folder.parent / f"{folder.name}-outside.png"
    write_image(outside)
    (folder / "link.png").symlink_to(outside)
    path = write_jsonl(folder / "bad.jsonl", [{"id": "ok", "text": "fine"}, row])
    with pytest.raises(ManifestError, match=rf"bad\.jsonl, row 2.*{message}"):
        read_manifest(path, ["image", "text"])
    items, report = read_manifest(path, ["image", "text"], on_error="skip")
    assert ([i.id for i in items], report.count) == (["ok"], 1)
