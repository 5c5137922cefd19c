"""Callbacks that the training tests load by ``class_path`` into real ``unibind fit`` processes: they kill the
process at a chosen moment, or record what each rank saw and computed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import lightning as L
import torch

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
        record = {
            "step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "ids": hashlib.sha256("|".join(batch["ids"]).encode()).hexdigest()[:12],
            "rng": hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()[:12],
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
        }
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")


class RecordSteps(L.Callback):
    """Per rank, one JSON line per training step in ``{folder}/rank{r}.jsonl``: the items and the rows of each
    modality in the batch and the gradient size of every encoder (after DDP averaged them); the gradients and the
    loss of the first step also go to ``{folder}/step0-rank{r}.pt``."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.record: dict = {}
        self.grads: dict[str, torch.Tensor] = {}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        rows = {m: len(positions) for m, positions in batch["present"].items()}
        self.record = {"step": trainer.global_step, "items": len(batch["ids"]), "rows": rows}

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        encoders = pl_module.embedder.encoders
        self.record["encoder_grad"] = {
            m: sum(float(p.grad.abs().sum()) for p in encoders[m].parameters() if p.grad is not None) for m in encoders
        }
        if trainer.global_step == 0:
            self.grads = {n: p.grad.detach().clone() for n, p in pl_module.named_parameters() if p.grad is not None}

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"rank{trainer.global_rank}.jsonl", "a") as handle:
            handle.write(json.dumps(self.record) + "\n")
        if trainer.global_step == 1:
            step0 = {"grads": self.grads, "loss": outputs["loss"].detach()}
            torch.save(step0, self.folder / f"step0-rank{trainer.global_rank}.pt")
