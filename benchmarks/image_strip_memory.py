"""Peak memory of loading a very elongated image: ``ImageSpec`` (only the crop's region resampled) vs the
whole resize then the crop (torchvision's ``Resize(224)`` + ``CenterCrop(224)``, what ImageSpec did before).

ratio = peak resident growth of the whole resize / peak resident growth of ImageSpec (goal 100). Each way runs
in a fresh process (a peak cannot be reset within one) after the imports and a warm-up load: the growth of
``ru_maxrss`` over one load of a 1 x 4,000 px strip (the whole resize makes it 896,000 x 224). Both outputs
are compared: they must agree within 1/255 on a smooth gradient.

    .venv/bin/python benchmarks/image_strip_memory.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

from _common import report

WIDTH = 4000


def strip():
    import numpy as np
    from PIL import Image

    x = np.arange(WIDTH) * 255 // (WIDTH - 1)
    return Image.fromarray(np.stack([x, x[::-1], np.full_like(x, 90)], -1)[None].astype(np.uint8))


def measure(way: str) -> None:
    """In this process: load the strip one way; print the peak growth (MiB) and the output as JSON."""
    import numpy as np
    from torchvision.transforms import functional as TF

    from unibind.modalities import ImageSpec

    spec = ImageSpec(224)
    spec.load(np.zeros((300, 300, 3), np.uint8))  # imports and first-call allocations
    image = strip()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if way == "imagespec":
        tensor = spec.load(image)
    else:
        resized = TF.resize(image, 224, interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
        tensor = TF.to_tensor(TF.center_crop(resized, [224, 224]))
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"mib": growth, "pixels": tensor[:, 112, ::16].mul(255).round().tolist()}))


def run(way: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--measure", way], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the same single measurement (it is quick already)")
    parser.add_argument("--measure", choices=["imagespec", "whole"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return
    ours, whole = run("imagespec"), run("whole")
    difference = max(
        abs(a - b)
        for row_a, row_b in zip(ours["pixels"], whole["pixels"], strict=True)
        for a, b in zip(row_a, row_b, strict=True)
    )
    print(f"peak growth: ImageSpec {ours['mib']:.1f} MiB, whole resize {whole['mib']:.1f} MiB; max difference "
          f"{difference:.0f}/255 on the sampled pixels")  # fmt: skip
    report(
        "image_strip_memory",
        whole["mib"] / max(ours["mib"], 0.25),  # ru_maxrss has page granularity: floor the denominator
        100,
        "torchvision Resize(224) + CenterCrop(224) of the same 1 x 4000 px image, in a fresh process",
        imagespec_mib=round(ours["mib"], 2),
        whole_resize_mib=round(whole["mib"], 1),
        max_difference=difference,
    )


if __name__ == "__main__":
    main()
