"""DeepMimic clips on pybullet's humanoid, the shared 15-joint skeleton, its normalisation, and the pictures."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unibind.modalities import InputError
from unibind.motion.canonical import (
    JOINTS,
    from_features,
    leg_length,
    mirror,
    normalise,
    resample,
    select_joints,
    to_features,
)
from unibind.motion.deepmimic import (
    FRAME_WIDTH,
    deepmimic_positions,
    read_deepmimic,
    read_urdf_skeleton,
)
from unibind.motion.render import save_gif, save_keyframes


@pytest.fixture(scope="module")
def pybullet_data() -> Path:
    module = pytest.importorskip("pybullet_data", reason="pybullet is not installed (the 'data' extra)")
    return Path(module.getDataPath())


def _standing(frames: int = 4) -> np.ndarray:
    """A canonical skeleton at (3, 0.5, 2), its left towards -z (so it faces +x, y up), stepping forward."""
    pose = {
        "pelvis": (0, 1.0, 0), "chest": (0, 1.5, 0), "head": (0, 1.9, 0),
        "right_hip": (0, 1.0, 0.1), "right_knee": (0, 0.5, 0.1), "right_ankle": (0, 0.0, 0.1),
        "left_hip": (0, 1.0, -0.1), "left_knee": (0, 0.5, -0.1), "left_ankle": (0, 0.0, -0.1),
        "right_shoulder": (0, 1.5, 0.2), "right_elbow": (0, 1.2, 0.25), "right_wrist": (0, 0.9, 0.25),
        "left_shoulder": (0, 1.5, -0.2), "left_elbow": (0, 1.2, -0.25), "left_wrist": (0, 0.9, -0.25),
    }  # fmt: skip
    one = np.array([pose[j] for j in JOINTS], dtype=np.float64) * 2.0 + [3.0, 0.5, 2.0]
    return np.stack([one + np.array([0.1 * t, 0.0, 0.0]) for t in range(frames)])


def test_normalise_scales_floors_centres_and_faces() -> None:
    out = normalise(_standing())
    assert leg_length(out) == pytest.approx(1.0)
    assert out[..., 1].min() == pytest.approx(0.0)
    np.testing.assert_allclose(out[0, JOINTS.index("pelvis"), [0, 2]], [0, 0], atol=1e-12)
    across = out[0, JOINTS.index("left_hip")] - out[0, JOINTS.index("right_hip")]
    assert across[0] > 0
    assert abs(across[2]) < 1e-12
    # forward (+x here: left = up x forward) becomes +z, as for every normalised clip
    assert out[-1, 0, 2] > out[0, 0, 2]


def test_mirror_swaps_sides_and_twice_is_identity() -> None:
    positions = normalise(_standing())
    mirrored = mirror(positions)
    np.testing.assert_allclose(
        mirrored[:, JOINTS.index("left_wrist"), 0], -positions[:, JOINTS.index("right_wrist"), 0]
    )
    np.testing.assert_allclose(mirror(mirrored), positions)
    np.testing.assert_allclose(from_features(to_features(positions)), positions, atol=1e-6)


def test_resample_is_linear_in_time() -> None:
    positions = np.arange(3, dtype=np.float64).reshape(3, 1, 1) * np.ones((3, 1, 3))
    out = resample(positions, np.array([0.0, 0.1, 0.3]), fps=20)
    assert len(out) == 7  # 0 .. 0.3 s every 0.05 s
    np.testing.assert_allclose(out[:, 0, 0], [0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0])
    with pytest.raises(ValueError, match="increasing"):
        resample(positions, np.array([0.0, 0.0, 0.1]), 20)


def test_select_joints_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="no joint for 'pelvis'"):
        select_joints(["Spine"], np.zeros((1, 1, 3)))


def test_deepmimic_walk_on_the_urdf_skeleton(pybullet_data: Path) -> None:
    skeleton = read_urdf_skeleton(pybullet_data / "humanoid" / "humanoid.urdf")
    assert skeleton.names[0] == "base"
    assert skeleton.names[skeleton.parents[skeleton.names.index("right_knee")]] == "right_hip"
    np.testing.assert_allclose(skeleton.axes["left_elbow"], [0, 0, 1])
    clip = read_deepmimic(pybullet_data / "data" / "motions" / "humanoid3d_walk.txt")
    assert clip.loop
    assert clip.frames.shape == (39, FRAME_WIDTH - 1)
    positions = deepmimic_positions(clip, skeleton)
    names = skeleton.names
    shin = np.linalg.norm(positions[:, names.index("right_ankle")] - positions[:, names.index("right_knee")], axis=1)
    urdf = (pybullet_data / "humanoid" / "humanoid.urdf").read_text(errors="replace")
    ankle_y = float(re.search(r'<joint name="right_ankle".*?xyz = "[-\d.]+ ([-\d.]+)', urdf, re.S).group(1))
    np.testing.assert_allclose(shin, 0.25 * abs(ankle_y), rtol=1e-9)  # the knee-ankle offset, at pybullet's 0.25
    walk = normalise(resample(select_joints(names, positions), clip.times, 20))
    assert walk[-1, JOINTS.index("pelvis"), 2] > 1.0  # walks forward (+z) more than a leg length
    assert walk[:, JOINTS.index("head"), 1].min() > walk[:, JOINTS.index("pelvis"), 1].max()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a DeepMimic clip"),
        (json.dumps({"Loop": "none", "Frames": [[0.1] * 10, [0.1] * 10]}), "frames of 44 values"),
        (
            json.dumps({"Loop": "none", "Frames": [[0.0] + [1.0] * 43, [0.1] + [1.0] * 43]}),
            "frame 0 has a non-positive",
        ),
        (json.dumps({"Loop": "none", "Frames": [[0.1] * 44, [0.1] * 43 + [float("nan")]]}), "NaN or inf in frame 1"),
    ],
)
def test_bad_deepmimic_clips_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "humanoid3d_bad.txt"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_deepmimic(path)


def test_pictures(tmp_path: Path) -> None:
    positions = normalise(_standing(6))
    gif = save_gif(positions, tmp_path / "m.gif", fps=20, size=120)
    with Image.open(gif) as image:
        assert image.n_frames == 6
        assert image.size == (120, 120)
    strip = save_keyframes(positions, tmp_path / "m.png", count=3, size=100, title="standing")
    with Image.open(strip) as image:
        assert image.size == (300, 118)
        assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 3  # something was drawn
    with pytest.raises(ValueError, match=r"\[frames, 15, 3\]"):
        save_gif(np.zeros((4, 3)), tmp_path / "bad.gif")
