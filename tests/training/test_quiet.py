"""quiet_fit silences Lightning's banner for its own fit only: the process's logger level is left as it was."""

import logging

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from unibind.training.quiet import quiet_fit


class Regression(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO])
def test_the_lightning_logger_level_is_restored(level: int, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("lightning.pytorch")
    before = logger.level
    logger.setLevel(level)
    try:
        data = DataLoader(TensorDataset(torch.randn(8, 2), torch.randn(8, 1)), batch_size=4)
        caplog.set_level(logging.DEBUG)  # the root logger; Lightning's own keeps ``level``
        L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
        assert any(r.name.startswith("lightning") and r.levelno == logging.INFO for r in caplog.records)  # a banner
        caplog.clear()
        quiet_fit(Regression(), 1, progress=False, accelerator="cpu", train_dataloaders=data)
        assert not [r for r in caplog.records if r.name.startswith("lightning") and r.levelno < logging.WARNING]
        assert logger.level == level
    finally:
        logger.setLevel(before)
