"""Any supported motion file to the shared skeleton at 20 fps, normalised: BVH, DeepMimic, HumanML3D joints."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unibind.modalities import InputError
from unibind.motion.bvh import read_bvh
from unibind.motion.canonical import (
    NUM_FEATURES,
    SMPL_JOINTS,
    from_features,
    normalise,
    resample,
    select_joints,
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
        array = np.load(path, allow_pickle=False)
        if array.ndim == 3 and array.shape[1:] == (len(SMPL_JOINTS), 3):
            positions = select_joints(SMPL_JOINTS, array.astype(np.float64))
            return normalise(resample(positions, np.arange(len(positions)) / HUMANML3D_FPS, fps))
        if array.ndim == 2 and array.shape[1] == NUM_FEATURES:
            return from_features(array)
        raise InputError(
            f"{path}: expected HumanML3D joints [T, {len(SMPL_JOINTS)}, 3] or shared-skeleton features "
            f"[T, {NUM_FEATURES}], got {array.shape} (HumanML3D's 263-d vectors carry no joint positions to draw)"
        )
    raise InputError(f"{path}: unknown motion format {suffix!r}; expected .bvh, .txt/.json (DeepMimic) or .npy")
