"""The quickstart: a real multilingual image-text corpus, frozen pretrained towers, trained alignment.

``run_quickstart`` is imported on first use, so loading the ``unibind quickstart`` command
(:mod:`unibind.quickstart.command`) for ``unibind --help`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unibind.lazy import lazy_attributes

if TYPE_CHECKING:
    from unibind.quickstart.run import run_quickstart

__all__ = ["run_quickstart"]

__getattr__ = lazy_attributes(__name__, {"run_quickstart": "unibind.quickstart.run"})
