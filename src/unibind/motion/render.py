"""Stick figures of canonical-skeleton motions: an animated GIF and a keyframe strip (PNG).

Drawn with Pillow from an oblique orthographic camera (turned ``yaw`` degrees about the vertical and
looking ``pitch`` degrees down); right limbs red, left limbs blue, the spine black, the floor grey, the
pelvis trail in light grey. Every frame of a clip shares one scale so that size and travel stay true.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from unibind.motion.canonical import BONES, JOINTS

COLOURS = {"right": (214, 39, 40), "left": (31, 119, 180), "centre": (30, 30, 30)}


def project(positions: np.ndarray, yaw: float = 35.0, pitch: float = 15.0) -> np.ndarray:
    """``[..., 3]`` (x, y up, z) -> ``[..., 2]`` screen coordinates (right, up) of an oblique camera."""
    a, b = np.deg2rad(yaw), np.deg2rad(pitch)
    x, y, z = positions[..., 0], positions[..., 1], positions[..., 2]
    right = x * np.cos(a) - z * np.sin(a)
    depth = x * np.sin(a) + z * np.cos(a)
    up = y * np.cos(b) + depth * np.sin(b)
    return np.stack([right, up], axis=-1)


class _Canvas:
    """Maps screen coordinates of a whole clip into ``size``-pixel frames with a margin."""

    def __init__(self, screen: np.ndarray, size: int, margin: float = 0.08) -> None:
        low, high = screen.reshape(-1, 2).min(0), screen.reshape(-1, 2).max(0)
        span = float((high - low).max()) or 1.0
        self.scale = size * (1 - 2 * margin) / span
        self.centre = (low + high) / 2
        self.size = size

    def pixel(self, point: np.ndarray) -> tuple[float, float]:
        x, y = (point - self.centre) * self.scale
        return self.size / 2 + x, self.size / 2 - y


def _side(bone: tuple[str, str]) -> str:
    name = bone[1]
    return "right" if name.startswith("right") else "left" if name.startswith("left") else "centre"


def draw_frame(screen: np.ndarray, canvas: _Canvas, floor: np.ndarray, trail: np.ndarray | None = None) -> Image.Image:
    """One frame: ``screen: [15, 2]`` joints, ``floor: [4, 2]`` the floor's corners, ``trail: [k, 2]`` pelvis path."""
    image = Image.new("RGB", (canvas.size, canvas.size), "white")
    draw = ImageDraw.Draw(image)
    draw.polygon([canvas.pixel(p) for p in floor], fill=(240, 240, 240), outline=(170, 170, 170))
    if trail is not None and len(trail) > 1:
        draw.line([canvas.pixel(p) for p in trail], fill=(215, 215, 215), width=2)
    width = max(2, canvas.size // 60)
    for bone in BONES:
        a, b = (screen[JOINTS.index(name)] for name in bone)
        draw.line([canvas.pixel(a), canvas.pixel(b)], fill=COLOURS[_side(bone)], width=width)
    head = canvas.pixel(screen[JOINTS.index("head")])
    r = 1.5 * width
    draw.ellipse([head[0] - r, head[1] - r, head[0] + r, head[1] + r], fill=COLOURS["centre"])
    return image


def _prepare(positions: np.ndarray, size: int) -> tuple[np.ndarray, _Canvas, np.ndarray]:
    if positions.ndim != 3 or positions.shape[1:] != (len(JOINTS), 3):
        raise ValueError(f"expected [frames, {len(JOINTS)}, 3] positions, got {positions.shape}")
    ground = positions[..., [0, 2]]
    low, high = ground.reshape(-1, 2).min(0), ground.reshape(-1, 2).max(0)
    (x0, z0), (x1, z1) = low - 0.3, high + 0.3
    floor3d = np.array([[x0, 0.0, z0], [x1, 0.0, z0], [x1, 0.0, z1], [x0, 0.0, z1]])
    screen = project(positions)
    floor = project(floor3d)
    canvas = _Canvas(np.concatenate([screen.reshape(-1, 2), floor]), size)
    return screen, canvas, floor


def save_gif(positions: np.ndarray, path: str | Path, fps: float = 20.0, size: int = 240) -> Path:
    """Animated stick figure of ``positions: [T, 15, 3]`` at ``fps``, looping."""
    screen, canvas, floor = _prepare(positions, size)
    pelvis = screen[:, JOINTS.index("pelvis")]
    frames = [draw_frame(screen[t], canvas, floor, pelvis[: t + 1]) for t in range(len(screen))]
    path = Path(path)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
    return path


def save_keyframes(
    positions: np.ndarray, path: str | Path, count: int = 6, size: int = 160, title: str | None = None
) -> Path:
    """``count`` evenly spaced frames side by side (one shared scale), optionally with a title line."""
    screen, canvas, floor = _prepare(positions, size)
    picks = np.linspace(0, len(screen) - 1, count).round().astype(int)
    top = 18 if title else 0
    strip = Image.new("RGB", (size * count, size + top), "white")
    for slot, t in enumerate(picks):
        strip.paste(draw_frame(screen[t], canvas, floor), (slot * size, top))
    if title:
        ImageDraw.Draw(strip).text((4, 3), title, fill=(0, 0, 0))
    path = Path(path)
    strip.save(path)
    return path
