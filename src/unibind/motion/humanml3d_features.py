"""HumanML3D's 263-d motion representation from 22 SMPL joint positions, and back to positions.

Guo et al., "Generating Diverse and Natural 3D Human Motions from Text", CVPR 2022
(https://arxiv.org/abs/2204.04127); the formulas follow the release's ``motion_representation.ipynb``
(``uniform_skeleton``, ``process_file``, ``recover_from_ric``), ``common/skeleton.py`` and
``common/quaternion.py`` (https://github.com/EricGuo5513/HumanML3D), written again here on NumPy (float64).

Input: ``[T, 22, 3]`` positions of the SMPL body joints (in the order of
:data:`unibind.motion.canonical.SMPL_JOINTS`; y up, metres, 20 fps). Steps (:func:`features_from_joints`):

1. *uniform skeleton* (:func:`uniform_skeleton`): inverse kinematics to per-bone rotations, then forward
   kinematics on HumanML3D's target skeleton (:data:`BONE_LENGTHS`, the release's subject ``000021``), the
   root path scaled by the ratio of right-leg lengths (thigh + shin);
2. put on the floor (lowest joint of the clip at ``y = 0``), the first frame's root to ``x = z = 0``, and
   turn the clip about ``y`` so that the first frame faces ``+z`` (face direction: ``up x across``, with
   ``across`` the sum of the right-minus-left hip and shoulder vectors);
3. per frame ``t < T - 1`` (the release's 263 values, :data:`FEATURE_GROUPS`):

   - ``root_rot_velocity`` (1): ``arcsin`` of the y part of ``r[t+1] r[t]^-1``, half the yaw change;
   - ``root_linear_velocity`` (2): ``r[t+1] (root[t+1] - root[t])``, its x and z;
   - ``root_height`` (1): the root's ``y``;
   - ``ric`` (21 x 3): joints 1..21 relative to the root's x/z, turned by ``r[t]`` (facing ``+z``);
   - ``rotations`` (21 x 6): joints 1..21's local rotations (first two rotation-matrix columns), from
     the inverse kinematics with the face direction smoothed over time (Gaussian, sigma 20 frames);
   - ``local_velocity`` (22 x 3): ``r[t] (p[t+1] - p[t])`` for every joint;
   - ``foot_contacts`` (4): left ankle, left foot, right ankle, right foot; 1 when the joint moves less than
     ``sqrt(0.002)`` m to the next frame.

   ``r[t]`` is the root rotation (quaternion ``w, x, y, z``) that turns the face direction onto ``+z``.

Quirks of the release kept on purpose, since models were trained on them: the inverse kinematics' face
direction adds the *left-minus-right* hip vector to the right-minus-left shoulder vector (``skeleton.py``
unpacks ``face_joint_indx`` as ``l_hip, r_hip, ...``); the first frame's root rotation is the identity;
each kinematic chain starting at ``spine3`` (collars, arms) is rotated relative to the root, not to
``spine3``; ``T`` positions give ``T - 1`` feature frames.

Checked against the release (``tests/motion/test_humanml3d_features.py``): its ``new_joints/<id>.npy`` is
:func:`recover_from_ric` of ``new_joint_vecs/<id>.npy`` (to 2e-7 m), the positions after steps 1 and 2 less
the last one. Features recomputed from them match the released vectors to float32 precision (<= 8e-6)
except in the last 80 frames, which the smoothed face direction's Gaussian reaches from the missing last
position: there the groups that depend on the root rotation differ by up to 3e-2 (the rotations of the
hips, spine1 and collars, relative to the root) and 1e-2 or less (the rest); root height and foot contacts
match everywhere.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

FPS = 20.0
NUM_JOINTS = 22
NUM_FEATURES = 263
# parent of each SMPL body joint (-1: the root)
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
# paramUtil.t2m_kinematic_chain: right leg, left leg, spine and head, right arm, left arm
KINEMATIC_CHAINS = ((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20))
# paramUtil.t2m_raw_offsets: each bone's direction at zero rotation (the joint's offset from its parent)
RAW_OFFSETS = np.array(
    [
        [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
        [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
        [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
    ],
    dtype=np.float64,
)  # fmt: skip
# bone lengths (m) of the target skeleton, joint i to its parent, i = 0..21: the same in every released
# new_joints file, since the release retargets every motion onto it (the median over 7 files; every
# frame of them within 2e-6 m)
BONE_LENGTHS = np.array(
    [
        0.0, 0.1030740, 0.1098834, 0.1315682, 0.3936232, 0.3901882, 0.1431902, 0.4324330, 0.4256434, 0.0573647,
        0.1433818, 0.1494191, 0.2193601, 0.1374868, 0.1433828, 0.1030392, 0.1316140, 0.1229844, 0.2568399,
        0.2630919, 0.2660118, 0.2698765,
    ]
)  # fmt: skip
FACE_JOINTS = (2, 1, 17, 16)  # right hip, left hip, right shoulder, left shoulder
LEG_BONES = (5, 8)  # right thigh (hip -> knee) and shin (knee -> ankle): the scale of uniform_skeleton
FEET = (7, 10, 8, 11)  # left ankle, left foot, right ankle, right foot: the foot-contact order
FOOT_VELOCITY_THRESHOLD = 0.002  # squared displacement per frame (m^2)
FACE_SMOOTHING_SIGMA = 20.0  # frames; the Gaussian on the face direction of the rotation features
FEATURE_GROUPS = {
    "root_rot_velocity": slice(0, 1),
    "root_linear_velocity": slice(1, 3),
    "root_height": slice(3, 4),
    "ric": slice(4, 4 + 21 * 3),
    "rotations": slice(67, 67 + 21 * 6),
    "local_velocity": slice(193, 193 + 22 * 3),
    "foot_contacts": slice(259, 263),
}
UP = np.array([0.0, 1.0, 0.0])
FORWARD = np.array([0.0, 0.0, 1.0])
IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


# -- quaternions (w, x, y, z), broadcasting over leading axes ------------------------------------------


def qmul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product ``q r`` of ``[..., 4]`` quaternions."""
    w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
    return np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )


