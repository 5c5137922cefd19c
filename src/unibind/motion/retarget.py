"""BVH and DeepMimic skeletons onto the 22 SMPL body joints of HumanML3D (``[T, 22, 3]``, y up).

The joints are then retargeted onto HumanML3D's own skeleton by
:func:`unibind.motion.humanml3d_features.uniform_skeleton`, which keeps only each bone's *direction*: what
matters here is that every SMPL bone points the way it does on a person, not where exactly a joint sits
along it. Sources are assumed y up and right-handed, their rest pose (all rotations zero) standing with
the feet flat, as BVH and pybullet's DeepMimic humanoid are.

Taken as they are (first matching name, any ``namespace:`` prefix dropped, see :data:`SOURCE_NAMES`):
pelvis, hips, knees, ankles, shoulders, elbows, wrists, and where the skeleton has them the neck, the head
and the toes (CMU ``LeftToeBase``, ``LeftToes``: SMPL's ``left_foot``, the ball of the foot).

Approximated:

- ``spine1``, ``spine2``, ``spine3``: placed along the source's spine (its joints from the pelvis up to
  the neck, e.g. CMU ``LowerBack, Spine, Spine1``; DeepMimic ``chest``) at SMPL's arc-length fractions
  (:data:`SPINE_FRACTIONS`, from HumanML3D's skeleton: 0.24, 0.50, 0.60 of the way to the neck);
- ``neck``, when the skeleton has none (a ``Hips - Spine - Head`` tree): the point of the spine, pelvis to
  head, nearest to the middle of the two shoulders;
- ``left_collar``, ``right_collar``: always, ``spine3 + 0.369 (shoulder - spine3) + 0.343 (neck - spine3)``
  (:data:`COLLAR_WEIGHTS`, a least-squares fit on HumanML3D's joints, 1.1 cm rms). CMU's ``LeftShoulder``
  and other collars sit on the midline at the neck, where SMPL's collars do not;
- ``left_foot``, ``right_foot`` when there is no toe joint (DeepMimic, small BVH rigs): a virtual child of
  the ankle, in the rest pose pointing forward (``up x (right hip - left hip)``) and
  :data:`TOE_PITCH_DEGREES` down, as a standing HumanML3D foot does; it follows the ankle's rotation;
- ``head`` when there is none (DeepMimic): a virtual child of the neck, straight up in the rest pose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from unibind.motion.bvh import BVH
from unibind.motion.canonical import SMPL_JOINTS
from unibind.motion.deepmimic import DeepMimicClip, Skeleton, deepmimic_positions
from unibind.motion.humanml3d_features import BONE_LENGTHS
from unibind.motion.kinematics import forward_kinematics

# source joint names taken as the SMPL joint, first match wins (CMU and other BVH, DeepMimic URDF, SMPL)
SOURCE_NAMES: dict[str, tuple[str, ...]] = {
    "pelvis": ("Hips", "Hip", "hip", "Pelvis", "pelvis", "root", "Root"),
    "neck": ("Neck", "neck", "Neck1"),
    "head": ("Head", "head"),
    "left_hip": ("LeftUpLeg", "LeftHip", "LeftThigh", "lThigh", "left_hip"),
    "right_hip": ("RightUpLeg", "RightHip", "RightThigh", "rThigh", "right_hip"),
    "left_knee": ("LeftLeg", "LeftKnee", "LeftShin", "lShin", "left_knee"),
    "right_knee": ("RightLeg", "RightKnee", "RightShin", "rShin", "right_knee"),
    "left_ankle": ("LeftFoot", "LeftAnkle", "lFoot", "left_ankle"),
    "right_ankle": ("RightFoot", "RightAnkle", "rFoot", "right_ankle"),
    "left_foot": ("LeftToeBase", "LeftToes", "LeftToe", "lToe", "left_toe"),
    "right_foot": ("RightToeBase", "RightToes", "RightToe", "rToe", "right_toe"),
    "left_shoulder": ("LeftArm", "LeftShoulder", "LeftUpArm", "lShldr", "left_shoulder"),
    "right_shoulder": ("RightArm", "RightShoulder", "RightUpArm", "rShldr", "right_shoulder"),
    "left_elbow": ("LeftForeArm", "LeftElbow", "lForeArm", "left_elbow"),
    "right_elbow": ("RightForeArm", "RightElbow", "rForeArm", "right_elbow"),
    "left_wrist": ("LeftHand", "LeftWrist", "lHand", "left_wrist"),
    "right_wrist": ("RightHand", "RightWrist", "rHand", "right_wrist"),
}
LIMBS = ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")
REQUIRED = ("pelvis", *(f"{side}_{part}" for side in ("left", "right") for part in LIMBS))
# virtual joints a skeleton may get (virtual_joints), by the SMPL joint they stand for
VIRTUAL = {"left_foot": "virtual_left_toe", "right_foot": "virtual_right_toe", "head": "virtual_head"}
_SPINE = np.cumsum(BONE_LENGTHS[[3, 6, 9, 12]])
SPINE_FRACTIONS = tuple(float(f) for f in _SPINE[:3] / _SPINE[3])  # spine1, spine2, spine3 of pelvis -> neck
COLLAR_WEIGHTS = (0.369, 0.343)  # shoulder, neck (each minus spine3)
TOE_PITCH_DEGREES = 17.0  # ankle -> ball of the foot below horizontal, a standing HumanML3D foot (12-34 deg)
TOE_LENGTH = 0.18  # of the rest leg length (hip to ankle); only the direction reaches the features
HEAD_LENGTH = 0.12  # of the rest leg length
UP = np.array([0.0, 1.0, 0.0])


def clean_name(name: str) -> str:
    """``mixamorig:LeftArm`` -> ``LeftArm``."""
    return name.rsplit(":", 1)[-1].strip()


def find_joint(names: Sequence[str], joint: str) -> int | None:
    """Index of the first of :data:`SOURCE_NAMES` ``[joint]`` among ``names``, or None."""
    cleaned = [clean_name(n) for n in names]
    return next((cleaned.index(n) for n in SOURCE_NAMES[joint] if n in cleaned), None)


def _require(names: Sequence[str]) -> dict[str, int]:
    found = {joint: find_joint(names, joint) for joint in SOURCE_NAMES}
    missing = [joint for joint in REQUIRED if found[joint] is None]
    if missing:
        expected = {joint: SOURCE_NAMES[joint] for joint in missing}
        raise ValueError(f"no joint for {missing} among {list(names)} (expected one of {expected})")
    if found["neck"] is None and found["head"] is None:
        raise ValueError(f"neither a neck nor a head among {list(names)}")
    return {joint: index for joint, index in found.items() if index is not None}


def rest_positions(parents: Sequence[int], offsets: np.ndarray) -> np.ndarray:
    """``[J, 3]`` joint positions with every rotation zero and the root at the origin."""
    rotations = np.broadcast_to(np.eye(3), (1, len(parents), 3, 3))
    return forward_kinematics(parents, offsets, rotations, np.zeros((1, 3)))[0]


def virtual_joints(
    names: Sequence[str], parents: Sequence[int], offsets: np.ndarray
) -> list[tuple[str, int, np.ndarray]]:
    """``(name, parent, offset)`` of the toes and head that the skeleton lacks (module docstring)."""
    found = _require(names)
    rest = rest_positions(parents, offsets)
    across = rest[found["right_hip"]] - rest[found["left_hip"]]
    forward = np.cross(UP, across)
    if np.linalg.norm(forward) < 1e-9 * max(np.linalg.norm(across), 1e-300):
        raise ValueError("the rest pose's hips do not span the horizontal; cannot tell forward")
    forward /= np.linalg.norm(forward)
    legs = [
        np.linalg.norm(rest[found[f"{s}_knee"]] - rest[found[f"{s}_hip"]])
        + np.linalg.norm(rest[found[f"{s}_ankle"]] - rest[found[f"{s}_knee"]])
        for s in ("left", "right")
    ]
    leg = float(np.mean(legs))
    pitch = np.deg2rad(TOE_PITCH_DEGREES)
    extra = []
    for side in ("left", "right"):
        if f"{side}_foot" not in found:
            toe = TOE_LENGTH * leg * (np.cos(pitch) * forward - np.sin(pitch) * UP)
            extra.append((VIRTUAL[f"{side}_foot"], found[f"{side}_ankle"], toe))
    if "head" not in found:
        extra.append((VIRTUAL["head"], found["neck"], HEAD_LENGTH * leg * UP))
    return extra


def _chain(parents: Sequence[int], start: int, end: int) -> list[int]:
    """Joint indices from ``start`` up the tree ... down to ``end`` (``start`` must be an ancestor of ``end``)."""
    path = [end]
    while path[-1] != start:
        if parents[path[-1]] < 0:
            raise ValueError(f"joint {end} is not below joint {start}")
        path.append(parents[path[-1]])
    return path[::-1]


def point_at_length(polyline: np.ndarray, length: np.ndarray) -> np.ndarray:
    """``[T, 3]``: the point ``length: [T]`` along ``polyline: [T, K, 3]`` from its first point (clamped)."""
    if polyline.shape[1] == 1:
        return polyline[:, 0].copy()
    segments = np.diff(polyline, axis=1)
    lengths = np.linalg.norm(segments, axis=-1)
    cumulative = np.concatenate([np.zeros((len(polyline), 1)), np.cumsum(lengths, axis=1)], axis=1)
    index = np.clip((cumulative <= length[:, None]).sum(1) - 1, 0, segments.shape[1] - 1)
    rows = np.arange(len(polyline))
    span = lengths[rows, index]
    fraction = np.where(span > 0, (length - cumulative[rows, index]) / np.where(span > 0, span, 1.0), 0.0)
    fraction = np.clip(fraction, 0.0, 1.0)
    return polyline[rows, index] + fraction[:, None] * segments[rows, index]


def nearest_length(polyline: np.ndarray, point: np.ndarray) -> np.ndarray:
    """``[T]``: how far along ``polyline: [T, K, 3]`` its point nearest to ``point: [T, 3]`` lies."""
    starts, segments = polyline[:, :-1], np.diff(polyline, axis=1)
    squared = (segments**2).sum(-1)
    t = ((point[:, None] - starts) * segments).sum(-1) / np.where(squared > 0, squared, 1.0)
    t = np.clip(t, 0.0, 1.0)
    distance = np.linalg.norm(starts + t[..., None] * segments - point[:, None], axis=-1)
    best = distance.argmin(axis=1)
    lengths = np.sqrt(squared)
    before = np.concatenate([np.zeros((len(polyline), 1)), np.cumsum(lengths, axis=1)[:, :-1]], axis=1)
    rows = np.arange(len(polyline))
    return before[rows, best] + t[rows, best] * lengths[rows, best]


def smpl_positions(names: Sequence[str], parents: Sequence[int], positions: np.ndarray) -> np.ndarray:
    """``[T, 22, 3]`` SMPL joints from a source's joint ``positions: [T, J, 3]`` (toes and head present,
    possibly as :func:`virtual_joints`)."""
    found = _require(names)
    for joint, virtual in VIRTUAL.items():
        if joint not in found and virtual in names:
            found[joint] = list(names).index(virtual)
    if "left_foot" not in found or "right_foot" not in found:
        raise ValueError("no toe joints: add virtual_joints() to the skeleton first")
    out = {joint: positions[:, index] for joint, index in found.items()}
    if "neck" in found:
        spine = positions[:, _chain(parents, found["pelvis"], found["neck"])]
        neck_length = np.linalg.norm(np.diff(spine, axis=1), axis=-1).sum(1)
    else:
        spine = positions[:, _chain(parents, found["pelvis"], found["head"])]
        shoulders = (out["left_shoulder"] + out["right_shoulder"]) / 2
        neck_length = nearest_length(spine, shoulders)
        out["neck"] = point_at_length(spine, neck_length)
    for name, fraction in zip(("spine1", "spine2", "spine3"), SPINE_FRACTIONS, strict=True):
        out[name] = point_at_length(spine, fraction * neck_length)
    to_shoulder, to_neck = COLLAR_WEIGHTS
    for side in ("left", "right"):
        base = out["spine3"]
        out[f"{side}_collar"] = base + to_shoulder * (out[f"{side}_shoulder"] - base) + to_neck * (out["neck"] - base)
    joints = np.stack([out[name] for name in SMPL_JOINTS], axis=1)
    _check_bones(joints)
    return joints


def _check_bones(joints: np.ndarray) -> None:
    from unibind.motion.humanml3d_features import bone_lengths

    lengths = bone_lengths(joints[0])
    scale = lengths.max()
    short = [SMPL_JOINTS[j] for j in range(1, len(lengths)) if not lengths[j] > 1e-6 * scale]
    if short:
        raise ValueError(f"SMPL joints {short} coincide with their parents; cannot tell their bones' directions")


def bvh_smpl_joints(bvh: BVH) -> np.ndarray:
    """``[T, 22, 3]`` SMPL joints of a BVH clip (its frames, its units)."""
    extra = virtual_joints(bvh.names, bvh.parents, bvh.offsets)
    if extra:
        bvh = replace(
            bvh,
            names=[*bvh.names, *(name for name, _, _ in extra)],
            parents=[*bvh.parents, *(parent for _, parent, _ in extra)],
            offsets=np.concatenate([bvh.offsets, [offset for _, _, offset in extra]]),
            channels=[*bvh.channels, *([] for _ in extra)],
        )
    return smpl_positions(bvh.names, bvh.parents, bvh.positions())


def deepmimic_smpl_joints(clip: DeepMimicClip, skeleton: Skeleton) -> np.ndarray:
    """``[T, 22, 3]`` SMPL joints (metres) of a DeepMimic clip on ``skeleton`` (pybullet's humanoid)."""
    extra = virtual_joints(skeleton.names, skeleton.parents, skeleton.offsets)
    if extra:
        skeleton = Skeleton(
            [*skeleton.names, *(name for name, _, _ in extra)],
            [*skeleton.parents, *(parent for _, parent, _ in extra)],
            np.concatenate([skeleton.offsets, [offset for _, _, offset in extra]]),
            skeleton.axes,
        )
    return smpl_positions(skeleton.names, skeleton.parents, deepmimic_positions(clip, skeleton))
