"""``unibind export onnx``: export a saved model to ONNX graphs, validate them against PyTorch, print a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unibind.cli.registry import Commands, Handler


def add_parsers(commands: Commands) -> None:
    """Add ``export onnx``."""
    commands.group("export", "FORMAT", help="export a saved model for other runtimes (ONNX)")
    onnx = commands.command(
        "export onnx", help="one ONNX graph per modality (encoder + head + aligner), validated against PyTorch"
    )
    onnx.add_argument("--model", required=True, help="a saved unibind model folder")
    onnx.add_argument("--out", required=True, help="export folder (graphs, unibind_onnx.json, assets/)")
    onnx.add_argument("--modalities", nargs="+", default=None, help="modalities to export (default: all the model has)")
    onnx.add_argument("--int8", action="store_true", help="also write dynamically quantised <modality>.int8.onnx")
    onnx.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")
    onnx.add_argument(
        "--samples",
        nargs="+",
        default=[],
        help="real inputs to validate on: image / audio / motion (.npy) files, or folders of image and audio files "
        "and .npy motions (default: synthetic inputs)",
    )
    onnx.add_argument("--texts", default=None, help="a text file whose lines are the texts to validate on")
    onnx.add_argument("--tolerance", type=float, default=None, help="largest fp32 |onnx - torch| (default 1e-3)")


def run_onnx(args: argparse.Namespace) -> int:
    """0 when every requested modality exported or was skipped for a stated reason and at least one exported,
    1 otherwise (a mismatch with PyTorch, nothing exportable)."""
    from unibind.cli.onnx_report import collect_samples, format_table
    from unibind.export.onnx import DEFAULT_OPSET, DEFAULT_TOLERANCE, export_onnx
    from unibind.modalities import InputError

    try:
        report = export_onnx(
            args.model,
            args.out,
            modalities=args.modalities,
            int8=args.int8,
            opset=args.opset or DEFAULT_OPSET,
            samples=collect_samples(args.samples, args.texts),
            tolerance=DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (InputError, KeyError, FileNotFoundError) as error:  # a sample that does not load, an unknown modality
        raise SystemExit(f"unibind export onnx: {error}") from None
    print(format_table(report))
    validated = [f"{m}: {part.validated_on}" for m, part in report.modalities.items() if part.validated_on]
    print(f"validated on: {'; '.join(validated) or '-'}")
    print(f"wrote {Path(args.out) / 'unibind_onnx.json'}")
    mismatched = [m for m, part in report.modalities.items() if part.status == "mismatch"]
    return 0 if report.exported and not mismatched else 1


HANDLERS: dict[str, Handler] = {"export onnx": run_onnx}
