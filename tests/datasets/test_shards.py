"""WebDataset shards: written from a manifest, read back as ManifestDataset reads it, and by the webdataset package."""

import hashlib
import io
import json
import os
import random
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import webdataset

from unibind.datasets import (
    SHARD_INDEX,
    ManifestDataset,
    ManifestError,
    ShardSet,
    decode_record,
    is_shard_location,
    iter_records,
    open_shards,
    write_shards,
)
from unibind.modalities import AudioSpec, ImageSpec, InputError, MotionSpec, TextSpec

MODALITIES = ["image", "text", "audio", "motion"]


def specs() -> dict:
    return {"image": ImageSpec(16), "text": TextSpec(), "audio": AudioSpec(clip_seconds=0.5), "motion": MotionSpec()}


def write_tone(path: Path, hz: float, rate: int = 16000, seconds: float = 0.3, channels: int = 1) -> str:
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * hz * t)
    soundfile.write(path, np.stack([tone] * channels, axis=1) if channels > 1 else tone, rate)
    return f"{path.parent.name}/{path.name}"


def write_motion(path: Path, frames: int, seed: int) -> str:
    np.save(path, np.random.default_rng(seed).standard_normal((frames, 263)).astype(np.float32))
    return f"{path.parent.name}/{path.name}"


