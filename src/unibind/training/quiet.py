"""A Lightning fit for in-process jobs (quickstart, graph tower, E2Rank): any accelerator (``auto`` picks a GPU
where there is one), no logger or checkpoints, no start-up banner, and only the warnings that do not apply to
these jobs silenced."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L

# notices that do not apply to in-process CPU jobs with whole-batch or in-memory datasets
IGNORED = (
    r".*does not have many workers.*",  # in-memory tensors: workers would only add start-up cost
    r"Your `IterableDataset` has `__len__` defined",  # single-process iterable of whole batches
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning 2.6 calls a deprecated torch API
)


def quiet_fit(
    module: L.LightningModule,
    max_epochs: int,
    progress: bool = True,
    ignore: tuple[str, ...] = (),
    accelerator: str = "auto",
    **fit: Any,
):
    """Fit ``module`` (``fit`` holds ``train_dataloaders`` / ``val_dataloaders``); returns the trainer.

    ``ignore``: further warning messages (regular expressions) the caller expects on purpose.
    ``accelerator``: Lightning's accelerator (``auto``, ``cpu``, ``gpu``, ...); ``UNIBIND_ACCELERATOR`` overrides
    the default.
    """
    validation = "val_dataloaders" in fit
    with lightning_notices_off():  # the banner would repeat for every fit
        trainer = L.Trainer(
            accelerator=os.environ.get("UNIBIND_ACCELERATOR", accelerator),
            devices=1,
            max_epochs=max_epochs,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=progress,
            log_every_n_steps=1,
            check_val_every_n_epoch=max(1, max_epochs // 4) if validation else 1,
            num_sanity_val_steps=0,
        )
        with warnings.catch_warnings():
            for message in IGNORED + tuple(ignore):
                warnings.filterwarnings("ignore", message=message)
            trainer.fit(module, **fit)
    return trainer


@contextmanager
def lightning_notices_off() -> Iterator[None]:
    """Lightning's info lines (accelerator banner, model summary notices) off for the block, since they would
    repeat for every in-process fit; the logger's own level is restored after."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
