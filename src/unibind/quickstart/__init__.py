"""The quickstart: a real multilingual image-text corpus, frozen pretrained towers, trained alignment.

``run_quickstart`` is imported on first use, so loading the ``unibind quickstart`` command
(:mod:`unibind.quickstart.command`) for ``unibind --help`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unibind.quickstart.run import run_quickstart

__all__ = ["run_quickstart"]


def __getattr__(name: str) -> Any:
    if name == "run_quickstart":
        from unibind.quickstart.run import run_quickstart

        return run_quickstart
    raise AttributeError(f"module 'unibind.quickstart' has no attribute {name!r}")
