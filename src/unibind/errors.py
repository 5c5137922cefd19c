"""The error every input check raises, and how its messages name the input."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class InputError(ValueError):
    """A raw input was rejected; the message names the offending item (file, row or field)."""


def item_name(raw: Any, item: str | None) -> str:
    """How errors name an input: ``item`` when given, else the path when ``raw`` is one, else ``input``."""
    if item is not None:
        return item
    if isinstance(raw, str | Path) and not (isinstance(raw, str) and "\n" in raw) and len(str(raw)) < 1000:
        return str(raw)
    return "input"
