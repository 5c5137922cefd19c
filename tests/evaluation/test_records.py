import json
from pathlib import Path

import pytest

from unibind.evaluation.records import (
    MetricDefinition,
    RecordError,
    compare_records,
    data_record,
    files_digest,
    model_record,
    read_record,
    write_record,
)

METRIC = MetricDefinition("R@1", "recall at 1", "a paper", version=2)


def record(tmp_path: Path, name: str, rows: dict, data_files: list[Path]) -> Path:
    return write_record(
        tmp_path / name,
        benchmark="xtd",
        command="unibind eval xtd --data d",
        model={"source": "m", "weights": {"sha256": "ab" * 32}},
        data=data_record(tmp_path, data_files, version="v1"),
        metrics=[METRIC],
        rows=rows,
        table="| x |",
        details={"images": 3},
    )


def test_write_read_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "captions.txt"
    data.write_text("a\n")
    path = record(tmp_path, "out/a.json", {"text->image en": {"R@1": 50.0}}, [data])
    loaded = read_record(path)
    assert loaded["rows"] == {"text->image en": {"R@1": 50.0}}
    assert loaded["metrics"]["R@1"] == {
        "name": "R@1",
        "definition": "recall at 1",
        "reference": "a paper",
        "version": 2,
    }
    assert loaded["data"]["files"] == 1
    assert loaded["data"]["version"] == "v1"
    assert loaded["command"] == "unibind eval xtd --data d"
    assert loaded["table"] == "| x |"
    assert {"unibind", "python", "torch", "platform"} <= set(loaded["environment"])
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]  # no temporary file left


def test_digest_follows_content_not_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("1")
    b.write_text("2")
    first = files_digest(tmp_path, [a, b])
    assert files_digest(tmp_path, [b, a, a]) == first
    b.write_text("3")
    assert files_digest(tmp_path, [a, b])["sha256"] != first["sha256"]
    assert first["files"] == 2
    assert first["bytes"] == 2


def test_model_record_hashes_weights_and_config(tiny_embedder, tmp_path: Path) -> None:
    tiny_embedder.save_pretrained(tmp_path / "model")
    entry = model_record(tmp_path / "model")
    assert entry["weights"]["files"] == 1
    assert len(entry["weights"]["sha256"]) == 64
    assert entry["config_sha256"] is not None
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        model_record(tmp_path / "nothing")


def test_compare_prints_deltas_and_warns_on_different_data(tmp_path: Path) -> None:
    data = tmp_path / "captions.txt"
    data.write_text("a\n")
    a = read_record(record(tmp_path, "a.json", {"en": {"R@1": 50.0}, "de": {"R@1": 10.0}}, [data]))
    b = read_record(record(tmp_path, "b.json", {"en": {"R@1": 62.5}, "fr": {"R@1": 5.0}}, [data]))
    table = compare_records(a, b)
    assert "| en | R@1 | 50.00 | 62.50 | +12.50 |" in table
    assert "| de | R@1 | 10.00 | - | - |" in table
    assert "| fr | R@1 | - | 5.00 | - |" in table
    assert "different data" not in table
    data.write_text("b\n")
    c = read_record(record(tmp_path, "c.json", {"en": {"R@1": 50.0}}, [data]))
    assert "note: different data" in compare_records(a, c)


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RecordError, match=r"bad\.json: not JSON"):
        read_record(bad)
    bad.write_text(json.dumps({"benchmark": "x"}))
    with pytest.raises(RecordError, match=r"bad\.json: not a unibind result manifest"):
        read_record(bad)
    with pytest.raises(RecordError, match="no such file"):
        read_record(tmp_path / "missing.json")