@pytest.fixture
def corpus(shapes_dir: Path, tmp_path: Path) -> Path:
    """A 10-row manifest: shapes images and captions, WAV tones (one stereo at 22.05 kHz), [T, 263] motions."""
    root = tmp_path / "corpus"
    for folder in ("images", "audio", "motion"):
        (root / folder).mkdir(parents=True)
    source = [json.loads(line) for line in (shapes_dir / "train.jsonl").read_text().splitlines()][:8]
    for row in source:
        shutil.copy(shapes_dir / row["image"], root / row["image"])
    a = [write_tone(root / "audio" / f"tone{i}.wav", 220 * (i + 1)) for i in range(3)]
    a.append(write_tone(root / "audio" / "stereo.wav", 330, rate=22050, channels=2))
    m = [write_motion(root / "motion" / f"clip{i}.npy", 12 + 7 * i, i) for i in range(3)]
    rows = [
        {**source[0]},
        {**source[1], "audio": a[0]},
        {**source[2], "motion": m[0]},
        {"id": "tone-only", "audio": a[1], "text": ["a high tone"], "group": source[2]["group"]},
        {"id": "motion-only", "motion": m[1]},
        {"id": source[3]["id"], "image": source[3]["image"], "group": source[3]["group"]},
        {"id": "text-only", "text": "just words"},
        {**source[4], "audio": a[2], "motion": m[2]},
        {**source[5], "audio": a[3]},
        {**source[6]},
    ]
    (root / "m.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root / "m.jsonl"


@pytest.fixture
def shards(corpus: Path, tmp_path: Path) -> ShardSet:
    return write_shards(corpus, tmp_path / "shards", MODALITIES, samples_per_shard=3, progress=False)


def all_records(shard_set: ShardSet) -> list:
    return [record for shard in range(len(shard_set.shards)) for record in iter_records(shard_set, shard)]


def assert_same_sample(got: dict, want: dict) -> None:
    assert (got["id"], got["index"], got["group"]) == (want["id"], want["index"], want["group"])
    assert sorted(got["inputs"]) == sorted(want["inputs"])
    for modality, value in want["inputs"].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(got["inputs"][modality], value), modality
        else:
            assert got["inputs"][modality] == value


def test_round_trip_matches_manifest_dataset(corpus: Path, shards: ShardSet) -> None:
    dataset = ManifestDataset(corpus, specs(), text_sampling="first")
    assert [s.count for s in shards.shards] == [3, 3, 3, 1]
    assert [s.name for s in shards.shards] == [f"shard-{n:06d}.tar" for n in range(4)]
    assert shards.total == len(dataset) == 10
    assert shards.modalities == MODALITIES
    assert shards.groups == sorted(dataset.group_index, key=dataset.group_index.get)
    assert shards.skipped == 0
    assert open_shards(shards.location) == shards
    records = all_records(shards)
    assert [r.key for r in records] == [f"{i:012d}" for i in range(10)]
    assert [r.position for r in records] == [0, 1, 2] * 3 + [0]
    for record in records:
        item = dataset.items[record.meta["index"]]
        assert record.meta.get("text") == item.fields.get("text")
        for modality, (suffix, data) in record.files.items():  # files travel byte for byte
            assert data == item.fields[modality].read_bytes()
            assert suffix == item.fields[modality].suffix
        assert_same_sample(decode_record(record, specs(), "first"), dataset[record.meta["index"]])
    assert {m for r in records for m in r.files} == {"image", "audio", "motion"}
    assert sum("audio" in r.files for r in records) == 4
    # group ints shared as in the manifest: "tone-only" is in the group of row 3
    assert records[3].meta["group"] == records[2].meta["group"]


def test_text_sampling_random_uses_module_random(shards: ShardSet) -> None:
    record = next(iter_records(shards, 0))
    random.seed(3)
    first = [decode_record(record, {"text": TextSpec()}, "random")["inputs"]["text"] for _ in range(8)]
    random.seed(3)
    again = [decode_record(record, {"text": TextSpec()}, "random")["inputs"]["text"] for _ in range(8)]
    assert first == again
    assert set(first) <= set(record.meta["text"])
    assert len(set(first)) > 1


def test_shards_are_byte_identical_when_written_twice(corpus: Path, shards: ShardSet, tmp_path: Path) -> None:
    again = write_shards(corpus, tmp_path / "again", MODALITIES, samples_per_shard=3, progress=False)
    assert again.shards == shards.shards
    for name in [s.name for s in shards.shards] + [SHARD_INDEX]:
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "shards" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(
        p.name for p in (tmp_path / "shards").iterdir()
    )


def test_webdataset_reads_the_same_samples(shards: ShardSet) -> None:
    urls = [shards.url(i) for i in range(len(shards.shards))]
    samples = list(webdataset.WebDataset(urls, shardshuffle=False))
    records = all_records(shards)
    assert [s["__key__"] for s in samples] == [r.key for r in records]
    for sample, record in zip(samples, records, strict=True):
        assert json.loads(sample["json"]) == record.meta
        files = {k: v for k, v in sample.items() if not k.startswith("__") and k != "json"}
        assert files == {f"{m}{suffix}": data for m, (suffix, data) in record.files.items()}


def test_start_stop_and_file_url(shards: ShardSet) -> None:
    full = list(iter_records(shards, 1))
    middle = list(iter_records(shards, 1, start=1, stop=2))
    assert [(r.position, r.key, r.meta, r.files) for r in middle] == [(1, full[1].key, full[1].meta, full[1].files)]
    assert [r.key for r in iter_records(shards, 1, start=2)] == [full[2].key]
    assert [r.key for r in iter_records(shards, 1, stop=1)] == [full[0].key]
    assert list(iter_records(shards, 1, start=3)) == []

    url = Path(shards.location).resolve().as_uri()
    assert url.startswith("file://")
    assert is_shard_location(url)
    assert is_shard_location(shards.location)
    assert not is_shard_location(Path(shards.location).parent)
    remote = open_shards(url)
    assert remote.shards == shards.shards
    assert remote.groups == shards.groups
    assert remote.url(2) == f"{url}/shard-000002.tar"
    local, through_fsspec = all_records(shards), all_records(remote)
    assert [(r.position, r.key, r.meta, r.files) for r in through_fsspec] == [
        (r.position, r.key, r.meta, r.files) for r in local
    ]
    assert through_fsspec[0].source.startswith("file://")


def test_truncated_tar_names_the_shard(shards: ShardSet) -> None:
    path = Path(shards.url(0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ManifestError, match=r"shard-000000\.tar"):
        list(iter_records(shards, 0))


def test_tar_cut_at_a_member_boundary_is_caught_by_the_count(shards: ShardSet) -> None:
    path = Path(shards.url(0))
    with tarfile.open(path) as tar:
        offset = next(m.offset for m in tar.getmembers() if m.name.startswith("000000000002."))
    path.write_bytes(path.read_bytes()[:offset])  # tarfile alone reads this as a complete 2-sample archive
    with pytest.raises(ManifestError, match=r"shard-000000\.tar: holds 2 samples but shards\.json says 3"):
        list(iter_records(shards, 0))


def test_changed_shard_fails_the_checksum(shards: ShardSet) -> None:
    path = Path(shards.url(0))
    data = bytearray(path.read_bytes())
    data[-1] = 1  # the end-of-archive padding: every member still reads
    path.write_bytes(bytes(data))
    assert len(list(iter_records(shards, 0, stop=2))) == 2  # the check runs once the shard is read to its end
    with pytest.raises(ManifestError, match=r"shard-000000\.tar: .*sha256"):
        list(iter_records(shards, 0))


def rewrite_tar(path: Path, members: list[tuple[str, bytes]], kind: bytes = tarfile.REGTYPE) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.type = len(data), kind if name.startswith("!") else tarfile.REGTYPE
            info.name = name.lstrip("!")
            if info.type == tarfile.SYMTYPE:
                info.size, info.linkname = 0, "/etc/passwd"
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    index_path = path.parent / SHARD_INDEX
    index = json.loads(index_path.read_text())
    entry = next(s for s in index["shards"] if s["name"] == path.name)
    entry["sha256"], entry["nbytes"] = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size
    entry["count"] = len({name.lstrip("!").split(".")[0] for name, _ in members})
    index_path.write_text(json.dumps(index))


def read_members(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]


def test_corrupt_image_names_shard_key_and_id(shards: ShardSet) -> None:
    path = Path(shards.url(0))
    members = read_members(path)
    rewrite_tar(path, [(n, b"\x89PNG garbage" if n == "000000000001.image.png" else d) for n, d in members])
    records = list(iter_records(open_shards(shards.location), 0))
    assert decode_record(records[0], specs(), "first")["inputs"]["image"].shape == (3, 16, 16)
    with pytest.raises(InputError, match=r"shard-000000\.tar, sample 000000000001 \(id [^)]+\), image: cannot decode"):
        decode_record(records[1], specs(), "first")
    with pytest.raises(InputError) as info:
        decode_record(records[1], specs(), "first")
    assert f"(id {records[1].meta['id']})" in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x93NUMPY garbage",
        b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order'( False, 'shape': (2, 263), }",  # header SyntaxError
        b"PK\x03\x04 an npz, not an npy",
    ],
)
def test_corrupt_motion_member_names_shard_key_and_id(shards: ShardSet, payload: bytes) -> None:
    record = next(r for r in all_records(shards) if "motion" in r.files)
    record.files["motion"] = (".npy", payload)
    with pytest.raises(InputError, match=rf"sample {record.key} \(id {record.meta['id']}\), motion: "):
        decode_record(record, specs(), "first")


