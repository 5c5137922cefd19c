"""Rotations and forward kinematics over a joint tree (NumPy, float64).

A skeleton is ``parents: [J]`` (-1 for the root; every parent before its children), ``offsets: [J, 3]``
(each joint's position in its parent's frame) and per-frame local rotations ``[T, J, 3, 3]``. Global
rotation ``G_j = G_parent @ R_j``; position ``p_j = p_parent + G_parent @ offset_j``; the root's position
is given per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

AXES = {"X": 0, "Y": 1, "Z": 2}


def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` right-handed rotations by ``degrees: [...]`` about the ``X``, ``Y`` or ``Z`` axis."""
    radians = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    c, s = np.cos(radians), np.sin(radians)
    out = np.zeros((*radians.shape, 3, 3))
    i = AXES[axis.upper()]
    j, k = (i + 1) % 3, (i + 2) % 3
    out[..., i, i] = 1.0
    out[..., j, j], out[..., j, k] = c, -s
    out[..., k, j], out[..., k, k] = s, c
    return out


def euler_to_matrix(angles: np.ndarray, order: Sequence[str]) -> np.ndarray:
    """``angles: [..., n]`` degrees about ``order`` (e.g. ``"ZXY"``), applied as ``R_1 @ R_2 @ ... R_n`` (BVH)."""
    matrix = np.broadcast_to(np.eye(3), (*angles.shape[:-1], 3, 3)).copy()
    for index, axis in enumerate(order):
        matrix = matrix @ axis_rotation(axis, angles[..., index])
    return matrix


def quaternion_to_matrix(quaternion: np.ndarray) -> np.ndarray:
    """``[..., 4]`` quaternions ``(w, x, y, z)`` (normalised here) -> ``[..., 3, 3]`` rotation matrices."""
    q = np.asarray(quaternion, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("a zero quaternion has no rotation")
    w, x, y, z = np.moveaxis(q / norm, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def forward_kinematics(
    parents: Sequence[int], offsets: np.ndarray, rotations: np.ndarray, root_positions: np.ndarray
) -> np.ndarray:
    """Joint positions ``[T, J, 3]`` from ``rotations: [T, J, 3, 3]`` and ``root_positions: [T, 3]``."""
    frames, joints = rotations.shape[:2]
    if len(parents) != joints or offsets.shape != (joints, 3) or root_positions.shape != (frames, 3):
        raise ValueError(
            f"skeleton of {len(parents)} joints, offsets {offsets.shape}, rotations {rotations.shape}, "
            f"root positions {root_positions.shape} do not agree"
        )
    positions = np.zeros((frames, joints, 3))
    global_rotations = np.zeros((frames, joints, 3, 3))
    for joint, parent in enumerate(parents):
        if parent < 0:
            positions[:, joint] = root_positions
            global_rotations[:, joint] = rotations[:, joint]
            continue
        if parent >= joint:
            raise ValueError(f"joint {joint}'s parent {parent} must come before it")
        positions[:, joint] = positions[:, parent] + global_rotations[:, parent] @ offsets[joint]
        global_rotations[:, joint] = global_rotations[:, parent] @ rotations[:, joint]
    return positions
