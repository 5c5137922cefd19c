"""Lightning training throughput on experiments/tiny.yaml vs a plain PyTorch loop over the same model and data.

ratio = Lightning samples/s / plain-loop samples/s (goal 0.9). Both sides start from the same weights,
read the same loader, run the same loss (``UnibindModule.compute_losses``), gradient clipping, AdamW settings
and learning-rate schedule; Lightning runs with logging to its callback metrics as configured, without
validation, checkpoints or a progress bar. Both are timed over training alone: the plain loop from its first
batch, Lightning from ``on_train_start`` (after the Trainer's one-off setup, which a run of a few seconds would
otherwise be dominated by) to ``on_train_end``. Rounds alternate between the two to spread machine noise.

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


def plain_loop(module, loader, epochs: int, clip: float | None) -> float:
    """Samples/s of a hand-written loop: forward, summed losses, backward, gradient clipping, AdamW and
    learning-rate schedule steps."""
    configured = module.configure_optimizers()
    optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
    scheduler = configured["lr_scheduler"]["scheduler"] if isinstance(configured, dict) else None
    total = epochs * len(loader)
    if scheduler is not None:  # the schedule asks the trainer for its length; a plain loop knows it
        scheduler.lr_lambdas = [module.schedule.lr_lambda(lambda: total)] * len(optimizer.param_groups)
    module.train()
    samples, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            losses, _, _ = module.compute_losses(batch)
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            samples += len(batch["ids"])
    return samples / (time.perf_counter() - start)


class TrainingClock(L.Callback):
    """Wall time from the start of training (after the Trainer's one-off setup) to its end."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.start


def lightning_fit(module, datamodule, epochs: int, clip: float | None) -> float:
    """Samples/s of ``Trainer.fit`` over the same loader, from the start of training to its end: the plain loop's
    timer, too, starts after its optimizer is built."""
    clock = TrainingClock()
    trainer = L.Trainer(
        callbacks=[clock],
        accelerator="cpu",
        max_epochs=epochs,
        gradient_clip_val=clip,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    loader = datamodule.train_dataloader()
    samples = epochs * sum(len(batch) for batch in loader.sampler.batches())
    trainer.fit(module, train_dataloaders=loader)
    return samples / clock.seconds


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
    clip = cli.trainer.gradient_clip_val
    plain_loop(copy.deepcopy(template), loader, 1, clip)  # warm-up: allocator, thread pools, file cache
    plain_sps, lightning_sps = [], []
    for _ in range(rounds):
        plain_sps.append(plain_loop(copy.deepcopy(template), loader, epochs, clip))
        lightning_sps.append(lightning_fit(copy.deepcopy(template), cli.datamodule, epochs, clip))
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