def test_spec_errors_carry_the_same_location(shards: ShardSet) -> None:
    record = next(r for r in all_records(shards) if "motion" in r.files)
    with pytest.raises(InputError, match=rf"sample {record.key} \(id {record.meta['id']}\), motion: expected a \["):
        decode_record(record, {"motion": MotionSpec(num_features=6)}, "first")


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("000000000000.json", b"{}"), ("000000000000.video.mp4", b"x")], r"unexpected member '000000000000\.video"),
        ([("000000000000.image.png", b"x")], r"sample 000000000000 has no 000000000000\.json member"),
        ([("000000000000.json", b"[1, 2]")], r"member '000000000000\.json' must hold a JSON object"),
        ([("000000000000.json", b"{not json")], r"member '000000000000\.json' is not valid JSON"),
        ([("000000000000.json", b'{"id": "a", "index": 0}')], r"'group' must be a non-negative integer"),
        ([("!000000000000.image.png", b"")], r"member '000000000000\.image\.png' is not a regular file"),
    ],
)
def test_malformed_shards_raise_manifest_error(shards: ShardSet, members: list, message: str) -> None:
    path = Path(shards.url(3))
    rewrite_tar(path, members, kind=tarfile.SYMTYPE)
    with pytest.raises(ManifestError, match=r"shard-000003\.tar: .*" + message):
        list(iter_records(open_shards(shards.location), 3))


