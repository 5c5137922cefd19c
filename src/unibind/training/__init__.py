"""Lightning training: the module, the data module, callbacks and the CLI."""

from unibind.training.callbacks import SaveEmbedder
from unibind.training.datamodule import ManifestDataModule
from unibind.training.module import UnibindModule, modality_pairs, paired_rows
from unibind.training.motion_data import HumanML3DDataModule, MotionTextDataset

__all__ = [
    "HumanML3DDataModule",
    "ManifestDataModule",
    "MotionTextDataset",
    "SaveEmbedder",
    "UnibindModule",
    "modality_pairs",
    "paired_rows",
]
