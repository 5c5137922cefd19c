"""Callbacks: save the trained embedder in unibind's own format."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L

log = logging.getLogger(__name__)


class SaveEmbedder(L.Callback):
    """At the end of ``fit``, write ``module.embedder.save_pretrained(dirpath)`` (rank 0 only)."""

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            pl_module.embedder.save_pretrained(self.dirpath)
            log.info("saved the embedder to %s", self.dirpath)
