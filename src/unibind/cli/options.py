"""Arguments that several command groups share."""

from __future__ import annotations

import argparse

from unibind.runtimes import RUNTIMES

_RUNTIME_HELP = "torch: a saved model folder; onnx / onnx-int8: a folder written by `unibind export onnx`"


def add_runtime(parser: argparse.ArgumentParser) -> None:
    """``--runtime``: which runtime loads ``--model``."""
    parser.add_argument("--runtime", default="torch", choices=RUNTIMES, help=_RUNTIME_HELP)
