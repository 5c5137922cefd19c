"""Training objectives: each returns ``dict[str, Tensor]`` with keys ending in ``_loss``."""

from unibind.objectives.contrastive import (
    ContrastiveObjective,
    InfoNCELoss,
    MultiPositiveInfoNCELoss,
    SigLIPLoss,
    same_group,
)
from unibind.objectives.distributed import gather_no_grad, gather_objects, gather_with_grad
from unibind.objectives.matryoshka import MatryoshkaLoss

__all__ = [
    "ContrastiveObjective",
    "InfoNCELoss",
    "MatryoshkaLoss",
    "MultiPositiveInfoNCELoss",
    "SigLIPLoss",
    "gather_no_grad",
    "gather_objects",
    "gather_with_grad",
    "same_group",
]
