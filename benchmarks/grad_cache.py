"""GradCache vs the whole batch at once: peak activation memory and step time, same model, data and batch.

ratio = peak memory of a whole-batch step / peak memory of a GradCache step with 8 sub-batches (goal 4).
"Peak memory" is the step's growth of the process's peak resident set: ``ru_maxrss`` after one training step
minus the resident set just before it, with the model, optimizer state and batch already in memory, each
variant in a fresh process (the peak cannot be reset within one). With ``--device cuda`` it is the growth of
``torch.cuda.max_memory_allocated`` over the step instead. Time: median seconds per step over a few
steps after the measured one, the two variants run alternately; GradCache pays one extra forward pass.

Model: an open_clip ViT (64 px, patch 8, width 256, 4 layers) and text transformer (width 256, 4 layers)
aligned by a 4-expert MoE, multi-positive InfoNCE, AdamW; data: the coloured-shapes corpus at 64 px.

    .venv/bin/python benchmarks/grad_cache.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import report

CLIP_CFG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 64, "patch_size": 8, "width": 256, "layers": 4, "head_width": 64},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 256, "heads": 4, "layers": 4},
}


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize()


def build_training(chunk: int | None, device: str) -> tuple[Any, Any]:
    """The module (GradCache with sub-batches of ``chunk``, or the whole batch at once when None) and its
    AdamW optimizer, seed 0, on ``device``."""
    import torch

    from unibind.alignment import MoEAligner
    from unibind.embedder import UnifiedEmbedder
    from unibind.encoders import OpenClipImageEncoder, OpenClipTextEncoder
    from unibind.objectives import MultiPositiveInfoNCELoss
    from unibind.training import UnibindModule

    torch.manual_seed(0)
    encoders = {"image": OpenClipImageEncoder(model_cfg=CLIP_CFG), "text": OpenClipTextEncoder(model_cfg=CLIP_CFG)}
    embedder = UnifiedEmbedder(encoders, 128, MoEAligner(128, num_experts=4, top_k=2, modalities=["image", "text"]))
    module = UnibindModule(embedder, objective=MultiPositiveInfoNCELoss(), grad_cache_chunk=chunk).train().to(device)
    return module, torch.optim.AdamW(module.parameters(), lr=1e-4)


def load_batch(corpus: str, batch_size: int, device: str) -> dict[str, Any]:
    """``batch_size`` items of the shapes corpus (repeated as needed), collated onto ``device``."""
    from lightning.fabric.utilities.apply_func import move_data_to_device

    from unibind.datasets import ManifestDataset
    from unibind.modalities import ImageSpec, TextSpec

    dataset = ManifestDataset(Path(corpus) / "train.jsonl", {"image": ImageSpec(64), "text": TextSpec()})
    return move_data_to_device(dataset.collate([dataset[i % len(dataset)] for i in range(batch_size)]), device)


def step_peak_bytes(train_step: Callable[[], None], device: str) -> int:
    """How much one call of ``train_step`` raises the peak: CUDA memory allocated, else the resident set."""
    import torch

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        train_step()
        return torch.cuda.max_memory_allocated() - before
    before = resident_bytes()
    train_step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before


def child(batch_size: int, chunk: int | None, steps: int, corpus: str, device: str) -> None:
    """One variant in this process: print ``{"peak_bytes", "seconds"}``."""
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    module, optimizer = build_training(chunk, device)
    batch = load_batch(corpus, batch_size, device)
    for param in module.parameters():  # optimizer state and gradients resident before the measured step
        param.grad = torch.zeros_like(param)
    optimizer.step()

    def train_step() -> None:
        loss = module.training_step(batch, 0)
        if chunk is None:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()

    peak = step_peak_bytes(train_step, device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train_step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"peak_bytes": peak, "seconds": statistics.median(times)}))


def run_child(batch_size: int, chunk: int | None, steps: int, corpus: str, device: str) -> dict:
    command = [sys.executable, __file__, "--child", "--batch", str(batch_size), "--steps", str(steps)]
    command += ["--device", device]
    command += ["--corpus", corpus] + (["--chunk", str(chunk)] if chunk else [])
    # a fixed mmap threshold: glibc otherwise raises it after each large free and keeps later activations on its
    # heap, so the resident set would show memory the allocator holds rather than memory the step uses
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batch, one round (under a minute)")
    parser.add_argument("--batch", type=int, default=None, help="items per batch (default 512; --quick 256)")
    parser.add_argument("--sub-batches", type=int, default=8)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chunk", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def measure(batch_size: int, chunk: int, rounds: int, steps: int, device: str) -> dict[str, dict[str, float]]:
    """``{"full" | "cached": {"peak_bytes", "seconds"}}``: medians over ``rounds`` of the whole-batch step and
    the GradCache step with sub-batches of ``chunk``, alternately, each in a fresh process."""
    from unibind.datasets import write_shapes_dataset

    with tempfile.TemporaryDirectory() as corpus:
        write_shapes_dataset(corpus, {"train": 8}, size=64, seed=0)
        full, cached = [], []
        for _ in range(rounds):
            full.append(run_child(batch_size, None, steps, corpus, device))
            cached.append(run_child(batch_size, chunk, steps, corpus, device))
    return {
        name: {key: statistics.median(r[key] for r in runs) for key in ("peak_bytes", "seconds")}
        for name, runs in (("full", full), ("cached", cached))
    }


def main() -> None:
    args = parse_args()
    if args.child:
        child(args.batch, args.chunk, args.steps, args.corpus, args.device)
        return
    batch_size = args.batch or (256 if args.quick else 512)
    rounds, steps = (1, 1) if args.quick else (3, 3)
    chunk = -(-batch_size // args.sub_batches)
    medians = measure(batch_size, chunk, rounds, steps, args.device)
    full_peak, cached_peak = medians["full"]["peak_bytes"], medians["cached"]["peak_bytes"]
    full_time, cached_time = medians["full"]["seconds"], medians["cached"]["seconds"]
    mib = 2**20
    print(
        f"batch {batch_size}: whole batch {full_peak / mib:.0f} MiB, {full_time:.2f} s/step; "
        f"GradCache ({args.sub_batches} sub-batches of {chunk}) {cached_peak / mib:.0f} MiB, {cached_time:.2f} s/step"
    )
    report(
        "grad_cache",
        full_peak / cached_peak,
        4.0,
        "the same step on the whole batch at once, same model, data and optimizer, in a fresh process",
        batch=batch_size,
        sub_batches=args.sub_batches,
        device=args.device,
        full_peak_mib=round(full_peak / mib, 1),
        grad_cache_peak_mib=round(cached_peak / mib, 1),
        time_ratio_grad_cache_over_full=round(cached_time / full_time, 3),
        full_seconds_per_step=round(full_time, 3),
        grad_cache_seconds_per_step=round(cached_time, 3),
    )


if __name__ == "__main__":
    main()