def qinv(q: np.ndarray) -> np.ndarray:
    """Inverse (conjugate) of unit quaternions ``[..., 4]``."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v: [..., 3]`` rotated by unit quaternions ``q: [..., 4]`` (broadcast)."""
    u = q[..., 1:]
    uv = np.cross(u, v)
    return v + 2.0 * (q[..., :1] * uv + np.cross(u, uv))


def qbetween(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """The shortest rotation ``[..., 4]`` taking the direction of ``v0: [..., 3]`` onto that of ``v1``.

    Opposite directions (where the release's formula gives NaN) get a half turn about an axis
    perpendicular to ``v0``: the vertical when ``v0`` is horizontal.
    """
    v0, v1 = np.broadcast_arrays(np.asarray(v0, dtype=np.float64), np.asarray(v1, dtype=np.float64))
    w = np.sqrt((v0**2).sum(-1) * (v1**2).sum(-1)) + (v0 * v1).sum(-1)
    q = np.concatenate([w[..., None], np.cross(v0, v1)], axis=-1)
    norm = np.linalg.norm(q, axis=-1)
    opposite = norm < 1e-9 * np.maximum(np.sqrt((v0**2).sum(-1) * (v1**2).sum(-1)), 1e-300)
    if opposite.any():
        q[opposite] = np.concatenate([np.zeros((int(opposite.sum()), 1)), _perpendicular(v0[opposite])], axis=-1)
        norm = np.linalg.norm(q, axis=-1)
    return q / norm[..., None]


def _perpendicular(v: np.ndarray) -> np.ndarray:
    """Unit vectors ``[N, 3]`` perpendicular to ``v: [N, 3]``: ``y`` when ``v`` is horizontal."""
    axis = np.cross(v, UP)
    axis = np.cross(axis, v)  # the part of y perpendicular to v
    small = np.linalg.norm(axis, axis=-1) < 1e-9 * np.maximum(np.linalg.norm(v, axis=-1), 1e-300)
    axis[small] = np.cross(v[small], [1.0, 0.0, 0.0])
    return axis / np.linalg.norm(axis, axis=-1, keepdims=True)


def quaternion_to_cont6d(q: np.ndarray) -> np.ndarray:
    """``[..., 4]`` quaternions -> ``[..., 6]``: the rotation matrix's first column, then its second."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    s = 2.0 / (q**2).sum(-1)
    first = [1 - s * (y * y + z * z), s * (x * y + z * w), s * (x * z - y * w)]
    second = [s * (x * y - z * w), 1 - s * (x * x + z * z), s * (y * z + x * w)]
    return np.stack(first + second, axis=-1)


def cont6d_to_matrix(cont6d: np.ndarray) -> np.ndarray:
    """``[..., 6]`` -> ``[..., 3, 3]`` rotation matrices (Gram-Schmidt of the two columns)."""
    x = cont6d[..., :3] / np.linalg.norm(cont6d[..., :3], axis=-1, keepdims=True)
    z = np.cross(x, cont6d[..., 3:])
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    return np.stack([x, np.cross(z, x), z], axis=-1)


# -- kinematics on the 22-joint tree ---------------------------------------------------------------------


def gaussian_smooth(values: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """``values: [T, C]`` smoothed along time by a Gaussian, the edges repeated.

    The same as ``scipy.ndimage.gaussian_filter1d(values, sigma, axis=0, mode="nearest")``.
    """
    radius = int(truncate * sigma + 0.5)
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * taps**2 / sigma**2)
    kernel /= kernel.sum()
    padded = np.pad(values, ((radius, radius), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(values.shape[1])], axis=1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """``[22]`` lengths of each joint's bone to its parent (0 for the root) in one pose ``[22, 3]``."""
    return np.array([0.0] + [np.linalg.norm(joints[j] - joints[p]) for j, p in enumerate(SMPL_PARENTS) if p >= 0])


def target_offsets() -> np.ndarray:
    """``[22, 3]`` joint offsets of HumanML3D's target skeleton: raw directions times :data:`BONE_LENGTHS`."""
    return RAW_OFFSETS * BONE_LENGTHS[:, None]


def inverse_kinematics(joints: np.ndarray, smooth_forward: bool = False) -> np.ndarray:
    """``[T, 22, 4]`` local joint rotations taking :data:`RAW_OFFSETS` onto the bones of ``joints: [T, 22, 3]``.

    The root rotation turns the face direction (the release's ``inverse_kinematics_np``: left-minus-right
    hips plus right-minus-left shoulders, optionally smoothed) onto ``+z``, and is the identity at frame 0.
    """
    right_hip, left_hip, right_shoulder, left_shoulder = FACE_JOINTS
    hips = joints[:, left_hip] - joints[:, right_hip]  # sic: left minus right, unlike the shoulders
    across = _unit(hips + (joints[:, right_shoulder] - joints[:, left_shoulder]))
    forward = np.cross(UP, across)
    if smooth_forward:
        forward = gaussian_smooth(forward, FACE_SMOOTHING_SIGMA)
    root = qbetween(_unit(forward), FORWARD)
    root[0] = IDENTITY
    quaternions = np.zeros((*joints.shape[:-1], 4))
    quaternions[:, 0] = root
    for chain in KINEMATIC_CHAINS:
        accumulated = root
        for parent, child in itertools.pairwise(chain):
            bone = _unit(joints[:, child] - joints[:, parent])
            local = qmul(qinv(accumulated), qbetween(RAW_OFFSETS[child], bone))
            quaternions[:, child] = local
            accumulated = qmul(accumulated, local)
    return quaternions


def forward_kinematics(quaternions: np.ndarray, root_positions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``[T, 22, 3]`` positions from local rotations ``[T, 22, 4]``, ``root_positions: [T, 3]`` and
    ``offsets: [22, 3]`` (every chain starts from the root's rotation, as in the release)."""
    joints = np.zeros((*quaternions.shape[:-1], 3))
    joints[:, 0] = root_positions
    for chain in KINEMATIC_CHAINS:
        rotation = quaternions[:, 0]
        for parent, child in itertools.pairwise(chain):
            rotation = qmul(rotation, quaternions[:, child])
            joints[:, child] = qrot(rotation, offsets[child]) + joints[:, parent]
    return joints


def uniform_skeleton(joints: np.ndarray) -> np.ndarray:
    """``joints: [T, 22, 3]`` retargeted onto HumanML3D's target skeleton (the release's ``uniform_skeleton``).

    Bone directions are kept, bone lengths become :data:`BONE_LENGTHS`, and the root path is scaled by the
    ratio of right-leg lengths (target over the first frame's).
    """
    source = bone_lengths(joints[0])
    source_leg = sum(source[b] for b in LEG_BONES)
    if not source_leg > 0:
        raise ValueError("the right leg has zero length in the first frame; cannot retarget the clip")
    scale = sum(BONE_LENGTHS[b] for b in LEG_BONES) / source_leg
    quaternions = inverse_kinematics(joints, smooth_forward=False)
    return forward_kinematics(quaternions, joints[:, 0] * scale, target_offsets())


def face_forward(joints: np.ndarray) -> np.ndarray:
    """``[T, 22, 3]`` on the floor, the first frame's root at ``x = z = 0`` and the first frame facing ``+z``."""
    out = joints.copy()
    out[..., 1] -= out[..., 1].min()
    out -= out[0, 0] * np.array([1.0, 0.0, 1.0])
    right_hip, left_hip, right_shoulder, left_shoulder = FACE_JOINTS
    first = out[0]
    across = _unit((first[right_hip] - first[left_hip]) + (first[right_shoulder] - first[left_shoulder]))
    turn = qbetween(_unit(np.cross(UP, across)), FORWARD)
    return qrot(turn, out)


def foot_contacts(joints: np.ndarray) -> np.ndarray:
    """``[T - 1, 4]`` (left ankle, left foot, right ankle, right foot): 1.0 where the joint moves less than
    ``sqrt(0.002)`` m to the next frame of ``joints: [T, 22, 3]``."""
    step = ((joints[1:, list(FEET)] - joints[:-1, list(FEET)]) ** 2).sum(-1)
    return (step < FOOT_VELOCITY_THRESHOLD).astype(np.float64)


# -- the representation ------------------------------------------------------------------------------


def features_from_joints(joints: Any, uniform: bool = True) -> np.ndarray:
    """HumanML3D features ``[T - 1, 263]`` (float32) of SMPL joint positions ``[T, 22, 3]`` at 20 fps.

    ``uniform=False`` skips the retargeting (step 1 of the module docstring) for positions already on the
    target skeleton, such as the release's ``new_joints``.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected SMPL joint positions [frames, {NUM_JOINTS}, 3], got {joints.shape}")
    if len(joints) < 2:
        raise ValueError(f"{len(joints)} frame(s): HumanML3D features need at least 2 frames of joint positions")
    if not np.isfinite(joints).all():
        raise ValueError("NaN or inf among the joint positions")
    if uniform:
        joints = uniform_skeleton(joints)
    positions = face_forward(joints)
    quaternions = inverse_kinematics(positions, smooth_forward=True)
    root = quaternions[:, 0]
    rot_velocity = qmul(root[1:], qinv(root[:-1]))
    linear_velocity = qrot(root[1:], positions[1:, 0] - positions[:-1, 0])
    local = positions - positions[:, :1] * np.array([1.0, 0.0, 1.0])
    local = qrot(root[:, None], local)
    frames = len(positions) - 1
    features = np.concatenate(
        [
            np.arcsin(np.clip(rot_velocity[:, 2:3], -1.0, 1.0)),
            linear_velocity[:, [0, 2]],
            local[:-1, 0, 1:2],
            local[:-1, 1:].reshape(frames, -1),
            quaternion_to_cont6d(quaternions[:-1, 1:]).reshape(frames, -1),
            qrot(root[:-1, None], positions[1:] - positions[:-1]).reshape(frames, -1),
            foot_contacts(positions),
        ],
        axis=1,
    )
    return features.astype(np.float32)


def recover_root(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rotations [T, 4], positions [T, 3])`` of the root, integrated from ``features: [T, 263]``."""
    angle = np.zeros(len(features))
    angle[1:] = np.cumsum(features[:-1, 0])
    rotations = np.zeros((len(features), 4))
    rotations[:, 0], rotations[:, 2] = np.cos(angle), np.sin(angle)
    steps = np.zeros((len(features), 3))
    steps[1:, [0, 2]] = features[:-1, 1:3]
    positions = np.cumsum(qrot(qinv(rotations), steps), axis=0)
    positions[:, 1] = features[:, 3]
    return rotations, positions


def recover_from_ric(features: Any) -> np.ndarray:
    """Joint positions ``[T, 22, 3]`` of HumanML3D features ``[T, 263]`` (the release's ``recover_from_ric``):
    the root from the integrated velocities, the other joints from ``ric`` turned back by the root's yaw."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != NUM_FEATURES:
        raise ValueError(f"expected HumanML3D features [frames, {NUM_FEATURES}], got {features.shape}")
    rotations, root = recover_root(features)
    joints = features[:, FEATURE_GROUPS["ric"]].reshape(len(features), NUM_JOINTS - 1, 3)
    joints = qrot(qinv(rotations)[:, None], joints)
    joints[..., [0, 2]] += root[:, None, [0, 2]]
    return np.concatenate([root[:, None], joints], axis=1)


def split_features(features: np.ndarray) -> dict[str, np.ndarray]:
    """``features: [..., 263]`` as :data:`FEATURE_GROUPS` (name -> ``[..., width]``)."""
    if features.shape[-1] != NUM_FEATURES:
        raise ValueError(f"expected {NUM_FEATURES} features per frame, got {features.shape[-1]}")
    return {name: features[..., part] for name, part in FEATURE_GROUPS.items()}
