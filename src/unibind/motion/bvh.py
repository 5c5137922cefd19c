"""BVH (Biovision Hierarchy) motion capture files: the joint tree, the frames, and joint positions.

``HIERARCHY`` lists ``ROOT``/``JOINT`` blocks with an ``OFFSET`` and ``CHANNELS`` (the root usually has
three positions and three rotations, the others three rotations; rotations are Euler angles in degrees,
applied in the listed order about the joint's local axes) and ``End Site`` leaves. ``MOTION`` gives
``Frames:``, ``Frame Time:`` and one line of channel values per frame.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unibind.errors import InputError
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


#: ``(line number, line)`` pairs, shared by the parsing steps so that each picks up where the last one stopped.
_NumberedLines = Iterator[tuple[int, str]]

#: The entry on the block stack for an ``End Site`` (joints enter their index).
_END_SITE = -2


@dataclass
class _Hierarchy:
    """The joint tree while ``HIERARCHY`` is read; ``stack`` holds the open blocks (a joint index, or ``_END_SITE``)."""

    names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    offsets: list[list[float] | None] = field(default_factory=list)
    channels: list[list[str]] = field(default_factory=list)
    stack: list[int] = field(default_factory=list)
    in_end_site: bool = False


def _add_joint(path: Path, number: int, tokens: list[str], tree: _Hierarchy) -> None:
    """``ROOT name`` or ``JOINT name``: a new joint, the child of the innermost open joint."""
    keyword = tokens[0]
    if len(tokens) < 2:
        raise _error(path, number, f"{keyword} without a name")
    if keyword == "ROOT" and tree.names:
        raise _error(path, number, "only one ROOT is supported")
    tree.names.append(" ".join(tokens[1:]))
    tree.parents.append(tree.stack[-1] if tree.stack else -1)
    tree.offsets.append(None)
    tree.channels.append([])


def _close_block(path: Path, number: int, tree: _Hierarchy) -> None:
    """``}``: closes the innermost joint or ``End Site``."""
    if not tree.stack:
        raise _error(path, number, "unbalanced '}'")
    if tree.stack.pop() == _END_SITE:
        tree.in_end_site = False


def _read_offset(path: Path, number: int, line: str, tokens: list[str], tree: _Hierarchy) -> None:
    """``OFFSET x y z`` of the current joint; an ``End Site``'s offset is checked and dropped."""
    try:
        offset = [float(v) for v in tokens[1:4]]
    except ValueError as err:
        raise _error(path, number, f"OFFSET needs three numbers: {line.strip()!r}") from err
    if len(offset) != 3:
        raise _error(path, number, f"OFFSET needs three numbers: {line.strip()!r}")
    if not tree.in_end_site:
        tree.offsets[-1] = offset


def _read_channels(path: Path, number: int, tokens: list[str], tree: _Hierarchy) -> None:
    """``CHANNELS n name...`` of the current joint: ``n`` known position or rotation channels."""
    try:
        count = int(tokens[1])
    except (IndexError, ValueError) as err:
        raise _error(path, number, "CHANNELS needs a count") from err
    listed = tokens[2:]
    unknown = [c for c in listed if c not in POSITION_CHANNELS + ROTATION_CHANNELS]
    if count != len(listed) or unknown:
        raise _error(path, number, f"CHANNELS {count} lists {listed}")
    tree.channels[-1] = listed


def _read_hierarchy_line(path: Path, number: int, line: str, tokens: list[str], tree: _Hierarchy) -> None:
    """One non-blank ``HIERARCHY`` line other than ``MOTION``, split into ``tokens``."""
    keyword = tokens[0]
    if keyword == "HIERARCHY":
        return
    if keyword in ("ROOT", "JOINT"):
        _add_joint(path, number, tokens, tree)
    elif keyword == "End":
        tree.in_end_site = True
    elif keyword == "{":
        tree.stack.append(_END_SITE if tree.in_end_site else len(tree.names) - 1)
    elif keyword == "}":
        _close_block(path, number, tree)
    elif keyword in ("OFFSET", "CHANNELS") and not tree.names:
        raise _error(path, number, f"{keyword} before any ROOT or JOINT")
    elif keyword == "OFFSET":
        _read_offset(path, number, line, tokens, tree)
    elif keyword == "CHANNELS":
        _read_channels(path, number, tokens, tree)
    else:
        raise _error(path, number, f"unexpected {keyword!r} in HIERARCHY")


def _check_hierarchy(path: Path, number: int, tree: _Hierarchy) -> None:
    """At ``MOTION`` (line ``number``): at least one joint, every brace closed, every joint with an offset."""
    if not tree.names or tree.stack:
        raise _error(path, number, "the HIERARCHY has no joints or has unbalanced braces")
    if any(offset is None for offset in tree.offsets):
        raise InputError(f"{path}: joint {tree.names[tree.offsets.index(None)]!r} has no OFFSET")


def _read_hierarchy(path: Path, lines: _NumberedLines) -> _Hierarchy:
    """The joint tree, read up to and including the ``MOTION`` line."""
    tree = _Hierarchy()
    for number, line in lines:
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0] == "MOTION":
            _check_hierarchy(path, number, tree)
            return tree
        _read_hierarchy_line(path, number, line, tokens, tree)
    raise InputError(f"{path}: no MOTION section")


def _read_frame_header(path: Path, lines: _NumberedLines) -> tuple[int, float]:
    """``Frames:`` and ``Frame Time:`` (s, positive), read up to and including the ``Frame Time:`` line."""
    frames, frame_time = None, None
    for number, line in lines:
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
    return frames, frame_time


def _read_frame_lines(path: Path, lines: _NumberedLines, width: int) -> list[list[float]]:
    """Every remaining non-blank line as one frame of ``width`` channel values."""
    rows = []
    for number, line in lines:
        if not line.strip():
            continue
        try:
            row = [float(v) for v in line.split()]
        except ValueError as err:
            raise _error(path, number, "frame values must be numbers") from err
        if len(row) != width:
            raise _error(path, number, f"a frame has {len(row)} values, the channels need {width}")
        rows.append(row)
    return rows


def _frame_values(path: Path, rows: list[list[float]], frames: int) -> np.ndarray:
    """The first ``frames`` rows as ``[T, C]`` float64, all finite; a surplus line warns at ``read_bvh``'s caller."""
    if len(rows) < frames:
        raise InputError(f"{path}: 'Frames: {frames}' but only {len(rows)} frame lines")
    if len(rows) > frames:  # some exporters write one line more than they declare (assimp's Boxing_Toes.bvh)
        warnings.warn(
            f"{path}: 'Frames: {frames}' but {len(rows)} frame lines; reading the first {frames}", stacklevel=3
        )
        rows = rows[:frames]
    if frames == 0:
        raise InputError(f"{path}: no frames")
    values = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(values).all():
        raise InputError(f"{path}: NaN or inf among the frame values")
    return values


def read_bvh(path: str | Path) -> BVH:
    """Parse a BVH file; malformed input raises ``InputError`` naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"BVH file not found: {path}")
    lines = enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1)
    tree = _read_hierarchy(path, lines)
    frames, frame_time = _read_frame_header(path, lines)
    rows = _read_frame_lines(path, lines, width=sum(len(c) for c in tree.channels))
    values = _frame_values(path, rows, frames)
    offsets = np.asarray(tree.offsets, dtype=np.float64)
    return BVH(tree.names, tree.parents, offsets, tree.channels, frame_time, values)
