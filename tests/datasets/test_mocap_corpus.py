"""The mocap corpus: real DeepMimic and BVH clips into captioned windows that keep train and test apart."""

import json
from pathlib import Path

import numpy as np
import pytest

from unibind.datasets import read_manifest
from unibind.datasets.mocap_corpus import (
    CLIPS,
    WINDOW_FRAMES,
    build_mocap_corpus,
    held_out_windows,
    split_frames,
    training_windows,
)
from unibind.modalities import MotionSpec
from unibind.motion.canonical import JOINTS, NUM_FEATURES, leg_length

pytest.importorskip("pybullet_data", reason="pybullet is not installed (the 'data' extra)")


def _clip(frames: int) -> np.ndarray:
    """A random skeleton (hips across x) gliding along +z: [frames, 15, 3]."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(len(JOINTS), 3))
    base[[JOINTS.index("right_hip"), JOINTS.index("left_hip")]] = [[-0.1, 1, 0], [0.1, 1, 0]]
    return np.stack([base + np.array([0.0, 0.0, 0.05 * t]) for t in range(frames)])


def test_windows_respect_lengths_and_normalisation() -> None:
    positions = _clip(100)
    split = split_frames(100)
    assert split == 70
    train = training_windows(positions[:split], 10, np.random.default_rng(1))
    assert all(WINDOW_FRAMES[0] <= len(w) <= WINDOW_FRAMES[1] for w in train)
    assert all(leg_length(w) == pytest.approx(1.0) for w in train)
    test = held_out_windows(positions[split:])
    assert [len(w) for w in test] == [30]
    assert [len(w) for w in held_out_windows(_clip(95))] == [40, 55]  # a 15-frame tail joins the window before


def test_corpus_from_real_clips(tmp_path: Path) -> None:
    corpus = build_mocap_corpus(tmp_path / "mocap", windows_per_clip=3, progress=False, names=["walk", "kick"])
    train, test = corpus.rows("train"), corpus.rows("test")
    assert len(train) == 6
    assert {row["clip"] for row in test} == {"walk", "kick"}
    assert train[0]["text"][0] == "a person walks forward"
    items, skipped = read_manifest(corpus.manifest("test"), ["motion", "text"])
    assert skipped.count == 0
    motion = MotionSpec(NUM_FEATURES, max_frames=64).load(items[0].fields["motion"])
    assert motion.shape[1] == NUM_FEATURES
    index = json.loads((tmp_path / "mocap" / "index.json").read_text())
    assert index["made_with"]["clips"] == ["walk", "kick"]
    stamp = (tmp_path / "mocap" / "train.jsonl").stat().st_mtime_ns
    build_mocap_corpus(tmp_path / "mocap", windows_per_clip=3, progress=False, names=["walk", "kick"])
    assert (tmp_path / "mocap" / "train.jsonl").stat().st_mtime_ns == stamp  # reused
    with pytest.raises(ValueError, match="unknown motion clips"):
        build_mocap_corpus(tmp_path / "other", names=["moonwalk"])


def test_every_clip_has_three_captions_and_dances_share_a_group() -> None:
    assert len(CLIPS) == 18
    assert all(len(clip.captions) == 3 for clip in CLIPS)
    groups = {clip.name: clip.group for clip in CLIPS}
    assert groups["dance_a"] == groups["dance_b"]
    assert len(set(groups.values())) == 17
