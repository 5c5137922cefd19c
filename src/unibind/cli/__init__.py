"""The ``unibind`` command: a parser built from the command groups, and the handler table that runs a command.

Each group (a module here, or an ``unibind.commands`` entry point of any installed package) adds its commands'
parsers and maps each command, by its words, to a handler; see :mod:`unibind.cli.registry`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from unibind.cli import lightning
from unibind.cli.logs import configure_logging
from unibind.cli.registry import CommandGroup, Commands, Handler

#: The built-in command groups (modules of this package), in the order ``unibind --help`` lists their commands.
GROUPS = ("lightning", "eval", "export", "index", "search", "serve", "train", "motion", "graph", "data")
#: The entry point group through which other packages add command groups.
ENTRY_POINTS = "unibind.commands"


def command_groups() -> list[CommandGroup]:
    """The built-in groups, then every group an installed package declares under ``unibind.commands``."""
    built_in = [importlib.import_module(f"unibind.cli.{name}") for name in GROUPS]
    return [*built_in, *(entry.load() for entry in entry_points(group=ENTRY_POINTS))]


def build_parser(groups: Sequence[CommandGroup] | None = None) -> argparse.ArgumentParser:
    """The ``unibind`` parser with the commands of ``groups`` (default: :func:`command_groups`)."""
    parser = argparse.ArgumentParser(
        prog="unibind",
        description="Bind text, image, audio, motion and graphs into one embedding space.",
        epilog="fit / validate / test / predict take LightningCLI arguments, e.g. "
        "'unibind fit --config experiments/tiny.yaml' or 'unibind fit --help'.",
    )
    commands = Commands(parser.add_subparsers(metavar="COMMAND"))
    for group in command_groups() if groups is None else groups:
        group.add_parsers(commands)
    return parser


def handler_table(groups: Sequence[CommandGroup]) -> dict[str, Handler]:
    """Command (its words, e.g. ``"data build"``) -> handler, over all ``groups``."""
    return {key: handler for group in groups for key, handler in group.HANDLERS.items()}


def main(argv: list[str] | None = None) -> int:
    """Run ``unibind ARGV...`` (default: the command line's); returns the exit code, 2 with the help for no command."""
    configure_logging()
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    groups = command_groups()
    parser = build_parser(groups)
    if argv and argv[0] in lightning.COMMANDS:
        args = lightning.lightning_arguments(argv, from_command_line)
    else:
        args = parser.parse_args(argv)
        args.argv = argv  # eval's result manifests record the command as typed
    handler = handler_table(groups).get(getattr(args, "command_key", None))
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)
