"""Any supported motion file to the shared skeleton at 20 fps, normalised: BVH, DeepMimic, HumanML3D joints;
or to HumanML3D's own 263-d representation (:func:`load_humanml3d_features`)."""

from __future__ import annotations

import tokenize
from pathlib import Path

import numpy as np

from unibind.errors import InputError
from unibind.motion.arrays import REPRESENTATIONS, check_motion, read_npy
from unibind.motion.bvh import read_bvh
from unibind.motion.canonical import (
    NUM_FEATURES,
    SMPL_JOINTS,
    from_features,
    normalise,
    resample,
    select_joints,
    to_features,
)
from unibind.motion.deepmimic import deepmimic_positions, humanoid_skeleton, read_deepmimic
from unibind.motion.humanml3d_features import NUM_FEATURES as HUMANML3D_FEATURES
from unibind.motion.humanml3d_features import features_from_joints, recover_from_ric

HUMANML3D_FPS = 20.0
# numpy's .npy header parser can raise a SyntaxError or tokenize.TokenError on a mangled header
READ_ERRORS = (ValueError, IndexError, OSError, EOFError, SyntaxError, tokenize.TokenError)


def load_positions(path: str | Path, fps: float = 20.0) -> np.ndarray:
    """``[T, 15, 3]`` normalised positions of a ``.bvh``, a DeepMimic ``.txt``/``.json`` clip, a HumanML3D
    ``new_joints/<id>.npy`` (``[T, 22, 3]`` at 20 fps) or a canonical ``[T, 45]`` ``.npy`` (taken as is)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"motion file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        bvh = read_bvh(path)
        positions = select_joints(bvh.names, bvh.positions())
        return normalise(resample(positions, np.arange(len(positions)) * bvh.frame_time, fps))
    if suffix in (".txt", ".json"):
        clip = read_deepmimic(path)
        skeleton = humanoid_skeleton()
        positions = select_joints(skeleton.names, deepmimic_positions(clip, skeleton))
        return normalise(resample(positions, clip.times, fps))
    if suffix == ".npy":
        array = read_npy(path)
        if array.ndim == 3 and array.shape[1:] == (len(SMPL_JOINTS), 3):
            check_motion(array.reshape(array.shape[0], 3 * len(SMPL_JOINTS)), 3 * len(SMPL_JOINTS), str(path))
            positions = select_joints(SMPL_JOINTS, array.astype(np.float64))
            return normalise(resample(positions, np.arange(len(positions)) / HUMANML3D_FPS, fps))
        if array.ndim == 2 and array.shape[1] == NUM_FEATURES:
            return from_features(array)
        raise InputError(
            f"{path}: expected HumanML3D joints [T, {len(SMPL_JOINTS)}, 3] or shared-skeleton features "
            f"[T, {NUM_FEATURES}], got {array.shape} (HumanML3D's 263-d vectors carry no joint positions to draw)"
        )
    raise InputError(f"{path}: unknown motion format {suffix!r}; expected .bvh, .txt/.json (DeepMimic) or .npy")


def load_smpl_joints(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(positions [T, 22, 3], times [T] in s)`` on the SMPL body joints of a ``.bvh``, a DeepMimic
    ``.txt``/``.json`` clip or a ``[T, 22, 3]`` ``.npy`` (HumanML3D ``new_joints``, taken at 20 fps);
    see :mod:`unibind.motion.retarget` for the joints that BVH and DeepMimic skeletons lack."""
    from unibind.motion.retarget import bvh_smpl_joints, deepmimic_smpl_joints

    path = Path(path)
    if not path.is_file():
        raise InputError(f"motion file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        bvh = read_bvh(path)
        return bvh_smpl_joints(bvh), np.arange(len(bvh.values)) * bvh.frame_time
    if suffix in (".txt", ".json"):
        clip = read_deepmimic(path)
        skeleton = humanoid_skeleton()
        return deepmimic_smpl_joints(clip, skeleton), clip.times
    if suffix == ".npy":
        array = read_npy(path)
        if array.ndim == 3 and array.shape[1:] == (len(SMPL_JOINTS), 3):
            check_motion(array.reshape(array.shape[0], 3 * len(SMPL_JOINTS)), 3 * len(SMPL_JOINTS), str(path))
            return array.astype(np.float64), np.arange(len(array)) / HUMANML3D_FPS
        raise InputError(f"{path}: expected SMPL joint positions [T, {len(SMPL_JOINTS)}, 3], got {array.shape}")
    raise InputError(f"{path}: unknown motion format {suffix!r}; expected .bvh, .txt/.json (DeepMimic) or .npy")


def humanml3d_from_joints(positions: np.ndarray, times: np.ndarray, item: str) -> np.ndarray:
    """HumanML3D features ``[T' - 1, 263]`` of SMPL joints ``[T, 22, 3]`` sampled at ``times``, first
    resampled to 20 fps (``T'`` frames)."""
    if len(positions) > 1 and not np.allclose(np.diff(times), 1.0 / HUMANML3D_FPS):
        positions = resample(positions, times, HUMANML3D_FPS)
    if len(positions) < 2:
        raise InputError(f"{item}: {len(positions)} frame at 20 fps; HumanML3D features need at least 2")
    return features_from_joints(positions)


def load_humanml3d_features(source: str | Path | np.ndarray, item: str | None = None) -> np.ndarray:
    """HumanML3D's 263-d features ``[T', 263]`` (float32, 20 fps) of any motion source unibind reads.

    ``source``: a ``.bvh``, a DeepMimic ``.txt``/``.json`` clip, a HumanML3D ``new_joints`` ``.npy``
    ``[T, 22, 3]`` (or such an array), or ``new_joint_vecs`` ``[T, 263]`` (``.npy`` or array, passed
    through). Joint positions are resampled to 20 fps and go through
    :func:`unibind.motion.humanml3d_features.features_from_joints` (``T`` positions give ``T - 1`` frames).
    Anything unreadable raises ``InputError`` naming ``item`` (default: the path).
    """
    item = item or (str(source) if isinstance(source, str | Path) else "input")
    try:
        if isinstance(source, str | Path) and Path(source).suffix.lower() == ".npy" and Path(source).is_file():
            source = read_npy(source, item)
        if isinstance(source, str | Path):
            return humanml3d_from_joints(*load_smpl_joints(source), item)
        array = np.asarray(source)
        if array.ndim == 2 and array.shape[1] == HUMANML3D_FEATURES:
            return check_motion(array, HUMANML3D_FEATURES, item)
        if array.ndim == 3 and array.shape[1:] == (len(SMPL_JOINTS), 3):
            check_motion(array.reshape(len(array), -1), 3 * len(SMPL_JOINTS), item)
            return humanml3d_from_joints(array.astype(np.float64), np.arange(len(array)) / HUMANML3D_FPS, item)
        raise InputError(
            f"{item}: expected SMPL joint positions [T, {len(SMPL_JOINTS)}, 3] or HumanML3D features "
            f"[T, {HUMANML3D_FEATURES}], got shape {array.shape}"
        )
    except InputError:
        raise
    except READ_ERRORS as err:
        raise InputError(f"{item}: cannot read a motion from it ({err})") from err


def drawable(features: np.ndarray) -> np.ndarray:
    """Shared-skeleton positions ``[T, 15, 3]`` (for a GIF) of HumanML3D features ``[T, 263]``."""
    joints = recover_from_ric(features)
    return normalise(select_joints(SMPL_JOINTS, joints))


def load_motion_features(
    path: str | Path, num_features: int, representation: str = "features"
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(features [T, num_features], positions [T, 15, 3] or None)`` of a motion file, for a model's motion tower.

    ``representation`` (a :data:`REPRESENTATIONS` name, as in :class:`unibind.modalities.MotionSpec`):

    - ``features``: a shared-skeleton model (``num_features == 45``) reads any file :func:`load_positions`
      reads; its features are the positions, flattened, which can also be drawn. Any other model
      (HumanML3D's 263-d vectors) reads a ``[T, num_features]`` ``.npy`` as it is, with nothing to draw;
    - ``canonical``: the shared skeleton, as ``features`` does for a 45-d model;
    - ``humanml3d``: any file :func:`load_humanml3d_features` reads, drawn from the features' joints.

    Unreadable files, and features that are not ``[frames >= 1, num_features]`` finite numbers, raise
    ``InputError`` naming the file.
    """
    path = Path(path)
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    try:
        if representation == "humanml3d":
            features = check_motion(load_humanml3d_features(path), num_features, str(path))
            return features, drawable(features)
        if num_features == NUM_FEATURES or representation == "canonical":
            positions = load_positions(path)
            return check_motion(to_features(positions), num_features, str(path)), positions
        if path.suffix.lower() != ".npy":
            raise InputError(f"{path}: a model of {num_features}-d motion features reads [frames, {num_features}] .npy")
        if not path.is_file():
            raise InputError(f"motion file not found: {path}")
        return check_motion(read_npy(path), num_features, str(path)), None
    except InputError:
        raise
    # bad files as numpy and the skeleton mapping report them
    except READ_ERRORS as err:
        raise InputError(f"{path}: cannot read a motion from it ({err})") from err
