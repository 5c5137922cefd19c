"""DeepMimic humanoid clips (Peng et al. 2018, https://arxiv.org/abs/1804.02717), as shipped in pybullet.

``pybullet_data/data/motions/humanoid3d_*.txt`` are JSON: ``{"Loop": "wrap" | "none", "Frames": [[...44]]}``.
Each frame: its duration (s), the root position (3, metres, y up), the root rotation (quaternion w, x, y, z),
then the chest, neck, right hip (quaternions), right knee (angle, rad), right ankle, right shoulder
(quaternions), right elbow (angle), and the same for the left side. The skeleton (joint offsets and the
knee/elbow axes) comes from pybullet's ``humanoid/humanoid.urdf``, which pybullet loads at 0.25 scale for
these clips.
"""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unibind.errors import InputError
from unibind.motion.kinematics import forward_kinematics, quaternion_to_matrix

# frame layout after the duration and the root position: (joint, number of values)
FRAME_LAYOUT = (
    ("root", 4), ("chest", 4), ("neck", 4),
    ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4), ("right_shoulder", 4), ("right_elbow", 1),
    ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4), ("left_shoulder", 4), ("left_elbow", 1),
)  # fmt: skip
FRAME_WIDTH = 1 + 3 + sum(width for _, width in FRAME_LAYOUT)  # 44
URDF_SCALE = 0.25


@dataclass
class Skeleton:
    """A joint tree: ``names``, ``parents`` (-1: root), ``offsets: [J, 3]``, revolute ``axes`` by joint name."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    axes: dict[str, np.ndarray]


@dataclass
class DeepMimicClip:
    """``times: [T]`` (s, from 0), ``frames: [T, 43]`` (the frame values after the duration), ``loop``."""

    name: str
    times: np.ndarray
    frames: np.ndarray
    loop: bool

    @property
    def duration(self) -> float:
        return float(self.times[-1])


def pybullet_data_dir() -> Path:
    """pybullet's data folder (PyPI ``pybullet``, the ``data`` extra of unibind)."""
    try:
        import pybullet_data
    except ImportError as err:
        raise ImportError("DeepMimic clips ship in pybullet: pip install 'unibind[data]'") from err
    return Path(pybullet_data.getDataPath())


def read_urdf_skeleton(path: str | Path, scale: float = URDF_SCALE) -> Skeleton:
    """Joint tree of a URDF: index 0 is the root link, every other joint sits at its child link's origin.

    Offsets are scaled by ``scale``; revolute joints keep their axis.
    """
    path = Path(path)
    try:  # pybullet's humanoid.urdf ends in a NUL byte, which XML parsers refuse
        root = ET.fromstring(path.read_bytes().rstrip(b"\x00 \r\n\t"))
    except (ET.ParseError, OSError) as err:
        raise InputError(f"{path}: not a readable URDF ({err})") from err
    joints = [j for j in root.iter("joint") if j.find("parent") is not None and j.find("child") is not None]
    children = {j.find("child").get("link") for j in joints}
    bases = list(
        dict.fromkeys(j.find("parent").get("link") for j in joints if j.find("parent").get("link") not in children)
    )
    if len(bases) != 1:
        raise InputError(f"{path}: expected one root link, found {bases or 'none'}")
    names, parents, offsets, axes = [bases[0]], [-1], [np.zeros(3)], {}
    link_joint = {bases[0]: 0}  # link -> index of the joint at its origin
    for joint in joints:
        parent_link, child_link = joint.find("parent").get("link"), joint.find("child").get("link")
        if parent_link not in link_joint:
            raise InputError(f"{path}: joint {joint.get('name')!r} comes before its parent link {parent_link!r}")
        origin = joint.find("origin")
        xyz = np.array([float(v) for v in (origin.get("xyz") if origin is not None else "0 0 0").split()])
        names.append(joint.get("name"))
        parents.append(link_joint[parent_link])
        offsets.append(xyz * scale)
        link_joint[child_link] = len(names) - 1
        axis = joint.find("axis")
        if joint.get("type") == "revolute":
            axes[joint.get("name")] = np.array(
                [float(v) for v in (axis.get("xyz") if axis is not None else "1 0 0").split()]
            )
    return Skeleton(names, parents, np.stack(offsets), axes)


@functools.cache
def humanoid_skeleton() -> Skeleton:
    """pybullet's DeepMimic humanoid (``humanoid/humanoid.urdf``), read once per process; shared, so its offsets
    are read-only."""
    skeleton = read_urdf_skeleton(pybullet_data_dir() / "humanoid" / "humanoid.urdf")
    skeleton.offsets.setflags(write=False)
    return skeleton


def read_deepmimic(path: str | Path) -> DeepMimicClip:
    """Parse a DeepMimic clip; bad JSON, frames of the wrong width or non-finite values raise ``InputError``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        frames = np.asarray(data["Frames"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path}: not a DeepMimic clip ({err})") from err
    if frames.ndim != 2 or frames.shape[1] != FRAME_WIDTH or len(frames) < 2:
        raise InputError(f"{path}: expected at least 2 frames of {FRAME_WIDTH} values, got shape {frames.shape}")
    if not np.isfinite(frames).all():
        raise InputError(f"{path}: NaN or inf in frame {int(np.flatnonzero(~np.isfinite(frames).all(1))[0])}")
    durations = frames[:-1, 0]
    if (durations <= 0).any():
        raise InputError(f"{path}: frame {int(np.flatnonzero(durations <= 0)[0])} has a non-positive duration")
    times = np.concatenate([[0.0], np.cumsum(durations)])
    return DeepMimicClip(path.stem.removeprefix("humanoid3d_"), times, frames[:, 1:], data.get("Loop") == "wrap")


def _revolute(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotations ``[T, 3, 3]`` by ``angles`` (rad) about the unit ``axis`` (Rodrigues)."""
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    s, c = np.sin(angles)[:, None, None], np.cos(angles)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def deepmimic_positions(clip: DeepMimicClip, skeleton: Skeleton) -> np.ndarray:
    """Joint positions ``[T, J, 3]`` (metres, y up) of ``clip`` on ``skeleton`` (joints in its order)."""
    frames = clip.frames
    rotations = np.broadcast_to(np.eye(3), (len(frames), len(skeleton.names), 3, 3)).copy()
    column = 3
    for name, width in FRAME_LAYOUT:
        values = frames[:, column : column + width]
        column += width
        if name not in skeleton.names:
            raise InputError(f"the skeleton has no joint {name!r} for the clip {clip.name}")
        index = skeleton.names.index(name)
        if width == 4:
            rotations[:, index] = quaternion_to_matrix(values)
        else:
            rotations[:, index] = _revolute(skeleton.axes.get(name, np.array([0.0, 0.0, 1.0])), values[:, 0])
    return forward_kinematics(skeleton.parents, skeleton.offsets, rotations, frames[:, :3])
