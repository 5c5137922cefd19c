"""HumanML3D's 263-d representation recomputed from the release's own joints, against its released vectors.

``new_joints/<id>.npy`` is the release's ``recover_from_ric`` of ``new_joint_vecs/<id>.npy``: the
positions after the retargeting, floor and facing steps, one frame shorter than the positions the vectors
were computed from (``T`` positions give ``T - 1`` vectors). Recomputing from it therefore lacks that last
position. It enters every frame within the face-direction smoothing's reach (Gaussian, sigma 20: 80
frames) through the root rotation, so those tail frames agree less closely in the groups that use it.
"""

from pathlib import Path

import numpy as np
import pytest

from unibind.motion.humanml3d_features import (
    BONE_LENGTHS,
    FACE_SMOOTHING_SIGMA,
    FEATURE_GROUPS,
    NUM_FEATURES,
    bone_lengths,
    cont6d_to_matrix,
    features_from_joints,
    gaussian_smooth,
    qbetween,
    qrot,
    quaternion_to_cont6d,
    recover_from_ric,
    split_features,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "humanml3d"
IDS = ("000000", "012314", "M010968")  # official, the sample repository, the fork (a mirrored motion)
REACH = int(4 * FACE_SMOOTHING_SIGMA + 0.5)  # frames the lost last position reaches back
# max |recomputed - released| before the smoothing reaches the lost frame (measured: <= 7.7e-6, float32)
EARLY_TOLERANCE = 2e-5
# ... and over the whole clip (measured on the 7 files of ../shared/data/humanml3d: 7.3e-4, 1.9e-3, 0,
# 1.0e-2, 3.1e-2, 6.3e-3, 0)
TAIL_TOLERANCE = {
    "root_rot_velocity": 2e-3,
    "root_linear_velocity": 5e-3,
    "root_height": 1e-6,
    "ric": 3e-2,
    "rotations": 6e-2,
    "local_velocity": 2e-2,
    "foot_contacts": 0.0,
}
# the joints whose local rotation is taken relative to the (smoothed) root rotation: hips, spine1, collars
ROOT_RELATIVE = (1, 2, 3, 13, 14)


def _pair(motion_id: str) -> tuple[np.ndarray, np.ndarray]:
    joints = np.load(FIXTURE / "new_joints" / f"{motion_id}.npy")
    vectors = np.load(FIXTURE / "new_joint_vecs" / f"{motion_id}.npy").astype(np.float64)
    return joints, vectors


@pytest.mark.parametrize("motion_id", IDS)
def test_features_of_released_joints_match_released_vectors(motion_id: str) -> None:
    joints, vectors = _pair(motion_id)
    features = features_from_joints(joints)
    assert features.shape == (len(joints) - 1, NUM_FEATURES)
    assert features.dtype == np.float32
    difference = np.abs(features.astype(np.float64) - vectors[: len(features)])
    early = len(features) - REACH
    for name, part in FEATURE_GROUPS.items():
        assert difference[:, part].max() <= TAIL_TOLERANCE[name], name
        if early > 0:
            assert difference[:early, part].max() <= EARLY_TOLERANCE, name
    # the rotations of the 16 joints not taken relative to the root agree over the whole clip
    rotations = difference[:, FEATURE_GROUPS["rotations"]].reshape(len(features), 21, 6)
    others = [j - 1 for j in range(1, 22) if j not in ROOT_RELATIVE]
    assert rotations[:, others].max() <= EARLY_TOLERANCE


@pytest.mark.parametrize("motion_id", IDS)
def test_recover_from_ric_gives_the_released_joints(motion_id: str) -> None:
    joints, vectors = _pair(motion_id)
    np.testing.assert_allclose(recover_from_ric(vectors), joints, atol=1e-6)


@pytest.mark.parametrize("motion_id", IDS)
def test_released_joints_are_on_the_target_skeleton(motion_id: str) -> None:
    joints, _ = _pair(motion_id)
    for frame in (0, len(joints) // 2, -1):
        np.testing.assert_allclose(bone_lengths(joints[frame].astype(np.float64)), BONE_LENGTHS, atol=2e-6)


def test_feature_values_are_sane() -> None:
    joints, _ = _pair("000000")
    groups = split_features(features_from_joints(joints))
    assert (groups["root_height"] > 0.5).all()  # a standing adult's pelvis, metres
    assert set(np.unique(groups["foot_contacts"])) <= {0.0, 1.0}
    six = groups["rotations"].reshape(-1, 21, 6)
    np.testing.assert_allclose(np.linalg.norm(six[..., :3], axis=-1), 1.0, atol=1e-5)  # matrix columns
    np.testing.assert_allclose((six[..., :3] * six[..., 3:]).sum(-1), 0.0, atol=1e-5)


def test_units_place_and_heading_do_not_change_the_features() -> None:
    joints, _ = _pair("012314")
    reference = features_from_joints(joints)
    for yaw in (40.0, 180.0):  # 180: the first frame faces exactly -z
        half = np.deg2rad(yaw) / 2
        turn = np.array([np.cos(half), 0.0, np.sin(half), 0.0])
        moved = qrot(turn, joints.astype(np.float64)) * 37.0 + np.array([120.0, 5.0, -40.0])  # cm-ish units
        np.testing.assert_allclose(features_from_joints(moved), reference, atol=5e-5)


def test_gaussian_smoothing_matches_scipy() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    values = np.random.default_rng(0).normal(size=(150, 3))
    for sigma in (20.0, 2.5):
        expected = ndimage.gaussian_filter1d(values, sigma, axis=0, mode="nearest")
        np.testing.assert_allclose(gaussian_smooth(values, sigma), expected, atol=1e-12)


def test_rotation_helpers() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    q = qbetween(a, b)
    rotated = qrot(q, a)
    np.testing.assert_allclose(rotated / np.linalg.norm(rotated, axis=1, keepdims=True),
                               b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-12)  # fmt: skip
    opposite = qbetween(np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0]]))
    np.testing.assert_allclose(qrot(opposite[0], [0.0, 0.0, 1.0]), [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(opposite[0], [0.0, 0.0, 1.0, 0.0], atol=1e-12)  # a half turn about y
    np.testing.assert_allclose(qrot(opposite[1], [0.0, 1.0, 0.0]), [0.0, -1.0, 0.0], atol=1e-12)
    matrices = cont6d_to_matrix(quaternion_to_cont6d(q))
    np.testing.assert_allclose(np.einsum("nij,nj->ni", matrices, a), rotated, atol=1e-12)


def test_bad_joint_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[frames, 22, 3\]"):
        features_from_joints(np.zeros((5, 21, 3)))
    with pytest.raises(ValueError, match="at least 2 frames"):
        features_from_joints(np.zeros((1, 22, 3)))
    joints, _ = _pair("000000")
    broken = joints.copy()
    broken[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        features_from_joints(broken)
