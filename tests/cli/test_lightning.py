"""The Lightning commands pass their arguments to LightningCLI unparsed."""

from unibind.cli.lightning import lightning_arguments


def test_lightning_arguments_are_passed_on_as_given() -> None:
    argv = ["fit", "--config", "a.yaml", "--trainer.max_epochs=1"]
    assert vars(lightning_arguments(argv, from_command_line=False)) == {"command_key": "fit", "argv": argv}
    assert lightning_arguments(argv, from_command_line=True).argv is None  # LightningCLI reads sys.argv itself
