"""MotionSpec: shapes, normalisation, crops, masks and the errors of bad clips, on real HumanML3D files."""

from pathlib import Path

import numpy as np
import pytest
import torch

from unibind.modalities import InputError, MotionBatch, MotionSpec

HUMANML3D = Path(__file__).resolve().parents[1] / "fixtures" / "humanml3d"  # real files, see its SOURCES.md


def test_real_motion_is_normalised_with_the_official_stats() -> None:
    spec = MotionSpec(mean=HUMANML3D / "Mean.npy", std=HUMANML3D / "Std.npy")
    motion = spec.load(HUMANML3D / "new_joint_vecs" / "012314.npy")
    raw = np.load(HUMANML3D / "new_joint_vecs" / "012314.npy")
    expected = (raw - np.load(HUMANML3D / "Mean.npy")) / np.load(HUMANML3D / "Std.npy")
    assert motion.shape == (170, 263)
    assert motion.dtype == torch.float32
    np.testing.assert_allclose(motion.numpy(), expected, rtol=1e-5, atol=1e-5)
    float64 = spec.load(HUMANML3D / "new_joint_vecs" / "000000.npy")  # stored as float64
    assert float64.dtype == torch.float32
    assert float64.shape == (116, 263)


def test_crops_keep_at_most_max_frames() -> None:
    clip = torch.arange(300, dtype=torch.float32).view(300, 1).expand(300, 4)
    assert MotionSpec(4, crop="start").load(clip)[0, 0] == 0
    assert MotionSpec(4, crop="center").load(clip)[0, 0] == 52  # (300 - 196) // 2
    torch.manual_seed(0)
    starts = {int(MotionSpec(4, crop="random").load(clip)[0, 0]) for _ in range(20)}
    assert len(starts) > 1
    assert all(0 <= s <= 104 for s in starts)
    assert MotionSpec(4).load(clip[:50]).shape == (50, 4)


def test_collate_pads_and_masks() -> None:
    spec = MotionSpec(3)
    batch = spec.collate([torch.ones(5, 3), torch.ones(2, 3)])
    assert isinstance(batch, MotionBatch)
    assert batch.features.shape == (2, 5, 3)
    assert batch.lengths.tolist() == [5, 2]
    assert batch.features[1, 2:].abs().sum() == 0
    assert spec.dummy_batch(4).features.shape[0] == 4


def test_bad_motions_are_named(tmp_path: Path) -> None:
    spec = MotionSpec(263, min_frames=4)
    np.save(tmp_path / "clip.npy", np.zeros((10, 251), dtype=np.float32))
    with pytest.raises(InputError, match=r"clip\.npy: expected a \[frames, 263\] motion, got shape \(10, 251\)"):
        spec.load(tmp_path / "clip.npy", item=str(tmp_path / "clip.npy"))
    bad = np.zeros((10, 263), dtype=np.float32)
    bad[7, 3] = np.nan
    with pytest.raises(InputError, match="m1: NaN or inf in 1 frames \\(first: frame 7\\)"):
        spec.load(bad, item="m1")
    bad[7, 3] = np.inf
    with pytest.raises(InputError, match="NaN or inf"):
        spec.load(bad)
    with pytest.raises(InputError, match="0 frames, expected at least 4"):
        spec.load(np.zeros((0, 263)))
    with pytest.raises(InputError, match="motion file not found"):
        spec.load(tmp_path / "missing.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"not a plain \.npy array"):
        spec.load(tmp_path / "objects.npy")
    with pytest.raises(InputError, match="expected shape \\(263,\\)"):
        MotionSpec(263, mean=np.zeros(10), std=np.ones(10))
    with pytest.raises(InputError, match="entries <= 0"):
        MotionSpec(2, mean=np.zeros(2), std=np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="both mean and std"):
        MotionSpec(2, mean=np.zeros(2))


def test_non_numeric_and_archives_are_refused_naming_the_path(tmp_path: Path) -> None:
    np.save(tmp_path / "words.npy", np.array([["a"] * 263]))
    with pytest.raises(InputError, match=rf"^{tmp_path / 'words.npy'}: motion values must be real numbers"):
        MotionSpec(263).load(tmp_path / "words.npy")
    np.savez(tmp_path / "archive.npz", clip=np.zeros((3, 263)))
    (tmp_path / "archive.npz").rename(tmp_path / "archive.npy")
    with pytest.raises(InputError, match=r"a \.npz archive; expected a single \.npy array"):
        MotionSpec(263).load(tmp_path / "archive.npy")
    with pytest.raises(InputError, match="real numbers"):
        MotionSpec(2).load([[1, 2], [3, "x"]])


def test_repr_follows_the_statistics() -> None:
    a = MotionSpec(2, mean=np.zeros(2), std=np.ones(2))
    b = MotionSpec(2, mean=np.zeros(2), std=np.full(2, 2.0))
    assert repr(a) != repr(b)
    assert "raw" in repr(MotionSpec(2))
