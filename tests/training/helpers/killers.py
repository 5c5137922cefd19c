"""Callbacks that SIGKILL their own training process at a chosen moment (loaded by class_path in the tests)."""

from __future__ import annotations

import os
import signal

import lightning as L

from unibind.training import ResumableCheckpoint


class KillAtStep(L.Callback):
    """SIGKILL the process when batch ``step`` is about to be trained (after the checkpoints of ``step - 1``)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class KillBeforeLastLink(ResumableCheckpoint):
    """A checkpoint callback that SIGKILLs the process at step ``step`` after writing the step checkpoint and
    before ``last.ckpt`` moves to it (so ``last.ckpt`` points at the previous, already deleted file)."""

    def __init__(self, step: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.step = step

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)
        super()._save_last_checkpoint(trainer, monitor_candidates)


class TraceSteps(L.Callback):
    """Appends one JSON line per training batch to ``path``: step, a digest of the batch's ids, of the global torch
    random state before the step, and the learning rate."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        import hashlib
        import json

        import torch

        record = {
            "step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "ids": hashlib.sha256("|".join(batch["ids"]).encode()).hexdigest()[:12],
            "rng": hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()[:12],
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
        }
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
