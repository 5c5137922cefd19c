"""``--ckpt_path`` is checked before Lightning reads it: a pickle needing arbitrary classes, a truncated file or
something that is not a checkpoint is one line naming the file, nothing in it runs, and the advice to unpickle
(``weights_only=False``) never appears; checkpoints written by ``unibind fit`` still load."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.training.processes import REPO
from tests.training.test_fit import tiny_config

from unibind.cli import main
from unibind.training.cli import run_lightning_cli


class Payload:
    """Unpickling this runs ``os.system``: it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def pickles(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A raw pickle and a torch.save zip file, each running a payload when unpickled, and their marker."""
    marker = tmp_path / "payload-ran"
    raw, zipped = tmp_path / "raw.ckpt", tmp_path / "zipped.ckpt"
    raw.write_bytes(pickle.dumps({"state_dict": Payload(marker)}, protocol=2))
    torch.save({"state_dict": {"w": torch.zeros(2)}, "pytorch-lightning_version": "2.6", "x": Payload(marker)}, zipped)
    return raw, zipped, marker


def test_a_pickle_checkpoint_is_refused_in_one_line_without_running(tmp_path: Path, shapes_dir: Path) -> None:
    raw, zipped, marker = pickles(tmp_path)
    config = tiny_config(tmp_path, shapes_dir)
    for path in (raw, zipped):
        command = [sys.executable, "-m", "unibind.cli", "fit", "--config", str(config), "--ckpt_path", str(path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert f"{path} is not a weights-only torch checkpoint" in output
        assert "unsupported global" in output.lower()  # the class it would not load
        assert "weights_only=False" not in output
        assert "weights_only` set to `False" not in output
        assert "Traceback" not in output
        assert not marker.exists()


def write_bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "pytorch-lightning_version": "2.6.0"}, good)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[:600])
    text = tmp_path / "notes.ckpt"
    text.write_text("hello, not a checkpoint\n")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    weights = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(3)}, weights)
    return {
        "truncated": (truncated, ": cannot be read as a torch checkpoint, truncated? (RuntimeError: "),
        "text": (text, ": not a torch checkpoint (not torch's format"),
        "empty": (empty, ": not a torch checkpoint (the file is empty)"),
        "state-dict": (weights, "is a torch file but not a Lightning checkpoint"),
        "missing": (tmp_path / "nowhere.ckpt", "checkpoint not found"),
    }


@pytest.mark.parametrize("case", ["truncated", "text", "empty", "state-dict", "missing"])
def test_bad_checkpoint_files_are_named(tmp_path: Path, shapes_dir: Path, case: str) -> None:
    path, message = write_bad_files(tmp_path)[case]
    config = str(tiny_config(tmp_path, shapes_dir))
    for command in ("fit", "validate"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--config", config, "--ckpt_path", str(path)])
        printed = str(exit_info.value.code)
        assert printed.startswith(f"unibind {command}: {path}")
        assert message in printed
        assert "\n" not in printed


def test_last_is_checked_after_it_is_resolved(tmp_path: Path, shapes_dir: Path) -> None:
    raw, _, marker = pickles(tmp_path)
    config = str(tiny_config(tmp_path, shapes_dir))
    newest = tmp_path / "checkpoints" / "epoch=9-step=99.ckpt"
    newest.parent.mkdir()
    newest.write_bytes(raw.read_bytes())
    with pytest.raises(SystemExit, match=r"unibind fit: .*epoch=9-step=99.ckpt is not a weights-only torch checkpoint"):
        main(["fit", "--config", config, "--ckpt_path", "last"])
    assert not marker.exists()


def test_weights_only_false_is_refused(tmp_path: Path, shapes_dir: Path) -> None:
    config = str(tiny_config(tmp_path, shapes_dir))
    with pytest.raises(SystemExit, match=r"--weights_only false: unibind loads checkpoints weights-only"):
        main(["fit", "--config", config, "--ckpt_path", "last", "--weights_only", "false"])


def test_a_checkpoint_written_by_fit_loads(tmp_path: Path, shapes_dir: Path) -> None:
    config = str(tiny_config(tmp_path, shapes_dir, max_epochs=1))
    assert main(["fit", "--config", config]) == 0
    written = sorted((tmp_path / "checkpoints").glob("*.ckpt"))
    assert written
    assert main(["validate", "--config", config, "--ckpt_path", str(written[-1])]) == 0
    cli = run_lightning_cli(["fit", "--config", config, "--ckpt_path", "last", "--trainer.max_epochs", "2"])
    newest = max(written, key=lambda p: p.stat().st_mtime_ns)
    assert Path(cli.trainer.ckpt_path).resolve() == newest.resolve()  # last, resolved as Lightning resolves it
    assert cli.config_init["fit"]["weights_only"] is True
    assert cli.trainer.current_epoch == 2
