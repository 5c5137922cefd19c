"""The quickstart: a real multilingual image-text corpus, frozen pretrained towers, trained alignment."""

from unibind.quickstart.run import run_quickstart

__all__ = ["run_quickstart"]
