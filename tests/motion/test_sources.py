"""Motion files of every supported kind onto the shared skeleton, and ``unibind motion render``."""

from pathlib import Path

import numpy as np
import pytest

from unibind.cli import main
from unibind.modalities import InputError
from unibind.motion.canonical import JOINTS, to_features
from unibind.motion.sources import load_positions

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "humanml3d"


def test_humanml3d_joints_show_the_captioned_left_kick() -> None:
    # texts/000000.txt: "a man kicks something or someone with his left leg."
    positions = load_positions(FIXTURE / "new_joints" / "000000.npy")
    assert positions.shape == (116, 15, 3)
    left, right = (positions[:, JOINTS.index(f"{side}_ankle"), 1].max() for side in ("left", "right"))
    assert left > right + 0.3  # the left foot rises well above anything the right one does (leg lengths)


def test_canonical_features_pass_through(tmp_path: Path) -> None:
    positions = load_positions(FIXTURE / "new_joints" / "012314.npy")
    np.save(tmp_path / "window.npy", to_features(positions))
    np.testing.assert_allclose(load_positions(tmp_path / "window.npy"), positions, atol=1e-5)


def test_unsupported_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="263-d vectors carry no joint positions"):
        load_positions(FIXTURE / "new_joint_vecs" / "000000.npy")
    (tmp_path / "clip.fbx").write_bytes(b"")
    with pytest.raises(InputError, match=r"unknown motion format '\.fbx'"):
        load_positions(tmp_path / "clip.fbx")
    with pytest.raises(InputError, match="not found"):
        load_positions(tmp_path / "missing.bvh")


def test_render_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["motion", "render", str(FIXTURE / "new_joints" / "000000.npy"), "--out", str(tmp_path / "kick")]) == 0
    assert (tmp_path / "kick.gif").stat().st_size > 0
    assert (tmp_path / "kick.png").stat().st_size > 0
    assert "116 frames at 20 fps" in capsys.readouterr().out


def test_motion_features_for_shared_skeleton_and_other_models(tmp_path: Path) -> None:
    from unibind.motion.sources import load_motion_features

    features, positions = load_motion_features(FIXTURE / "new_joints" / "000000.npy", 45)
    assert features.shape == (116, 45)
    np.testing.assert_allclose(features, to_features(positions))
    vectors, drawn = load_motion_features(FIXTURE / "new_joint_vecs" / "000000.npy", 263)
    assert vectors.shape[1] == 263
    assert drawn is None
    with pytest.raises(InputError, match=r"263-d motion features reads \[frames, 263\] \.npy"):
        load_motion_features(tmp_path / "clip.bvh", 263)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.npy", b"\x93NUMPY garbage"),
        ("b.npy", b""),
        ("c.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order'( False, 'shape': (2, 45), }"),
        ("d.bvh", b"HIERARCHY\nROOT Hips\n{\n"),
        ("e.json", b"[1"),
    ],
)
def test_unreadable_motion_files_are_input_errors(tmp_path: Path, name: str, content: bytes) -> None:
    from unibind.motion.sources import load_motion_features

    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=name):
        load_motion_features(tmp_path / name, 45)


def _bad_motions() -> dict[str, tuple[np.ndarray, str]]:
    nan = np.zeros((6, 263), dtype=np.float32)
    nan[4, 10] = np.nan
    return {
        "nan.npy": (nan, r"NaN or inf in 1 frames \(first: frame 4\)"),
        "inf.npy": (np.full((3, 263), np.inf), "NaN or inf in 3 frames"),
        "empty.npy": (np.zeros((0, 263), dtype=np.float32), "0 frames, expected at least 1"),
        "flat.npy": (np.zeros(263, dtype=np.float32), r"expected a \[frames, 263\] motion, got shape \(263,\)"),
        "narrow.npy": (np.zeros((5, 251), dtype=np.float32), r"expected .*got shape \(5, 251\)"),
        "cube.npy": (np.zeros((5, 263, 1), dtype=np.float32), r"expected .*got shape \(5, 263, 1\)"),
    }


@pytest.mark.parametrize("name", list(_bad_motions()))
def test_motion_features_refuse_what_the_spec_refuses(tmp_path: Path, name: str) -> None:
    """NaN, inf, zero frames, 1-D and wrong widths are refused by every path, not only through MotionSpec."""
    from unibind.motion.sources import load_motion_features

    array, message = _bad_motions()[name]
    np.save(tmp_path / name, array)
    with pytest.raises(InputError, match=rf"^{tmp_path / name}: {message}"):
        load_motion_features(tmp_path / name, 263)


@pytest.mark.parametrize(
    ("joints", "message"),
    [
        (np.zeros((0, 22, 3)), "0 frames, expected at least 1"),
        (np.full((4, 22, 3), np.nan), "NaN or inf in 4 frames"),
        (np.zeros((4, 22, 3)), "the legs have zero length"),
    ],
)
def test_bad_joint_files_are_named(tmp_path: Path, joints: np.ndarray, message: str) -> None:
    from unibind.motion.sources import load_motion_features

    np.save(tmp_path / "joints.npy", joints)
    with pytest.raises(InputError, match=rf"joints\.npy: .*{message}"):
        load_motion_features(tmp_path / "joints.npy", 45)
