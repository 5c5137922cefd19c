"""Projection heads and the alignment layer (dense or mixture of experts) of the shared space."""

from unibind.fusion.aligner import Aligner, AlignerOutput, DenseAligner, IdentityAligner
from unibind.fusion.heads import ProjectionHead
from unibind.fusion.moe import GroupedExperts, MoEAligner

__all__ = [
    "Aligner",
    "AlignerOutput",
    "DenseAligner",
    "GroupedExperts",
    "IdentityAligner",
    "MoEAligner",
    "ProjectionHead",
]
