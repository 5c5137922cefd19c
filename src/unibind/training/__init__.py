"""Lightning training: the module, the data module, callbacks and the CLI."""

from unibind.training.callbacks import SaveEmbedder
from unibind.training.datamodule import ManifestDataModule
from unibind.training.module import UnibindModule, modality_pairs, paired_rows

__all__ = ["ManifestDataModule", "SaveEmbedder", "UnibindModule", "modality_pairs", "paired_rows"]
