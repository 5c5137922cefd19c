"""Commands: parsers added by their words, nested under a group's command, tagged with their key."""

import argparse

import pytest

from unibind.cli.registry import Commands


def demo_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="demo")
    commands = Commands(parser.add_subparsers(metavar="COMMAND"))
    commands.group("data", "DATA_COMMAND", help="data sets")
    commands.command("data build").add_argument("name")
    commands.command("run").add_argument("--fast", action="store_true")
    commands.group("eval", "BENCHMARK", dest="benchmark")
    commands.command("eval xtd")
    return parser


def test_parsed_arguments_carry_the_command_key() -> None:
    parser = demo_parser()
    assert parser.parse_args(["data", "build", "emoji"]) == argparse.Namespace(command_key="data build", name="emoji")
    assert parser.parse_args(["run", "--fast"]) == argparse.Namespace(command_key="run", fast=True)
    assert parser.parse_args(["eval", "xtd"]) == argparse.Namespace(benchmark="xtd", command_key="eval xtd")


def test_a_group_needs_one_of_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        demo_parser().parse_args(["data"])
    assert exited.value.code == 2
    assert "the following arguments are required: DATA_COMMAND" in capsys.readouterr().err


def test_a_command_under_an_unknown_group_is_refused() -> None:
    commands = Commands(argparse.ArgumentParser().add_subparsers())
    with pytest.raises(KeyError):
        commands.command("nothing build")
