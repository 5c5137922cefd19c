"""``unibind fit|validate|test|predict``: LightningCLI over ``UnibindModule`` and any data module.

The config's ``data`` names its class: ``unibind.training.ManifestDataModule`` (paired-data manifests) or
``unibind.training.HumanML3DDataModule`` (HumanML3D / KIT-ML text-motion pairs), or a user's own.

``--ckpt_path`` is checked before Lightning reads it (:func:`~unibind.training.checkpoint.check_checkpoint`):
a file path right after parsing (LightningCLI reads the file's hyperparameters next, before the model and data
are built), ``last`` once the checkpoint callbacks have resolved it (it is then passed on as that file).
Lightning then loads it with ``weights_only=True``; ``--weights_only false`` is refused. A refusal is a
:class:`~unibind.weights.WeightsError` naming the file, which ``unibind`` prints as one line.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI, SaveConfigCallback

from unibind.training.checkpoint import check_checkpoint, last_checkpoint
from unibind.training.module import UnibindModule
from unibind.weights import CONVERT_HINT, WeightsError

#: ``--ckpt_path`` values that are not file paths (Lightning resolves them).
CKPT_KEYWORDS = ("last", "best", "hpc", "registry")


def _local_path(ckpt_path: object) -> bool:
    return (
        isinstance(ckpt_path, str)
        and ckpt_path not in CKPT_KEYWORDS
        and not ckpt_path.startswith("registry:")
        and "://" not in ckpt_path
    )


class UnibindCLI(LightningCLI):
    """LightningCLI that checks ``--ckpt_path`` before Lightning unpickles it and loads it weights-only."""

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        config = self.config[subcommand]
        if config.get("weights_only") is False:
            raise WeightsError(
                "--weights_only false: unibind loads checkpoints weights-only and never unpickles arbitrary "
                f"objects. {CONVERT_HINT}"
            )
        ckpt_path = config.get("ckpt_path")
        if _local_path(ckpt_path):
            # before LightningCLI reads the file's hyperparameters, and before the model and the data are built
            check_checkpoint(ckpt_path)

    def _check_resolved_checkpoint(self) -> None:
        config = self.config_init[self.subcommand]
        config["weights_only"] = True
        if config.get("ckpt_path") == "last":
            path = last_checkpoint(self.trainer)
            if path is not None:  # none: Lightning warns and starts afresh
                check_checkpoint(path)
                config["ckpt_path"] = path

    before_fit = before_validate = before_test = before_predict = _check_resolved_checkpoint


def run_lightning_cli(args: list[str] | None, run: bool = True) -> LightningCLI:
    """Parse ``args`` with LightningCLI.

    ``args=None`` reads ``sys.argv``. With ``run=True`` the arguments start with a subcommand (fit,
    validate, test, predict), which is run; with ``run=False`` the model, data module and trainer are
    only built (``cli.model`` etc.).
    """
    return UnibindCLI(
        UnibindModule,
        L.LightningDataModule,
        subclass_mode_data=True,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
        save_config_callback=SaveConfigCallback if run else None,
        auto_configure_optimizers=False,
    )
