"""Text: inline strings; tokenisation belongs to each text encoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unibind.modalities.base import InputError, Modality, ModalitySpec


class TextSpec(ModalitySpec):
    """Checks that a text is a non-empty string and normalises its whitespace.

    Args:
        max_chars: refuse texts longer than this many characters (``None``: no limit).
    """

    modality = Modality.TEXT

    def __init__(self, max_chars: int | None = None) -> None:
        self.max_chars = max_chars

    def load(self, raw: Any, *, item: str = "input") -> str:
        if not isinstance(raw, str):
            raise InputError(f"{item}: text must be a string, got {type(raw).__name__}")
        text = " ".join(raw.split())
        if not text:
            raise InputError(f"{item}: text is empty")
        if self.max_chars is not None and len(text) > self.max_chars:
            raise InputError(f"{item}: text has {len(text)} characters, more than max_chars={self.max_chars}")
        return text

    def collate(self, samples: Sequence[str]) -> list[str]:
        return list(samples)

    def dummy_batch(self, n: int) -> list[str]:
        words = ["red", "green", "blue", "circle", "square", "small", "large", "photo"]
        return [f"a {words[i % 3]} {words[3 + i % 2]} number {i}" for i in range(n)]

    def __repr__(self) -> str:
        return f"TextSpec(max_chars={self.max_chars})"
