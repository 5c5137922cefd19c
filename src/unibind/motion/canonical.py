"""One 15-joint skeleton for every source, and the normalisation that makes clips comparable.

Joint positions from BVH (any units, any frame rate) and DeepMimic (metres) become ``[T, 15, 3]`` on
:data:`JOINTS`, then :func:`normalise`:

1. resample to ``fps`` (default 20, HumanML3D's rate) by linear interpolation in time;
2. scale so that the mean leg length (hip-knee plus knee-ankle, both sides, first frame) is 1;
3. put the lowest joint of the whole clip on the floor (``y = 0``; y is up);
4. move the pelvis of the first frame to ``x = z = 0`` and turn the clip about the vertical so that the
   first frame's hips (right to left) point along ``+x`` (HumanML3D's facing normalisation).

A frame's features are the 45 coordinates, flattened (``[T, 45]``). :func:`mirror` swaps left and
right (``x -> -x``), an augmentation that keeps the meaning of most motions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

JOINTS = (
    "pelvis", "chest", "head",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
)  # fmt: skip
BONES = (
    ("pelvis", "chest"), ("chest", "head"),
    ("pelvis", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("pelvis", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("chest", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("chest", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
)  # fmt: skip
NUM_FEATURES = 3 * len(JOINTS)
# the 22 SMPL body joints of HumanML3D's new_joints/<id>.npy, in order
SMPL_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
# source joint names for each canonical joint, first match wins (CMU BVH, other BVH, DeepMimic URDF, SMPL)
SOURCE_NAMES = {
    "pelvis": ("Hips", "root", "Root", "Pelvis", "pelvis"),
    "chest": ("Spine1", "Chest", "chest", "Spine2", "Spine", "spine3"),
    "head": ("Head", "head", "neck", "Neck"),
    "right_hip": ("RightUpLeg", "RightHip", "right_hip"),
    "right_knee": ("RightLeg", "RightKnee", "right_knee"),
    "right_ankle": ("RightFoot", "RightAnkle", "right_ankle"),
    "left_hip": ("LeftUpLeg", "LeftHip", "left_hip"),
    "left_knee": ("LeftLeg", "LeftKnee", "left_knee"),
    "left_ankle": ("LeftFoot", "LeftAnkle", "left_ankle"),
    "right_shoulder": ("RightArm", "RightShoulder", "right_shoulder"),
    "right_elbow": ("RightForeArm", "RightElbow", "right_elbow"),
    "right_wrist": ("RightHand", "RightWrist", "right_wrist"),
    "left_shoulder": ("LeftArm", "LeftShoulder", "left_shoulder"),
    "left_elbow": ("LeftForeArm", "LeftElbow", "left_elbow"),
    "left_wrist": ("LeftHand", "LeftWrist", "left_wrist"),
}
MIRROR = [JOINTS.index(name.replace("right_", "@").replace("left_", "right_").replace("@", "left_")) for name in JOINTS]


def select_joints(names: Sequence[str], positions: np.ndarray) -> np.ndarray:
    """``positions: [T, J, 3]`` of a source skeleton with joint ``names`` -> ``[T, 15, 3]`` on :data:`JOINTS`."""
    picked = []
    for joint in JOINTS:
        match = next((names.index(n) for n in SOURCE_NAMES[joint] if n in names), None)
        if match is None:
            raise ValueError(f"no joint for {joint!r} among {list(names)} (expected one of {SOURCE_NAMES[joint]})")
        picked.append(match)
    return positions[:, picked]


def resample(positions: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    """Linear interpolation of ``positions: [T, J, 3]`` sampled at ``times: [T]`` (s) onto a ``fps`` grid."""
    if len(times) != len(positions) or np.any(np.diff(times) <= 0):
        raise ValueError("times must be increasing, one per frame")
    grid = np.arange(0.0, times[-1] + 1e-9, 1.0 / fps)
    flat = positions.reshape(len(positions), -1)
    out = np.stack([np.interp(grid, times, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(len(grid), *positions.shape[1:])


def leg_length(positions: np.ndarray) -> float:
    """Mean of both legs' hip-knee + knee-ankle lengths in the first frame of ``[T, 15, 3]``."""
    first = positions[0]
    lengths = []
    for side in ("right", "left"):
        hip, knee, ankle = (first[JOINTS.index(f"{side}_{part}")] for part in ("hip", "knee", "ankle"))
        lengths.append(np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))
    length = float(np.mean(lengths))
    if length <= 0:
        raise ValueError("the legs have zero length; cannot scale the clip")
    return length


def normalise(positions: np.ndarray) -> np.ndarray:
    """Steps 2-4 of the module docstring on ``[T, 15, 3]`` (already at the target frame rate)."""
    if len(positions) == 0:
        raise ValueError("the motion has no frames")
    out = positions / leg_length(positions)
    out[..., 1] -= out[..., 1].min()
    out[..., [0, 2]] -= out[0, JOINTS.index("pelvis"), [0, 2]]
    across = out[0, JOINTS.index("left_hip")] - out[0, JOINTS.index("right_hip")]
    angle = np.arctan2(across[2], across[0])  # turning the x-z plane by -angle brings `across` onto +x
    c, s = np.cos(angle), np.sin(angle)
    x, z = out[..., 0].copy(), out[..., 2].copy()
    out[..., 0], out[..., 2] = c * x + s * z, -s * x + c * z
    return out


def mirror(positions: np.ndarray) -> np.ndarray:
    """Left-right mirror image of ``[T, 15, 3]``: ``x -> -x`` and left/right joints swapped."""
    out = positions[:, MIRROR].copy()
    out[..., 0] *= -1
    return out


def to_features(positions: np.ndarray) -> np.ndarray:
    """``[T, 15, 3]`` -> ``[T, 45]`` float32."""
    return positions.reshape(len(positions), -1).astype(np.float32)


def from_features(features: np.ndarray) -> np.ndarray:
    """``[T, 45]`` -> ``[T, 15, 3]``."""
    return np.asarray(features, dtype=np.float64).reshape(len(features), len(JOINTS), 3)
