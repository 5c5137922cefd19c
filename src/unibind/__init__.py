"""unibind: one embedding space for text, image, audio, human motion and graphs."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

__version__ = metadata.version("unibind")

__all__ = ["Modality", "UnifiedEmbedder", "__version__"]

if TYPE_CHECKING:
    from unibind.embedder import UnifiedEmbedder
    from unibind.modalities import Modality


def __getattr__(name: str) -> Any:
    # imported lazily so that `unibind data ...` and `import unibind.datasets` stay quick
    if name == "UnifiedEmbedder":
        from unibind.embedder import UnifiedEmbedder

        return UnifiedEmbedder
    if name == "Modality":
        from unibind.modalities import Modality

        return Modality
    raise AttributeError(f"module 'unibind' has no attribute {name!r}")
