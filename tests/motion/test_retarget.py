"""BVH and DeepMimic skeletons onto the 22 SMPL joints, and any motion source as HumanML3D's 263-d vectors."""

from pathlib import Path

import numpy as np
import pytest
from tests.serve.conftest import skeleton_bvh

from unibind.modalities import InputError
from unibind.motion.bvh import read_bvh
from unibind.motion.canonical import SMPL_JOINTS
from unibind.motion.humanml3d_features import NUM_FEATURES, features_from_joints, split_features
from unibind.motion.retarget import (
    COLLAR_WEIGHTS,
    TOE_PITCH_DEGREES,
    bvh_smpl_joints,
    deepmimic_smpl_joints,
    nearest_length,
    point_at_length,
    virtual_joints,
)
from unibind.motion.sources import load_humanml3d_features, load_motion_features

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "humanml3d"
ASSIMP_BVH = Path("/usr/share/assimp/models/BVH")


@pytest.fixture(scope="module")
def walking_bvh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The serve tests' skeleton (Hips, Spine1, Head, arms, legs; no neck, collars or toes) walking 40 frames
    at 20 fps towards +z, 2 units a frame, legs 24 units long."""
    path = tmp_path_factory.mktemp("bvh") / "walk.bvh"
    path.write_bytes(skeleton_bvh(40))
    return path


@pytest.fixture(scope="module")
def pybullet_data() -> Path:
    module = pytest.importorskip("pybullet_data", reason="pybullet is not installed (the 'data' extra)")
    return Path(module.getDataPath())


def _joint(joints: np.ndarray, name: str) -> np.ndarray:
    return joints[:, SMPL_JOINTS.index(name)]


def _check_sane(features: np.ndarray) -> dict[str, np.ndarray]:
    assert features.ndim == 2
    assert features.shape[1] == NUM_FEATURES
    assert np.isfinite(features).all()
    groups = split_features(features.astype(np.float64))
    assert (groups["root_height"] > 0).all()
    assert set(np.unique(groups["foot_contacts"])) <= {0.0, 1.0}
    six = groups["rotations"].reshape(len(features), 21, 6)
    np.testing.assert_allclose(np.linalg.norm(six[..., :3], axis=-1), 1.0, atol=1e-5)
    return groups


def test_small_bvh_rig_gets_approximated_joints(walking_bvh: Path) -> None:
    bvh = read_bvh(walking_bvh)
    extra = {name: parent for name, parent, _ in virtual_joints(bvh.names, bvh.parents, bvh.offsets)}
    assert extra == {"virtual_left_toe": bvh.names.index("LeftFoot"), "virtual_right_toe": bvh.names.index("RightFoot")}
    joints = bvh_smpl_joints(bvh)
    assert joints.shape == (40, 22, 3)
    first = joints[0]
    # no neck: the spine point level with the shoulders (y = 24 + 18); the spine joints below it, in order
    np.testing.assert_allclose(first[SMPL_JOINTS.index("neck")], [0.0, 42.0, 0.0], atol=1e-9)
    heights = [first[SMPL_JOINTS.index(name), 1] for name in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")]
    assert heights == sorted(heights)
    # collars between spine3, neck and shoulder; toes ahead of (+z) and below the ankles
    spine3, neck, shoulder = (first[SMPL_JOINTS.index(n)] for n in ("spine3", "neck", "left_shoulder"))
    expected = spine3 + COLLAR_WEIGHTS[0] * (shoulder - spine3) + COLLAR_WEIGHTS[1] * (neck - spine3)
    np.testing.assert_allclose(first[SMPL_JOINTS.index("left_collar")], expected)
    toe = _joint(joints, "left_foot") - _joint(joints, "left_ankle")
    assert (toe[:, 2] > 0).all()  # it swings with the leg; in the first frame the leg hangs straight
    np.testing.assert_allclose(np.degrees(np.arctan2(-toe[0, 1], toe[0, 2])), TOE_PITCH_DEGREES)
    assert first[SMPL_JOINTS.index("left_hip"), 0] > first[SMPL_JOINTS.index("right_hip"), 0]  # left is +x


def test_bvh_as_humanml3d_features(walking_bvh: Path) -> None:
    features = load_humanml3d_features(walking_bvh)
    assert features.shape == (39, NUM_FEATURES)  # 40 frames at 20 fps
    groups = _check_sane(features)
    # walks straight ahead: 2 units a frame, scaled by the ratio of leg lengths (HumanML3D's 0.816 m / 24)
    np.testing.assert_allclose(groups["root_linear_velocity"][:, 1], 2.0 * (0.3901882 + 0.4256434) / 24, atol=1e-4)
    np.testing.assert_allclose(groups["root_linear_velocity"][:, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(groups["root_rot_velocity"], 0.0, atol=1e-6)


def test_bvh_frame_rate_is_resampled_to_20_fps(tmp_path: Path) -> None:
    fast = skeleton_bvh(41).decode().replace("Frame Time: 0.05", "Frame Time: 0.025")
    (tmp_path / "fast.bvh").write_text(fast)
    assert load_humanml3d_features(tmp_path / "fast.bvh").shape == (20, NUM_FEATURES)  # 1 s: 21 positions


@pytest.mark.skipif(not ASSIMP_BVH.is_dir(), reason="Debian assimp-testmodels is not installed (make system-packages)")
@pytest.mark.parametrize("name", ["01_01.bvh", "Boxing_Toes.bvh"])
@pytest.mark.filterwarnings("ignore:.*frame lines; reading the first")  # Boxing_Toes.bvh declares one less
def test_real_bvh_files_land_near_humanml3d_statistics(name: str) -> None:
    features = load_humanml3d_features(ASSIMP_BVH / name)
    _check_sane(features)
    mean, std = np.load(FIXTURE / "Mean.npy"), np.load(FIXTURE / "Std.npy")
    assert np.abs((features - mean) / std).mean() < 1.5  # the released motions themselves: 0.5-1.0


def test_deepmimic_clip_as_humanml3d_features(pybullet_data: Path) -> None:
    from unibind.motion.deepmimic import read_deepmimic, read_urdf_skeleton

    clip_path = pybullet_data / "data" / "motions" / "humanoid3d_walk.txt"
    skeleton = read_urdf_skeleton(pybullet_data / "humanoid" / "humanoid.urdf")
    extra = [name for name, _, _ in virtual_joints(skeleton.names, skeleton.parents, skeleton.offsets)]
    assert extra == ["virtual_left_toe", "virtual_right_toe", "virtual_head"]
    joints = deepmimic_smpl_joints(read_deepmimic(clip_path), skeleton)
    assert (_joint(joints, "head")[:, 1] > _joint(joints, "neck")[:, 1]).all()
    features = load_humanml3d_features(clip_path)
    groups = _check_sane(features)
    assert len(features) == round(read_deepmimic(clip_path).duration * 20)
    speed = np.linalg.norm(groups["root_linear_velocity"], axis=1).mean() * 20
    assert 0.5 < speed < 2.0  # m/s, a walk
    assert 0.7 < groups["root_height"].mean() < 1.0
    assert groups["foot_contacts"].mean() > 0.2


def test_every_source_kind(walking_bvh: Path, tmp_path: Path) -> None:
    joints = np.load(FIXTURE / "new_joints" / "000000.npy")
    vectors = np.load(FIXTURE / "new_joint_vecs" / "000000.npy")
    np.testing.assert_allclose(load_humanml3d_features(FIXTURE / "new_joints" / "000000.npy"),
                               features_from_joints(joints), atol=1e-5)  # fmt: skip
    assert load_humanml3d_features(FIXTURE / "new_joint_vecs" / "000000.npy") is not None
    np.testing.assert_array_equal(load_humanml3d_features(vectors), vectors)
    assert load_humanml3d_features(joints).shape == (115, NUM_FEATURES)
    features, drawn = load_motion_features(walking_bvh, NUM_FEATURES, "humanml3d")
    assert features.shape == (39, NUM_FEATURES)
    assert drawn.shape == (39, 15, 3)
    _, drawn = load_motion_features(FIXTURE / "new_joint_vecs" / "000000.npy", NUM_FEATURES, "humanml3d")
    assert drawn.shape == (116, 15, 3)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("short.npy", None, "1 frame at 20 fps"),
        ("wide.npy", np.zeros((5, 45), dtype=np.float32), r"\[T, 22, 3\] or HumanML3D features \[T, 263\]"),
        ("bad.bvh", b"HIERARCHY\nROOT Hips\n{\n", "bad.bvh"),
        ("nohead.bvh", None, "neither a neck nor a head"),
        ("clip.fbx", b"", r"unknown motion format '\.fbx'"),
    ],
)
def test_unusable_sources_are_input_errors(tmp_path: Path, name: str, content, message: str) -> None:
    path = tmp_path / name
    if name == "short.npy":
        np.save(path, np.load(FIXTURE / "new_joints" / "000000.npy")[:1])
    elif name == "nohead.bvh":
        path.write_text(skeleton_bvh(4).decode().replace("Head", "Crown"))
    elif isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_humanml3d_features(path)


def test_polyline_helpers() -> None:
    line = np.array([[[0.0, 0, 0], [0, 0, 0], [0, 2, 0], [2, 2, 0]]])  # a zero-length first segment
    np.testing.assert_allclose(point_at_length(line, np.array([1.0])), [[0, 1, 0]])
    np.testing.assert_allclose(point_at_length(line, np.array([3.0])), [[1, 2, 0]])
    np.testing.assert_allclose(point_at_length(line, np.array([9.0])), [[2, 2, 0]])
    np.testing.assert_allclose(nearest_length(line, np.array([[1.0, 3.0, 0.0]])), [3.0])
