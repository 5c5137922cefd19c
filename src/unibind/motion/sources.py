"""Any supported motion file to the shared skeleton at 20 fps, normalised: BVH, DeepMimic, HumanML3D joints."""

from __future__ import annotations

import tokenize
from pathlib import Path

import numpy as np

from unibind.modalities import InputError
from unibind.modalities.motion import check_motion, read_npy
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
from unibind.motion.deepmimic import deepmimic_positions, pybullet_data_dir, read_deepmimic, read_urdf_skeleton

HUMANML3D_FPS = 20.0


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
        skeleton = read_urdf_skeleton(pybullet_data_dir() / "humanoid" / "humanoid.urdf")
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


def load_motion_features(path: str | Path, num_features: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(features [T, num_features], positions [T, 15, 3] or None)`` of a motion file, for a model's motion tower.

    A shared-skeleton model (``num_features == 45``) reads any file :func:`load_positions` reads; its features
    are the positions, flattened, which can also be drawn. Any other model (HumanML3D's 263-d vectors) reads a
    ``[T, num_features]`` ``.npy`` as it is, with nothing to draw. Unreadable files, and features that are not
    ``[frames >= 1, num_features]`` finite numbers, raise ``InputError`` naming the file.
    """
    path = Path(path)
    try:
        if num_features == NUM_FEATURES:
            positions = load_positions(path)
            return check_motion(to_features(positions), num_features, str(path)), positions
        if path.suffix.lower() != ".npy":
            raise InputError(f"{path}: a model of {num_features}-d motion features reads [frames, {num_features}] .npy")
        if not path.is_file():
            raise InputError(f"motion file not found: {path}")
        return check_motion(read_npy(path), num_features, str(path)), None
    except InputError:
        raise
    # bad files as numpy and the skeleton mapping report them; numpy's .npy header parser can also raise a
    # SyntaxError or tokenize.TokenError on a mangled header
    except (ValueError, IndexError, OSError, EOFError, SyntaxError, tokenize.TokenError) as err:
        raise InputError(f"{path}: cannot read a motion from it ({err})") from err
