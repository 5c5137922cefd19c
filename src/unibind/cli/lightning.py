"""``unibind fit / validate / test / predict``: LightningCLI, which parses its own arguments."""

from __future__ import annotations

import argparse

from unibind.cli.registry import Commands, Handler

COMMANDS = ("fit", "validate", "test", "predict")


def add_parsers(commands: Commands) -> None:
    """List the Lightning commands (their arguments are LightningCLI's, so no parser reads them)."""
    for name in COMMANDS:
        commands.command(name, help=f"Lightning {name} (LightningCLI; see 'unibind {name} --help')", add_help=False)


def lightning_arguments(argv: list[str], from_command_line: bool) -> argparse.Namespace:
    """The arguments of a Lightning command, unparsed: LightningCLI reads ``argv`` (from the shell: ``sys.argv``
    itself, since it warns when given both)."""
    return argparse.Namespace(command_key=argv[0], argv=None if from_command_line else argv)


def run_lightning(args: argparse.Namespace) -> int:
    """Run LightningCLI; a bad input named by its file (e.g. a ``--ckpt_path`` that is no checkpoint) exits."""
    from unibind.modalities import InputError
    from unibind.training.cli import run_lightning_cli

    try:
        run_lightning_cli(args.argv)
    except InputError as err:
        raise SystemExit(f"unibind {args.command_key}: {err}") from None
    return 0


HANDLERS: dict[str, Handler] = dict.fromkeys(COMMANDS, run_lightning)
