"""Training objectives: each returns ``dict[str, Tensor]`` with keys ending in ``_loss``."""

from unibind.objectives.contrastive import (
    ContrastiveObjective,
    InfoNCELoss,
    MultiPositiveInfoNCELoss,
    SigLIPLoss,
    same_group,
)
from unibind.objectives.distributed import all_reduce_sum, gather_objects, gather_rows, gather_sizes
from unibind.objectives.matryoshka import MatryoshkaLoss

__all__ = [
    "ContrastiveObjective",
    "InfoNCELoss",
    "MatryoshkaLoss",
    "MultiPositiveInfoNCELoss",
    "SigLIPLoss",
    "all_reduce_sum",
    "gather_objects",
    "gather_rows",
    "gather_sizes",
    "same_group",
]
