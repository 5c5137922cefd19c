"""The command table: every command ``--help`` lists has a handler, and ``main`` runs commands through it."""

import argparse
from types import SimpleNamespace

import pytest

import unibind.cli
from unibind.cli import build_parser, command_groups, handler_table, main
from unibind.cli.registry import Commands


def listed_commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> set[str]:
    """The runnable commands under ``parser`` by their words: the subcommands its help lists, recursively."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                found |= listed_commands(subparser, (*words, name)) or {" ".join((*words, name))}
    return found


def test_every_listed_command_has_a_handler_and_every_handler_a_command() -> None:
    groups = command_groups()
    commands = listed_commands(build_parser(groups))
    assert commands == set(handler_table(groups))
    assert {"fit", "quickstart", "data build", "data export-xtd", "eval compare", "export onnx"} <= commands


def test_the_help_of_each_command_lists_its_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    commands = listed_commands(build_parser())
    for prefix in ["", *sorted({command.split()[0] for command in commands if " " in command})]:
        with pytest.raises(SystemExit):
            main([*prefix.split(), "--help"])
        shown = capsys.readouterr().out
        for command in commands:
            words = command.split()
            if words[:-1] == prefix.split():
                assert f"    {words[-1]}" in shown, (prefix, command)


def test_main_runs_the_handler_of_a_plugged_in_group(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def add_parsers(commands: Commands) -> None:
        commands.command("hello").add_argument("--name", default="world")
        commands.command("data hello")

    def hello(args: argparse.Namespace) -> int:
        calls.append((args.command_key, getattr(args, "name", None), args.argv))
        return 7

    plugin = SimpleNamespace(add_parsers=add_parsers, HANDLERS={"hello": hello, "data hello": hello})

    def entry_points(group: str) -> list[SimpleNamespace]:
        assert group == "unibind.commands"
        return [SimpleNamespace(load=lambda: plugin)]

    monkeypatch.setattr(unibind.cli, "entry_points", entry_points)
    assert main(["hello", "--name", "you"]) == 7
    assert main(["data", "hello"]) == 7
    assert calls == [("hello", "you", ["hello", "--name", "you"]), ("data hello", None, ["data", "hello"])]
    with pytest.raises(SystemExit):
        main(["quickstart"])  # the quickstart's entry point is not among them now
