"""Text: inline strings; tokenisation belongs to each text encoder.

Policy: whitespace runs (spaces, tabs, newlines, other Unicode spaces) collapse to one space. Other control
characters (Unicode category ``Cc``: NUL, escape, backspace, C1 controls) are refused with ``InputError``
naming the character and its position, or removed with ``control_chars="strip"``. Format characters such as
the zero-width joiner of emoji sequences are text and kept. Texts longer than ``max_chars`` (default 100,000
characters, far beyond any encoder's context) are refused instead of being tokenised at length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from unibind.errors import InputError
from unibind.modalities.base import Modality, ModalitySpec

DEFAULT_MAX_CHARS = 100_000
ControlChars = Literal["refuse", "strip"]
#: Cc characters that str.split() does not treat as whitespace (whitespace controls collapse like spaces).
CONTROL_CHARACTERS = re.compile(
    "[" + "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if not chr(c).isspace()) + "]"
)


class TextSpec(ModalitySpec):
    """Checks that a text is a string without control characters and normalises its whitespace.

    Args:
        max_chars: refuse texts longer than this many characters (``None``: no limit).
        control_chars: ``refuse`` (default) or ``strip`` control characters other than whitespace.
        allow_empty: accept an empty (or all-whitespace) text as ``""`` instead of refusing it; for corpora
            that hold empty documents (BEIR keeps them), which encoders then embed as the empty string.
    """

    modality = Modality.TEXT

    def __init__(
        self,
        max_chars: int | None = DEFAULT_MAX_CHARS,
        control_chars: ControlChars = "refuse",
        allow_empty: bool = False,
    ) -> None:
        if control_chars not in ("refuse", "strip"):
            raise ValueError(f"control_chars must be 'refuse' or 'strip', got {control_chars!r}")
        if max_chars is not None and max_chars < 1:
            raise ValueError(f"max_chars must be positive or None, got {max_chars}")
        self.max_chars, self.control_chars, self.allow_empty = max_chars, control_chars, allow_empty

    def load(self, raw: Any, *, item: str | None = None) -> str:
        item = item or "input"  # a text is its own content, never a path to name it by
        if not isinstance(raw, str):
            raise InputError(f"{item}: text must be a string, got {type(raw).__name__}")
        control = CONTROL_CHARACTERS.search(raw)
        if control is not None:
            if self.control_chars == "refuse":
                raise InputError(
                    f"{item}: text holds the control character U+{ord(control.group()):04X} at position "
                    f"{control.start()}; expected printable text (TextSpec(control_chars='strip') removes them)"
                )
            raw = CONTROL_CHARACTERS.sub("", raw)
        text = " ".join(raw.split())
        if not text and not self.allow_empty:
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
        return (
            f"TextSpec(max_chars={self.max_chars}, control_chars={self.control_chars!r}, "
            f"allow_empty={self.allow_empty})"
        )
