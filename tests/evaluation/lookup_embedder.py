"""A stand-in model for the benchmark tests: texts and images (by file name) map to given vectors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch


class LookupEmbedder:
    """``texts[text]`` / ``images[file name]`` -> vector, L2-normalised like a real model's output."""

    def __init__(self, texts: dict[str, Sequence[float]], images: dict[str, Sequence[float]]) -> None:
        self.texts = {k: torch.tensor(v, dtype=torch.float) for k, v in texts.items()}
        self.images = {k: torch.tensor(v, dtype=torch.float) for k, v in images.items()}
        self.calls: list[tuple[str, int]] = []

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        self.calls.append(("text", len(texts)))
        return torch.nn.functional.normalize(torch.stack([self.texts[t] for t in texts]), dim=-1)

    def embed_images(self, paths: Sequence[Path], items: Sequence[str] | None = None) -> torch.Tensor:
        self.calls.append(("image", len(paths)))
        return torch.nn.functional.normalize(torch.stack([self.images[Path(p).name] for p in paths]), dim=-1)
