"""Lightning training throughput on experiments/tiny.yaml vs a plain PyTorch loop over the same model and data.

ratio = Lightning samples/s / plain-loop samples/s (goal 0.9). Both sides start from the same weights,
read the same DataLoader, run the same loss (``UnibindModule.compute_losses``) and the same AdamW
settings; Lightning runs with logging to its callback metrics as configured, without validation,
checkpoints or a progress bar. Rounds alternate between the two to spread machine noise.

    .venv/bin/python benchmarks/training_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from _common import report

from unibind.training.cli import run_lightning_cli

REPO = Path(__file__).resolve().parents[1]


def plain_loop(module, loader, epochs: int) -> float:
    """Samples/s of a hand-written loop: forward, summed losses, backward, AdamW step."""
    optimizer = module.configure_optimizers()
    module.train()
    samples, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            losses, _, _ = module.compute_losses(batch)
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            samples += len(batch["ids"])
    return samples / (time.perf_counter() - start)


def lightning_fit(module, datamodule, epochs: int) -> float:
    """Samples/s of ``Trainer.fit`` over the same loader."""
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    loader = datamodule.train_dataloader()
    samples = epochs * sum(1 for _ in loader.batch_sampler) * loader.batch_size
    start = time.perf_counter()
    trainer.fit(module, train_dataloaders=loader)
    return samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (under a minute)")
    parser.add_argument("--config", default=str(REPO / "experiments" / "tiny.yaml"))
    args = parser.parse_args()
    os.chdir(REPO)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    rounds, epochs = (3, 2) if args.quick else (5, 4)
    cli = run_lightning_cli(["--config", args.config], run=False)
    cli.datamodule.setup("fit")
    template = cli.model
    loader = cli.datamodule.train_dataloader()
    plain_loop(copy.deepcopy(template), loader, 1)  # warm-up: allocator, thread pools, file cache
    plain_sps, lightning_sps = [], []
    for _ in range(rounds):
        plain_sps.append(plain_loop(copy.deepcopy(template), loader, epochs))
        lightning_sps.append(lightning_fit(copy.deepcopy(template), cli.datamodule, epochs))
    plain, lightning = statistics.median(plain_sps), statistics.median(lightning_sps)
    threads = torch.get_num_threads()
    print(f"plain loop {plain:.1f} samples/s, Lightning {lightning:.1f} samples/s ({threads} threads)")
    report(
        "training_throughput",
        lightning / plain,
        0.9,
        "plain PyTorch loop over the same model, data and optimizer, same process",
        plain_samples_per_s=round(plain, 1),
        lightning_samples_per_s=round(lightning, 1),
        config=os.path.relpath(args.config, REPO),
    )


if __name__ == "__main__":
    main()
