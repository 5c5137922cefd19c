"""The quickstart's commands reach ``unibind`` through the ``unibind.commands`` entry point, not an import."""

from importlib.metadata import entry_points
from pathlib import Path

import pytest

import unibind.cli
from unibind.cli import GROUPS, main


def test_the_quickstart_group_is_an_entry_point_not_a_built_in_group() -> None:
    (entry,) = [entry for entry in entry_points(group="unibind.commands") if entry.name == "quickstart"]
    assert entry.value == "unibind.quickstart.command"
    assert set(entry.load().HANDLERS) == {"quickstart", "data export-xtd"}
    assert "quickstart" not in GROUPS
    sources = Path(unibind.cli.__file__).parent.glob("*.py")
    assert [path.name for path in sources if "unibind.quickstart" in path.read_text()] == []  # not even a string


def test_quickstart_flags_reach_run_quickstart(monkeypatch: pytest.MonkeyPatch) -> None:
    import unibind.quickstart.run

    calls = []
    monkeypatch.setattr(unibind.quickstart.run, "run_quickstart", lambda *args, **kwargs: calls.append((args, kwargs)))
    assert main(["quickstart", "--out", "here", "--epochs", "2", "--no-speech", "--index-backend", "faiss-flat"]) == 0
    ((positional, options),) = calls
    assert positional == ("here", None, 2)
    assert options == {
        "progress": True,
        "with_speech": False,
        "with_sounds": True,
        "with_motion": True,
        "with_graph": True,
        "index_backend": "faiss-flat",
    }


def test_data_export_xtd_is_listed_under_data(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["data", "--help"])
    assert "export-xtd  the emoji corpus's held-out split in the XTD10 layout" in capsys.readouterr().out
