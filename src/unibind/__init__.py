"""unibind: one embedding space for text, image, audio, human motion and graphs."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from unibind.lazy import lazy_attributes

__version__ = metadata.version("unibind")

__all__ = ["Modality", "UnifiedEmbedder", "__version__"]

if TYPE_CHECKING:
    from unibind.embedder import UnifiedEmbedder
    from unibind.modalities import Modality

# imported on first use, so that `unibind data ...` and `import unibind.datasets` stay quick
__getattr__ = lazy_attributes(__name__, {"UnifiedEmbedder": "unibind.embedder", "Modality": "unibind.modalities"})
