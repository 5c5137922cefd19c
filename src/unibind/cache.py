"""Where unibind keeps downloaded packages, built corpora and cached features."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$UNIBIND_CACHE``, else ``$XDG_CACHE_HOME/unibind``, else ``~/.cache/unibind``."""
    if os.environ.get("UNIBIND_CACHE"):
        return Path(os.environ["UNIBIND_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "unibind"
