"""What keeping every parameter in every rank's graph costs: placeholders vs DDP's find_unused_parameters.

Two 2-process gloo runs of ``experiments/tiny_ddp.yaml`` (image, audio and text towers on the mixed shapes
corpus, small per-rank batches so that a rank often lacks a modality) on the CPU:

- ``placeholder`` (unibind's default): a rank that lacks a modality runs a one-row placeholder through its
  encoder, so every parameter is in the graph and plain DDP applies;
- ``find_unused``: the rank leaves the modality out and DDP (``ddp_find_unused_parameters_true``) walks the
  autograd graph every step to mark the parameters that got no gradient.

ratio = steps/s with placeholders / steps/s with find_unused_parameters (above 1: placeholders are cheaper).
Steps are timed from the 5th to the last, on rank 0; the runs alternate to spread machine noise.

    .venv/bin/python benchmarks/ddp_absent_modalities.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _common import report

REPO = Path(__file__).resolve().parents[1]


def run(mode: str, corpus: Path, folder: Path, steps: int, batch_size: int) -> dict:
    config = yaml.safe_load((REPO / "experiments" / "tiny_ddp.yaml").read_text())
    out = folder / f"{mode}.json"
    config["trainer"].update(
        accelerator="cpu",
        devices=2,
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=str(folder / mode),
        callbacks=[{"class_path": "_clock.StepClock", "init_args": {"out": str(out)}}],
    )
    if mode == "find_unused":
        config["trainer"]["strategy"] = "ddp_find_unused_parameters_true"
        config["model"]["absent_modalities"] = "skip"
    config["data"]["init_args"].update(train=str(corpus / "train.jsonl"), val=None, batch_size=batch_size)
    path = folder / f"{mode}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
    command = [sys.executable, "-m", "unibind.cli", "fit", "--config", str(path)]
    subprocess.run(command, env=env, cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each (under a minute)")
    parser.add_argument("--batch", type=int, default=2, help="items per rank and step")
    args = parser.parse_args()
    rounds, steps = (1, 20) if args.quick else (3, 60)
    from unibind.datasets import write_shapes_dataset

    rates: dict[str, list[float]] = {"placeholder": [], "find_unused": []}
    lacking = {}
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus"
        write_shapes_dataset(corpus, {"train": 12}, size=32, seed=0, sounds=True)
        for _ in range(rounds):
            for mode in rates:
                result = run(mode, corpus, Path(folder), steps, args.batch)
                rates[mode].append(result["steps"] / result["seconds"])
                lacking[mode] = result["lacking"]
    placeholder, find_unused = (statistics.median(rates[m]) for m in ("placeholder", "find_unused"))
    print(
        f"2 gloo ranks, {args.batch} items per rank: placeholders {placeholder:.2f} steps/s, "
        f"find_unused_parameters {find_unused:.2f} steps/s ({lacking['placeholder']} of {steps} steps on rank 0 "
        "lacked a modality)"
    )
    report(
        "ddp_absent_modalities",
        placeholder / find_unused,
        1.0,
        "the same runs with the missing modality left out and DDP's find_unused_parameters=True",
        placeholder_steps_per_s=round(placeholder, 2),
        find_unused_steps_per_s=round(find_unused, 2),
        batch_per_rank=args.batch,
        steps=steps,
        rank0_steps_lacking_a_modality=lacking["placeholder"],
    )


if __name__ == "__main__":
    main()
