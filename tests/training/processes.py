"""Running ``unibind fit`` as a real process, with the probe callbacks of ``helpers/`` importable by class path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).resolve().parent / "helpers"


def fit(config: Path, *extra: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m unibind.cli fit --config CONFIG EXTRA...`` from the repository; a hang fails after ``timeout``."""
    env = {**os.environ, "PYTHONPATH": str(HELPERS)}
    command = [sys.executable, "-m", "unibind.cli", "fit", "--config", str(config), *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
