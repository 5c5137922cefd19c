"""The HumanML3D layout and TMR's annotations.json, on real files (tests/fixtures/humanml3d, kitml_tmr)."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from unibind.datasets.humanml3d import HumanML3D, read_split, read_stats, read_texts, read_tmr_annotations
from unibind.datasets.text_files import ManifestError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HUMANML3D = FIXTURES / "humanml3d"
KITML = FIXTURES / "kitml_tmr"


def test_real_caption_file() -> None:
    captions = read_texts(HUMANML3D / "texts" / "000000.txt")
    assert len(captions) == 4
    assert captions[0].text == "a man kicks something or someone with his left leg."
    assert captions[0].tokens[:2] == ("a/DET", "man/NOUN")
    assert all(c.whole_clip for c in captions)


def test_real_split_and_stats() -> None:
    test_ids = read_split(HUMANML3D / "test.txt")
    assert len(test_ids) == 4384
    assert "000000" in test_ids
    assert "M010968" in read_split(HUMANML3D / "train.txt")
    mean, std = read_stats(HUMANML3D, 263)
    assert mean.shape == std.shape == (263,)
    with pytest.raises(ManifestError, match=r"Mean\.npy: expected shape \(251,\)"):
        read_stats(HUMANML3D, 251)


def test_real_test_split_gives_the_captioned_motion_and_counts_the_rest() -> None:
    dataset = HumanML3D(HUMANML3D, "test", on_error="skip")
    assert [item.id for item in dataset.items] == ["000000"]
    assert len(dataset.items[0].captions) == 4
    assert dataset.skipped.count == 4383  # the other test ids have no captions here
    motion = dataset.motion(dataset.items[0], dataset.spec())
    assert motion.shape == (116, 263)
    raw = np.load(HUMANML3D / "new_joint_vecs" / "000000.npy")
    mean, std = read_stats(HUMANML3D, 263)
    np.testing.assert_allclose(motion.numpy(), (raw - mean) / std, rtol=1e-4, atol=1e-4)
    with pytest.raises(ManifestError, match="has no captions"):
        HumanML3D(HUMANML3D, "test")


def _layout(tmp_path: Path, lines: list[str]) -> Path:
    root = tmp_path / "h3d"
    shutil.copytree(HUMANML3D, root)
    (root / "texts" / "012314.txt").write_text("\n".join(lines) + "\n")
    (root / "val.txt").write_text("012314\r\n000000\r\n")
    return root


def test_sub_clip_captions_cut_their_own_items(tmp_path: Path) -> None:
    root = _layout(
        tmp_path,
        [
            "a person walks.#a/DET person/NOUN walk/VERB#0.0#0.0",
            "then turns around.#then/ADV turn/VERB around/ADV#2.0#5.0",
            "a blink.#a/DET blink/NOUN#1.0#1.5",  # 10 frames: shorter than 40, left out and counted
            "the whole thing again.#the/DET#nan#nan",
        ],
    )
    dataset = HumanML3D(root, "val")
    ids = [item.id for item in dataset.items]
    assert ids == ["012314", "012314#1", "000000"]
    whole, sub = dataset.items[0], dataset.items[1]
    assert whole.captions == ["a person walks.", "the whole thing again."]
    assert (sub.start_frame, sub.end_frame) == (40, 100)
    assert dataset.motion(sub, dataset.spec()).shape == (60, 263)
    assert dataset.skipped.count == 1
    assert "sub-clip 20-30" in dataset.skipped.reasons[0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("no hashes here", "line 1: expected 'caption#tokens#start#end', got 1 fields"),
        ("text#tok#a#b", "line 1: start/end must be numbers"),
        ("#tok#0.0#0.0", "line 1: empty caption"),
        ("text#tok#3.0#2.0", "line 1: span 3.0-2.0 s ends before it starts"),
    ],
)
def test_malformed_caption_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    root = _layout(tmp_path, [line])
    with pytest.raises(ManifestError, match=f"012314.txt, {message}"):
        HumanML3D(root, "val")


def test_in_skip_mode_a_bad_caption_line_costs_only_that_line(tmp_path: Path) -> None:
    root = _layout(tmp_path, ["a person walks.#a/DET#0.0#0.0", "text#tok#a#b", "then turns.#then/ADV#0.0#0.0"])
    with pytest.raises(ManifestError, match=r"012314\.txt, line 2: start/end must be numbers"):
        HumanML3D(root, "val")
    dataset = HumanML3D(root, "val", on_error="skip")
    assert dataset.items[0].captions == ["a person walks.", "then turns."]
    assert dataset.skipped.count == 1
    assert "012314.txt, line 2" in dataset.skipped.reasons[0]


def test_a_damaged_motion_file_is_named_or_skipped(tmp_path: Path) -> None:
    root = _layout(tmp_path, ["a person walks.#a/DET#0.0#0.0"])
    (root / "new_joint_vecs" / "012314.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ManifestError, match=r"012314\.npy: not a plain \.npy motion array"):
        HumanML3D(root, "val")
    assert [item.id for item in HumanML3D(root, "val", on_error="skip").items] == ["000000"]


def test_captions_without_a_motion(tmp_path: Path) -> None:
    root = _layout(tmp_path, ["a person walks.#a/DET#0.0#0.0"])
    (root / "new_joint_vecs" / "012314.npy").unlink()
    with pytest.raises(ManifestError, match=r"012314.txt: captions without a motion"):
        HumanML3D(root, "val")
    assert [item.id for item in HumanML3D(root, "val", on_error="skip").items] == ["000000"]


def test_kitml_annotations_in_tmr_format() -> None:
    items, skipped = read_tmr_annotations(KITML / "annotations.json", KITML / "splits" / "nsim_test.txt", fps=12.5)
    assert len(items) == 98
    assert skipped.count == 3  # three nsim_test keyids are not annotated in TMR's file
    first = items[0]
    assert first.source.startswith("KIT/")
    assert first.end_frame is None
    assert all(item.captions for item in items)
    with pytest.raises(ValueError, match="unknown motion dataset format"):
        HumanML3D(HUMANML3D, "test", dataset_format="amass")


def test_caption_files_with_bad_bytes_are_named_and_bad_lines_can_be_counted(tmp_path: Path) -> None:
    path = tmp_path / "012314.txt"
    path.write_bytes(
        b"\xef\xbb\xbfa person walks.#a/DET#0.0#0.0\r\n"
        b"a caf\xe9 walk.#x#0.0#0.0\n" + "one\u2028line.#x#0.0#0.0\n".encode() + b"no hashes\n"
        b"then sits.#then/ADV#2.0#5.0\n"
    )
    with pytest.raises(ManifestError, match=r"012314\.txt, line 2: not valid UTF-8 \(byte 0xe9 at column 6\)"):
        read_texts(path)
    errors: list[ManifestError] = []
    captions = read_texts(path, on_bad=errors.append)
    assert [(c.text, c.line) for c in captions] == [("a person walks.", 1), ("one\u2028line.", 3), ("then sits.", 5)]
    assert ["line 2: not valid UTF-8" in str(errors[0]), "line 4: expected" in str(errors[1])] == [True, True]


def test_split_files_name_bad_lines_and_keep_repeated_ids_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    split = tmp_path / "val.txt"
    split.write_bytes(b"\xef\xbb\xbf000001\r\n000002\n\n000001\n")
    with caplog.at_level("WARNING", logger="unibind.datasets.humanml3d"):
        assert read_split(split) == ["000001", "000002"]
    assert "line 4: id '000001' repeats line 1" in caplog.text
    errors: list[ManifestError] = []
    assert read_split(split, on_bad=errors.append) == ["000001", "000002"]
    assert len(errors) == 1
    split.write_bytes(b"000001\n\xff0002\n")
    with pytest.raises(ManifestError, match=r"val\.txt, line 2: not valid UTF-8"):
        read_split(split)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"k1": {"path": "a", "duration": 1.0, "annotations": []}', r"annotations\.json: not valid JSON"),
        (b'{"k1": {}, "k1": {}}', r"annotations\.json: key 'k1' appears twice"),
        (b'{"k1":\n {"path": "\xff"}}', r"annotations\.json, line 2: not valid UTF-8"),
        (b"[1, 2]", r"annotations\.json: expected a JSON object of keyids"),
    ],
)
def test_tmr_annotations_bad_json_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "annotations.json"
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=message):
        read_tmr_annotations(path)
