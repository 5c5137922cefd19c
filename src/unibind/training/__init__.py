"""Lightning training: the module, the data modules, resumable loading, checkpoints, callbacks and the CLI."""

from unibind.training.callbacks import SaveEmbedder
from unibind.training.checkpoint import ResumableCheckpoint
from unibind.training.datamodule import ManifestDataModule
from unibind.training.loader import EpochBatchSampler, ResumableLoader
from unibind.training.module import UnibindModule
from unibind.training.motion_data import HumanML3DDataModule, MotionTextDataset
from unibind.training.optim import WarmupCosine, split_weight_decay
from unibind.training.pairs import modality_pairs, paired_rows
from unibind.training.prediction import EmbeddingWriter

__all__ = [
    "EmbeddingWriter",
    "EpochBatchSampler",
    "HumanML3DDataModule",
    "ManifestDataModule",
    "MotionTextDataset",
    "ResumableCheckpoint",
    "ResumableLoader",
    "SaveEmbedder",
    "UnibindModule",
    "WarmupCosine",
    "modality_pairs",
    "paired_rows",
    "split_weight_decay",
]
