"""Times training steps in a ``unibind fit`` process (loaded by class path, with ``PYTHONPATH=benchmarks``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L

#: steps left out of the timing (start-up: allocator, thread pools, first-call compilation)
WARMUP_STEPS = 5


class StepClock(L.Callback):
    """Writes to ``out`` (rank 0): the steps and seconds from the start of step ``WARMUP_STEPS`` to the end of
    training, the samples per second over them, and the steps in which this rank lacked a modality."""

    def __init__(self, out: str) -> None:
        self.out, self.start, self.lacking, self.samples = out, 0.0, 0, 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == WARMUP_STEPS:
            self.start = time.perf_counter()
        if trainer.global_step >= WARMUP_STEPS:
            self.samples += len(batch["ids"]) * trainer.world_size
        if len(batch["present"]) < len(pl_module.embedder.modalities):
            self.lacking += 1

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        seconds = time.perf_counter() - self.start
        steps = trainer.global_step - WARMUP_STEPS
        record = {"steps": steps, "seconds": seconds, "samples_per_s": self.samples / seconds, "lacking": self.lacking}
        Path(self.out).write_text(json.dumps(record))
