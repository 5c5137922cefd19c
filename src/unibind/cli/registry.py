"""The command table's parts: the tree of subcommand parsers and the interface every command group provides."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any, Protocol

#: A command's handler: its parsed arguments in, the exit code out.
Handler = Callable[[argparse.Namespace], int]


class CommandGroup(Protocol):
    """What a command group is (a module of :mod:`unibind.cli` or an ``unibind.commands`` entry point).

    ``add_parsers`` adds the group's commands to the tree; ``HANDLERS`` maps each command it added, by its words
    (``"search"``, ``"data build"``), to its handler.
    """

    HANDLERS: Mapping[str, Handler]

    def add_parsers(self, commands: Commands) -> None:
        """Add the group's commands to ``commands``."""


class Commands:
    """The ``unibind`` subcommands being built, by their words: ``"eval"`` holds ``"eval xtd"``, and so on.

    A group may add a command under another group's command (``"data export-xtd"`` under ``"data"``).
    """

    def __init__(self, top: argparse._SubParsersAction) -> None:
        self._subcommands: dict[str, argparse._SubParsersAction] = {"": top}

    def command(self, key: str, **options: Any) -> argparse.ArgumentParser:
        """Add the parser of command ``key``; its parsed arguments carry ``key`` as ``command_key``."""
        parser = self._add_parser(key, options)
        parser.set_defaults(command_key=key)
        return parser

    def group(self, key: str, metavar: str, dest: str = argparse.SUPPRESS, **options: Any) -> argparse.ArgumentParser:
        """Add command ``key`` whose own subcommands (one of them required) are added as ``"KEY NAME"``."""
        parser = self._add_parser(key, options)
        self._subcommands[key] = parser.add_subparsers(dest=dest, metavar=metavar, required=True)
        return parser

    def _add_parser(self, key: str, options: dict[str, Any]) -> argparse.ArgumentParser:
        parent, _, name = key.rpartition(" ")
        return self._subcommands[parent].add_parser(name, **options)
