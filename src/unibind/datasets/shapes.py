"""A small, learnable corpus of coloured shapes, written as PNG (and WAV) files plus JSONL manifests.

It exists so that ``experiments/tiny.yaml`` trains on real files through the real readers in seconds:
captions name a colour and a shape, and held-out images show the same concepts at new sizes and places.
With ``sounds``, every concept also has a tone (the colour sets the pitch, the shape the waveform: circle
sine, square square wave, triangle triangle wave, cross sawtooth) and the items are mixed: a third carry
image + text, a third audio + text, a third all three, as a mixed-modality corpus does
(``experiments/tiny_ddp.yaml``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 210, 40)}
SHAPES = ("circle", "square", "triangle", "cross")
TEMPLATES = ("a {c} {s}", "a {s} that is {c}", "one {c} {s} on a grey background", "{c} {s}")
PITCH_HZ = {"red": 262.0, "green": 330.0, "blue": 392.0, "yellow": 523.0}  # C4 E4 G4 C5
SAMPLE_RATE = 16000


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


def tone(colour: str, shape: str, seconds: float, rng: random.Random) -> np.ndarray:
    """``[frames]`` float32 at :data:`SAMPLE_RATE`: the concept's pitch (detuned by up to 2%) in its shape's
    waveform, with a random phase, loudness and a short fade in and out."""
    frequency = PITCH_HZ[colour] * rng.uniform(0.98, 1.02)
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = (frequency * t + rng.random()) % 1.0  # cycles in [0, 1)
    if shape == "circle":
        wave = np.sin(2 * np.pi * phase)
    elif shape == "square":
        wave = np.where(phase < 0.5, 1.0, -1.0)
    elif shape == "triangle":
        wave = 4 * np.abs(phase - 0.5) - 1
    else:
        wave = 2 * phase - 1
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return (rng.uniform(0.3, 0.8) * wave * fade).astype(np.float32)


def write_shapes_dataset(
    root: str | Path, per_concept: dict[str, int], size: int = 32, seed: int = 0, sounds: bool = False
) -> dict[str, Path]:
    """Write ``images/*.png`` (and ``sounds/*.wav``) and one ``{split}.jsonl`` per split under ``root``.

    Args:
        per_concept: split name -> items per (colour, shape) concept.
        size: image side in pixels.
        sounds: mixed modalities: item ``k`` of a concept carries image + text (``k % 3 == 0``), audio + text
            (``1``) or all three (``2``); each tone lasts 0.4-0.6 s.
    Returns:
        split name -> manifest path.
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    if sounds:
        (root / "sounds").mkdir(exist_ok=True)
    rng = random.Random(seed)
    manifests = {}
    for split, count in per_concept.items():
        rows = []
        for colour in COLOURS:
            for shape in SHAPES:
                for k in range(count):
                    item_id = f"{split}-{colour}-{shape}-{k}"
                    captions = [t.format(c=colour, s=shape) for t in TEMPLATES]
                    row: dict = {"id": item_id, "text": captions, "group": f"{colour} {shape}"}
                    if not sounds or k % 3 != 1:
                        draw_shape(colour, shape, size, rng).save(root / "images" / f"{item_id}.png", optimize=True)
                        row["image"] = f"images/{item_id}.png"
                    if sounds and k % 3 != 0:
                        wave = tone(colour, shape, rng.uniform(0.4, 0.6), rng)
                        soundfile.write(root / "sounds" / f"{item_id}.wav", wave, SAMPLE_RATE, subtype="PCM_16")
                        row["audio"] = f"sounds/{item_id}.wav"
                    rows.append(row)
        manifests[split] = root / f"{split}.jsonl"
        manifests[split].write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifests
