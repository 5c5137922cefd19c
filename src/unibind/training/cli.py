"""``unibind fit|validate|test``: LightningCLI over ``UnibindModule`` and any data module.

The config's ``data`` names its class: ``unibind.training.ManifestDataModule`` (paired-data manifests) or
``unibind.training.HumanML3DDataModule`` (HumanML3D / KIT-ML text-motion pairs), or a user's own.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from unibind.training.module import UnibindModule


def run_lightning_cli(args: list[str] | None, run: bool = True) -> LightningCLI:
    """Parse ``args`` with LightningCLI.

    ``args=None`` reads ``sys.argv``. With ``run=True`` the arguments start with a subcommand (fit,
    validate, test, predict), which is run; with ``run=False`` the model, data module and trainer are
    only built (``cli.model`` etc.).
    """
    return LightningCLI(
        UnibindModule,
        L.LightningDataModule,
        subclass_mode_data=True,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
        save_config_callback=SaveConfigCallback if run else None,
        auto_configure_optimizers=False,
    )
