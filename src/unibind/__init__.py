"""unibind: one embedding space for text, image, audio, human motion and graphs."""

from unibind.embedder import UnifiedEmbedder
from unibind.modalities import Modality

__version__ = "0.1.0"

__all__ = ["Modality", "UnifiedEmbedder", "__version__"]
