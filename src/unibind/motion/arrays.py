"""Motion arrays: the representations a motion can be read in, ``.npy`` reading without unpickling, and the
shape and value check every motion passes."""

from __future__ import annotations

import tokenize
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from unibind.errors import InputError, item_name

MotionRepresentation = Literal["features", "humanml3d", "canonical"]
REPRESENTATIONS: tuple[str, ...] = ("features", "humanml3d", "canonical")
# features per frame of the representations that fix them
REPRESENTATION_FEATURES = {"humanml3d": 263, "canonical": 45}


def read_npy(source: str | Path | BinaryIO, item: str | None = None) -> np.ndarray:
    """One array from a ``.npy`` file or stream, never unpickled; anything else raises ``InputError`` naming it."""
    item = item_name(source, item)
    try:
        array = np.load(source, allow_pickle=False)
    # numpy's header parser raises ValueError, SyntaxError or tokenize.TokenError on a mangled header, and a
    # file that starts like a zip archive is opened as an .npz (BadZipFile)
    except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError, zipfile.BadZipFile) as err:
        raise InputError(f"{item}: cannot read a motion: not a plain .npy array ({err})") from err
    if not isinstance(array, np.ndarray):  # an .npz archive opens as a lazy mapping of arrays
        array.close()
        raise InputError(f"{item}: a .npz archive; expected a single .npy array")
    return array


def check_motion(array: Any, num_features: int, item: str, min_frames: int = 1) -> np.ndarray:
    """``array`` as a ``[frames, num_features]`` array of finite numbers with at least ``min_frames`` frames,
    or ``InputError`` naming ``item`` and what was expected."""
    try:
        array = np.asarray(array)
    except ValueError as err:  # ragged nested lists
        raise InputError(f"{item}: a motion is a [frames, {num_features}] array of numbers ({err})") from err
    if array.dtype.kind not in "fiu":
        raise InputError(f"{item}: motion values must be real numbers, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] != num_features:
        raise InputError(f"{item}: expected a [frames, {num_features}] motion, got shape {array.shape}")
    if array.shape[0] < min_frames:
        raise InputError(f"{item}: {array.shape[0]} frames, expected at least {min_frames}")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(f"{item}: NaN or inf in {len(bad)} frames (first: frame {int(bad[0])})")
    return array
