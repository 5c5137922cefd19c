"""The command line's logging: the ``unibind`` logger's messages as plain lines, info on stdout, warnings on stderr."""

from __future__ import annotations

import logging
import sys
from typing import TextIO


class _StreamAtEmit(logging.StreamHandler):
    """Writes ``%(message)s`` to whatever ``sys.stdout`` or ``sys.stderr`` is when a record arrives (so redirections
    made after :func:`configure_logging`, e.g. by pytest or ``contextlib.redirect_stdout``, are followed)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self) -> TextIO:
        return getattr(sys, self._name)

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is looked up on every write; ``StreamHandler.__init__`` assigning one is ignored."""


def configure_logging() -> None:
    """Show the ``unibind`` logger's records at INFO and above, once per process; records still propagate (so the
    root logger's handlers, such as pytest's ``caplog``, see them too)."""
    logger = logging.getLogger("unibind")
    if any(isinstance(handler, _StreamAtEmit) for handler in logger.handlers):
        return
    info = _StreamAtEmit("stdout")
    info.addFilter(lambda record: record.levelno < logging.WARNING)
    warnings = _StreamAtEmit("stderr")
    warnings.setLevel(logging.WARNING)
    logger.addHandler(info)
    logger.addHandler(warnings)
    logger.setLevel(logging.INFO)
