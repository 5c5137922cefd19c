"""Forward kinematics on known poses, the BVH reader on a hand-written file and on the real assimp files."""

from pathlib import Path

import numpy as np
import pytest

from unibind.modalities import InputError
from unibind.motion.bvh import read_bvh
from unibind.motion.kinematics import axis_rotation, euler_to_matrix, forward_kinematics, quaternion_to_matrix

ASSIMP_BVH = Path("/usr/share/assimp/models/BVH")

TWO_BONES = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 2 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 1 0
    }
  }
  JOINT Leg
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Foot
    {
      OFFSET 0 -3 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 0 1
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.05
0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
5 1 0 90 0 0 0 0 0 0 0 0 0 0 0
"""


def test_rotations_follow_the_right_hand_rule() -> None:
    np.testing.assert_allclose(axis_rotation("Z", 90.0) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(axis_rotation("X", 90.0) @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(axis_rotation("Y", 90.0) @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    zx = euler_to_matrix(np.array([90.0, 90.0]), "ZX")
    np.testing.assert_allclose(zx, axis_rotation("Z", 90.0) @ axis_rotation("X", 90.0), atol=1e-12)
    half = np.sqrt(0.5)
    np.testing.assert_allclose(quaternion_to_matrix(np.array([half, 0, 0, half])), axis_rotation("Z", 90.0), atol=1e-12)
    with pytest.raises(ValueError, match="zero quaternion"):
        quaternion_to_matrix(np.zeros(4))


def test_forward_kinematics_on_a_bent_chain() -> None:
    parents, offsets = [-1, 0, 1], np.array([[0, 0, 0], [0, 1.0, 0], [0, 1.0, 0]])
    rotations = np.broadcast_to(np.eye(3), (1, 3, 3, 3)).copy()
    rotations[0, 1] = axis_rotation("Z", 90.0)  # bend at the middle joint: the tip swings to -x
    positions = forward_kinematics(parents, offsets, rotations, np.array([[5.0, 0, 0]]))
    np.testing.assert_allclose(positions[0], [[5, 0, 0], [5, 1, 0], [4, 1, 0]], atol=1e-12)
    with pytest.raises(ValueError, match="must come before"):
        forward_kinematics([-1, 2, 1], offsets, rotations, np.zeros((1, 3)))


def test_bvh_known_pose(tmp_path: Path) -> None:
    path = tmp_path / "two.bvh"
    path.write_text(TWO_BONES)
    bvh = read_bvh(path)
    assert bvh.names == ["Hips", "Spine", "Leg", "Foot"]
    assert bvh.parents == [-1, 0, 0, 2]
    assert bvh.fps == pytest.approx(20.0)
    positions = bvh.positions()
    np.testing.assert_allclose(positions[0], [[0, 0, 0], [0, 2, 0], [1, 0, 0], [1, -3, 0]], atol=1e-9)
    # frame 2: root moved to (5, 1, 0) and turned 90 degrees about z: +y becomes -x, +x becomes +y
    np.testing.assert_allclose(positions[1], [[5, 1, 0], [3, 1, 0], [5, 2, 0], [8, 2, 0]], atol=1e-9)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("Frames: 2", "Frames: 3"), "'Frames: 3' but only 2 frame lines"),
        (lambda t: t.replace("OFFSET 0 2 0", "OFFSET 0 two 0"), "line 8: OFFSET needs three numbers"),
        (
            lambda t: t.replace(
                "CHANNELS 3 Zrotation Xrotation Yrotation\n    End", "CHANNELS 2 Zrotation Xrotation Yrotation\n    End"
            ),
            "line 9: CHANNELS 2 lists",
        ),
        (lambda t: t.replace("5 1 0 90", "5 1 0 nan"), "NaN or inf"),
        (
            lambda t: t.replace("0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", "0 0 0\n"),
            "line 33: a frame has 3 values, the channels need 15",
        ),
        (lambda t: t.split("MOTION")[0], "no MOTION section"),
        (lambda t: t.replace("Frame Time: 0.05", "Frame Time: 0"), "positive 'Frame Time:'"),
        (lambda t: t.replace("HIERARCHY", "HIERARCHY\nOFFSET 0 0 0", 1), "line 2: OFFSET before any ROOT or JOINT"),
        (lambda t: t.replace("HIERARCHY", "HIERARCHY\nCHANNELS 1 Xrotation", 1), "CHANNELS before any ROOT"),
    ],
)
def test_bad_bvh_is_named(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "bad.bvh"
    path.write_text(edit(TWO_BONES))
    with pytest.raises(InputError, match=message):
        read_bvh(path)


def test_extra_frame_lines_warn_and_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "extra.bvh"
    path.write_text(TWO_BONES + "1 1 1 0 0 0 0 0 0 0 0 0 0 0 0\n")
    with pytest.warns(UserWarning, match="'Frames: 2' but 3 frame lines"):
        assert len(read_bvh(path).values) == 2


@pytest.mark.skipif(not ASSIMP_BVH.is_dir(), reason="Debian assimp-testmodels is not installed (make system-packages)")
def test_real_cmu_bvh_has_a_plausible_body() -> None:
    bvh = read_bvh(ASSIMP_BVH / "01_01.bvh")
    assert len(bvh.names) == 31
    assert bvh.fps == pytest.approx(120.0, rel=1e-4)
    positions = bvh.positions()[:10]
    head, foot = positions[:, bvh.names.index("Head")], positions[:, bvh.names.index("LeftFoot")]
    assert (head[:, 1] > foot[:, 1] + 10).all()  # the head is far above the feet (units: CMU inches / 0.45)
    thigh = np.linalg.norm(
        positions[:, bvh.names.index("LeftLeg")] - positions[:, bvh.names.index("LeftUpLeg")], axis=1
    )
    np.testing.assert_allclose(thigh, thigh[0], rtol=1e-9)  # bones keep their length through the motion
