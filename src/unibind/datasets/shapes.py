"""A small, learnable image-text corpus of coloured shapes, written as PNG files plus JSONL manifests.

It exists so that ``experiments/tiny.yaml`` trains on real files through the real readers in seconds:
captions name a colour and a shape, and held-out images show the same concepts at new sizes and places.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 210, 40)}
SHAPES = ("circle", "square", "triangle", "cross")
TEMPLATES = ("a {c} {s}", "a {s} that is {c}", "one {c} {s} on a grey background", "{c} {s}")


def draw_shape(colour: str, shape: str, size: int, rng: random.Random) -> Image.Image:
    """One ``size`` x ``size`` RGB image: a ``colour`` ``shape`` of random extent and position on grey."""
    image = Image.new("RGB", (size, size), (128, 128, 128))
    draw = ImageDraw.Draw(image)
    extent = rng.randint(size // 3, size - 4)
    x0, y0 = rng.randint(0, size - extent), rng.randint(0, size - extent)
    box = (x0, y0, x0 + extent - 1, y0 + extent - 1)
    fill = COLOURS[colour]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([(x0 + extent / 2, y0), (x0, y0 + extent - 1), (x0 + extent - 1, y0 + extent - 1)], fill=fill)
    else:
        third = extent / 3
        draw.rectangle((x0 + third, y0, x0 + 2 * third, y0 + extent - 1), fill=fill)
        draw.rectangle((x0, y0 + third, x0 + extent - 1, y0 + 2 * third), fill=fill)
    return image


def write_shapes_dataset(
    root: str | Path, per_concept: dict[str, int], size: int = 32, seed: int = 0
) -> dict[str, Path]:
    """Write ``images/*.png`` and one ``{split}.jsonl`` per split under ``root``.

    Args:
        per_concept: split name -> images per (colour, shape) concept.
        size: image side in pixels.
    Returns:
        split name -> manifest path.
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    manifests = {}
    for split, count in per_concept.items():
        rows = []
        for colour in COLOURS:
            for shape in SHAPES:
                for k in range(count):
                    item_id = f"{split}-{colour}-{shape}-{k}"
                    draw_shape(colour, shape, size, rng).save(root / "images" / f"{item_id}.png", optimize=True)
                    captions = [t.format(c=colour, s=shape) for t in TEMPLATES]
                    rows.append(
                        {
                            "id": item_id,
                            "image": f"images/{item_id}.png",
                            "text": captions,
                            "group": f"{colour} {shape}",
                        }
                    )
        manifests[split] = root / f"{split}.jsonl"
        manifests[split].write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifests
