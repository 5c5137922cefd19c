from pathlib import Path

import pytest

from unibind.cli import main


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("fit", "validate", "test", "quickstart", "data"):
        assert command in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: unibind" in capsys.readouterr().out


def test_data_shapes_writes_manifests(tmp_path: Path) -> None:
    assert main(["data", "shapes", str(tmp_path), "--train", "1", "--val", "1", "--size", "16"]) == 0
    assert len((tmp_path / "train.jsonl").read_text().splitlines()) == 16
    assert len(list((tmp_path / "images").glob("*.png"))) == 32


def test_building_the_parser_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, unibind.cli; unibind.cli.build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
