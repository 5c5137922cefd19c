"""Projection heads and the alignment layer (dense or mixture of experts) of the shared space."""

from unibind.alignment.aligner import Aligner, AlignerOutput, DenseAligner, IdentityAligner
from unibind.alignment.heads import ProjectionHead
from unibind.alignment.moe import GroupedExperts, MoEAligner

__all__ = [
    "Aligner",
    "AlignerOutput",
    "DenseAligner",
    "GroupedExperts",
    "IdentityAligner",
    "MoEAligner",
    "ProjectionHead",
]
