"""BVH (Biovision Hierarchy) motion capture files: the joint tree, the frames, and joint positions.

``HIERARCHY`` lists ``ROOT``/``JOINT`` blocks with an ``OFFSET`` and ``CHANNELS`` (the root usually has
three positions and three rotations, the others three rotations; rotations are Euler angles in degrees,
applied in the listed order about the joint's local axes) and ``End Site`` leaves. ``MOTION`` gives
``Frames:``, ``Frame Time:`` and one line of channel values per frame.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unibind.modalities import InputError
from unibind.motion.kinematics import euler_to_matrix, forward_kinematics

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")


@dataclass
class BVH:
    """``names``, ``parents``, ``offsets: [J, 3]``, ``channels`` per joint, ``frame_time`` (s), ``values: [T, C]``."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[list[str]]
    frame_time: float
    values: np.ndarray

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def positions(self) -> np.ndarray:
        """World positions of every joint, ``[T, J, 3]``, in the file's units."""
        frames, joints = self.values.shape[0], len(self.names)
        rotations = np.broadcast_to(np.eye(3), (frames, joints, 3, 3)).copy()
        root_positions = np.zeros((frames, 3))
        column = 0
        for joint, channels in enumerate(self.channels):
            block = self.values[:, column : column + len(channels)]
            column += len(channels)
            order = [c[0] for c in channels if c in ROTATION_CHANNELS]
            rotation_values = block[:, [i for i, c in enumerate(channels) if c in ROTATION_CHANNELS]]
            if order:
                rotations[:, joint] = euler_to_matrix(rotation_values, order)
            translation = np.zeros((frames, 3))
            for i, c in enumerate(channels):
                if c in POSITION_CHANNELS:
                    translation[:, POSITION_CHANNELS.index(c)] = block[:, i]
            if self.parents[joint] < 0:
                root_positions = self.offsets[joint] + translation
        return forward_kinematics(self.parents, self.offsets, rotations, root_positions)


def _error(path: Path, number: int, message: str) -> InputError:
    return InputError(f"{path}, line {number}: {message}")


def read_bvh(path: str | Path) -> BVH:
    """Parse a BVH file; malformed input raises ``InputError`` naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"BVH file not found: {path}")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    number, in_end_site = 0, False
    tokens_iter = iter(enumerate(lines, start=1))

    for number, line in tokens_iter:
        tokens = line.split()
        if not tokens:
            continue
        keyword = tokens[0]
        if keyword == "HIERARCHY":
            continue
        if keyword in ("ROOT", "JOINT"):
            if len(tokens) < 2:
                raise _error(path, number, f"{keyword} without a name")
            if keyword == "ROOT" and names:
                raise _error(path, number, "only one ROOT is supported")
            names.append(" ".join(tokens[1:]))
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append([])
        elif keyword == "End":
            in_end_site = True
        elif keyword == "{":
            stack.append(-2 if in_end_site else len(names) - 1)
        elif keyword == "}":
            if not stack:
                raise _error(path, number, "unbalanced '}'")
            if stack.pop() == -2:
                in_end_site = False
        elif keyword == "OFFSET":
            try:
                offset = [float(v) for v in tokens[1:4]]
            except ValueError as err:
                raise _error(path, number, f"OFFSET needs three numbers: {line.strip()!r}") from err
            if len(offset) != 3:
                raise _error(path, number, f"OFFSET needs three numbers: {line.strip()!r}")
            if not in_end_site:
                offsets[-1] = offset
        elif keyword == "CHANNELS":
            try:
                count = int(tokens[1])
            except (IndexError, ValueError) as err:
                raise _error(path, number, "CHANNELS needs a count") from err
            listed = tokens[2:]
            unknown = [c for c in listed if c not in POSITION_CHANNELS + ROTATION_CHANNELS]
            if count != len(listed) or unknown:
                raise _error(path, number, f"CHANNELS {count} lists {listed}")
            channels[-1] = listed
        elif keyword == "MOTION":
            break
        else:
            raise _error(path, number, f"unexpected {keyword!r} in HIERARCHY")
    else:
        raise InputError(f"{path}: no MOTION section")
    if not names or stack:
        raise _error(path, number, "the HIERARCHY has no joints or has unbalanced braces")
    if any(offset is None for offset in offsets):
        raise InputError(f"{path}: joint {names[offsets.index(None)]!r} has no OFFSET")
    frames, frame_time = None, None
    for number, line in tokens_iter:
        try:
            if line.strip().startswith("Frames:"):
                frames = int(line.split(":")[1])
            elif line.strip().startswith("Frame Time:"):
                frame_time = float(line.split(":")[1])
                break
        except ValueError as err:
            raise _error(path, number, f"expected a number in {line.strip()!r}") from err
    if frames is None or frame_time is None or frame_time <= 0:
        raise InputError(f"{path}: MOTION needs 'Frames:' and a positive 'Frame Time:'")
    width = sum(len(c) for c in channels)
    rows = []
    for number, line in tokens_iter:
        if not line.strip():
            continue
        try:
            row = [float(v) for v in line.split()]
        except ValueError as err:
            raise _error(path, number, "frame values must be numbers") from err
        if len(row) != width:
            raise _error(path, number, f"a frame has {len(row)} values, the channels need {width}")
        rows.append(row)
    if len(rows) < frames:
        raise InputError(f"{path}: 'Frames: {frames}' but only {len(rows)} frame lines")
    if len(rows) > frames:  # some exporters write one line more than they declare (assimp's Boxing_Toes.bvh)
        warnings.warn(
            f"{path}: 'Frames: {frames}' but {len(rows)} frame lines; reading the first {frames}", stacklevel=2
        )
        rows = rows[:frames]
    if frames == 0:
        raise InputError(f"{path}: no frames")
    values = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(values).all():
        raise InputError(f"{path}: NaN or inf among the frame values")
    return BVH(names, parents, np.asarray(offsets, dtype=np.float64), channels, frame_time, values)
