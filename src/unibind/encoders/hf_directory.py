"""Shared persistence of encoders built from a Hugging Face model directory."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

from unibind.encoders.base import Encoder


class HFDirectoryEncoder(Encoder):
    """An encoder whose ``model_name_or_path`` names a transformers directory (or hub id).

    When saved, its preprocessor (tokenizer or feature extractor) and model config go to the assets
    folder, and it is rebuilt from them with ``load_weights=False``; the weights come from the
    embedder's safetensors. Subclasses provide ``preprocessor`` and ``model``.
    """

    model: Any

    @property
    @abstractmethod
    def preprocessor(self) -> Any:
        """The tokenizer or feature extractor saved beside the config."""

    def rebuild_args(self, assets_dir: Path) -> dict[str, Any]:
        assets_dir.mkdir(parents=True, exist_ok=True)
        self.preprocessor.save_pretrained(assets_dir)
        self.model.config.save_pretrained(assets_dir)
        return {**self.init_args, "model_name_or_path": ".", "load_weights": False}

    @classmethod
    def from_rebuild_args(cls, args: dict[str, Any], assets_dir: Path) -> Encoder:
        """Rebuild from the assets folder; a saved path that leaves it (``..``, absolute) is refused."""
        source = (assets_dir / str(args.get("model_name_or_path", "."))).resolve()
        if not source.is_relative_to(assets_dir.resolve()):
            raise ValueError(f"{assets_dir}: model_name_or_path {args.get('model_name_or_path')!r} leaves the assets")
        return cls(**{**args, "model_name_or_path": str(source)})
