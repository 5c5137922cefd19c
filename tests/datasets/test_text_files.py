"""The shared UTF-8 readers: every bad line is named by file and line, or handed to ``on_bad`` while reading goes on."""

import re
from pathlib import Path

import pytest

from unibind.datasets.text_files import (
    ManifestError,
    read_json,
    read_jsonl,
    read_lines,
    read_table,
    resolve_file,
    resolve_inside,
)


def test_read_jsonl_raises_by_default_and_reports_to_on_bad(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b'{"_id": "1"}\n\xff\n{"_id": "3"}\n{bad\n')
    with pytest.raises(ManifestError, match=r"corpus\.jsonl, line 2: not valid UTF-8"):
        read_jsonl(path, unit="line")
    errors: list[ManifestError] = []
    assert read_jsonl(path, unit="line", on_bad=errors.append) == [(1, {"_id": "1"}), (3, {"_id": "3"})]
    assert [re.search(r"line \d+", str(e))[0] for e in errors] == ["line 2", "line 4"]


def test_read_jsonl_refuses_repeated_keys_and_non_objects(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a", "id": "b"}\n[1, 2]\n{"id": "c"}\n')
    errors: list[ManifestError] = []
    assert read_jsonl(path, on_bad=errors.append) == [(3, {"id": "c"})]
    assert "key 'id' appears twice" in str(errors[0])
    assert "row 2: expected a JSON object, got list" in str(errors[1])


def test_read_lines_accepts_a_bom_and_splits_only_at_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_bytes("\ufeffone\u2028still one\r\ntwo\rthree\n".encode())  # a BOM, then a U+2028 in line 1
    assert list(read_lines(path)) == [(1, "one\u2028still one"), (2, "two"), (3, "three")]
    (tmp_path / "utf16.txt").write_bytes("hello".encode("utf-16"))
    with pytest.raises(ManifestError, match="UTF-16 byte-order mark"):
        list(read_lines(tmp_path / "utf16.txt"))


def test_read_table_names_bad_records_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\na,fine\nb,"broken"quote\nc,x,extra\nd,\xff\ne,last\n')
    header, records = read_table(path)
    with pytest.raises(ManifestError, match=r"t\.csv, row 3: malformed CSV"):
        list(records)
    errors: list[ManifestError] = []
    header, records = read_table(path, on_bad=errors.append)
    assert header == ["id", "text"]
    assert [row["id"] for _, row in records] == ["a", "e"]
    assert [re.search(r"row \d+", str(e))[0] for e in errors] == ["row 3", "row 4", "row 5"]
    (tmp_path / "dup.csv").write_text("id,id\n1,2\n")
    with pytest.raises(ManifestError, match="repeats column"):
        read_table(tmp_path / "dup.csv")


def test_read_json_names_the_line_of_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'{\n  "a": 1,\n  "b": "\xff"\n}')
    with pytest.raises(ManifestError, match=r"a\.json, line 3: not valid UTF-8"):
        read_json(path)


def test_paths_may_not_leave_their_folder(tmp_path: Path) -> None:
    root = (tmp_path / "data").resolve()
    root.mkdir()
    (root / "a.png").write_bytes(b"")
    (tmp_path / "outside.png").write_bytes(b"")
    (root / "link.png").symlink_to(tmp_path / "outside.png")
    assert resolve_file(root, "a.png", "row 1", "the folder") == root / "a.png"
    for value in ("../outside.png", str(tmp_path / "outside.png"), "link.png"):
        with pytest.raises(ManifestError, match="leaves the folder"):
            resolve_inside(root, value, "row 1", "the folder")
    with pytest.raises(ManifestError, match="unusable path"):
        resolve_inside(root, "a\0.png", "row 1", "the folder")
    with pytest.raises(ManifestError, match="file not found"):
        resolve_file(root, "missing.png", "row 1", "the folder")
