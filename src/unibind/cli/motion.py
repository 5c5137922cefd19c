"""``unibind motion render``: draw a motion file as a stick figure GIF and a keyframe strip."""

from __future__ import annotations

import argparse
from pathlib import Path

from unibind.cli.registry import Commands, Handler


def add_parsers(commands: Commands) -> None:
    """Add ``motion render``."""
    commands.group("motion", "MOTION_COMMAND", help="motion files: draw them")
    render = commands.command(
        "motion render",
        help="stick figure GIF and keyframe strip of a .bvh, DeepMimic clip or HumanML3D new_joints .npy",
    )
    render.add_argument("path", help="the motion file")
    render.add_argument("--out", default=None, help="output stem (default: next to the file); writes .gif and .png")
    render.add_argument("--keyframes", type=int, default=6, help="frames in the strip")


def render(args: argparse.Namespace) -> int:
    """Write ``STEM.gif`` and ``STEM.png`` and name them."""
    from unibind.motion.render import save_gif, save_keyframes
    from unibind.motion.sources import load_positions

    positions = load_positions(args.path)
    stem = Path(args.out) if args.out else Path(args.path).with_suffix("")
    gif = save_gif(positions, stem.with_suffix(".gif"))
    strip = save_keyframes(positions, stem.with_suffix(".png"), count=args.keyframes, title=Path(args.path).name)
    print(f"{len(positions)} frames at 20 fps: {gif}, {strip}")
    return 0


HANDLERS: dict[str, Handler] = {"motion render": render}
