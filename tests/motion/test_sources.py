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