def test_missing_or_bad_index(shards: ShardSet, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty: no shards\.json"):
        open_shards(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"empty: no shards\.json"):
        open_shards((tmp_path / "empty").as_uri())
    index_path = Path(shards.location) / SHARD_INDEX
    index = json.loads(index_path.read_text())
    index_path.write_text(json.dumps({k: v for k, v in index.items() if k != "shards"}))
    with pytest.raises(ValueError, match=r"shards\.json: missing field 'shards'"):
        open_shards(shards.location)
    index["shards"][1]["count"] = "3"
    index_path.write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"shards\.json: field 'shards\[1\]\.count' must be a non-negative integer"):
        open_shards(shards.location)
    index["shards"][1] = {**index["shards"][0], "name": "../escape.tar"}
    index_path.write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"field 'shards\[1\]\.name' must be a plain file name"):
        open_shards(shards.location)


def test_missing_file_raises_or_is_skipped(corpus: Path, tmp_path: Path) -> None:
    lines = corpus.read_text().splitlines()
    lines.insert(2, json.dumps({"id": "ghost", "image": "images/ghost.png", "text": "gone"}))
    corpus.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError, match=r"m\.jsonl, row 3, field 'image': file not found"):
        write_shards(corpus, tmp_path / "raise", MODALITIES, samples_per_shard=3, progress=False)
    assert not (tmp_path / "raise" / SHARD_INDEX).exists()
    skipped = write_shards(corpus, tmp_path / "skip", MODALITIES, samples_per_shard=3, on_error="skip", progress=False)
    assert skipped.skipped == 1
    assert skipped.total == 10
    ids = [r.meta["id"] for r in all_records(skipped)]
    assert "ghost" not in ids
    assert len(set(ids)) == 10
    assert open_shards(tmp_path / "skip").skipped == 1


def test_unreadable_file_at_write_time_names_row_id_and_file(corpus: Path, tmp_path: Path) -> None:
    audio = corpus.parent / "audio" / "tone0.wav"
    audio.chmod(0)
    try:
        if os.access(audio, os.R_OK):
            pytest.skip("this process reads a file whatever its mode (root with CAP_DAC_OVERRIDE)")
        with pytest.raises(
            ManifestError, match=r"m\.jsonl, row 2 \(id [^)]+\), field 'audio': cannot read .*tone0\.wav"
        ):
            write_shards(corpus, tmp_path / "out", MODALITIES, progress=False)
        written = write_shards(corpus, tmp_path / "skip", MODALITIES, on_error="skip", progress=False)
        assert written.skipped == 1
        assert written.total == 9
    finally:
        audio.chmod(0o644)


def test_refuses_graph_and_remote_output(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"graph inputs cannot be sharded"):
        write_shards(corpus, tmp_path / "g", ["image", "graph"], progress=False)
    with pytest.raises(ValueError, match=r"local folder"):
        write_shards(corpus, "s3://bucket/shards", ["image"], progress=False)


def test_cli_data_shard(shapes_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from unibind.cli import main

    out = tmp_path / "cli"
    manifest = str(shapes_dir / "val.jsonl")
    argv = ["data", "shard", manifest, str(out), "--modalities", "image", "text", "--samples-per-shard", "4"]
    assert main([*argv, "--no-progress"]) == 0
    assert (out / SHARD_INDEX).is_file()
    written = open_shards(out)
    assert [s.count for s in written.shards] == [4, 4, 4, 4]  # 16 concepts, 1 val image each
    assert written.modalities == ["image", "text"]
    assert "wrote 16 samples in 4 shards" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"manifest not found: .*none\.jsonl"):
        main(["data", "shard", str(tmp_path / "none.jsonl"), str(tmp_path / "none")])
    with pytest.raises(SystemExit):
        main(["data", "shard", manifest, str(tmp_path / "g"), "--modalities", "graph"])
    assert "invalid choice: 'graph'" in capsys.readouterr().err
