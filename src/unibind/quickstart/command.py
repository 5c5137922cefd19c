"""The quickstart's commands, ``unibind quickstart`` and ``unibind data export-xtd``, as an ``unibind.commands``
entry point (the command line itself does not import the quickstart)."""

from __future__ import annotations

import argparse

from unibind.cli.registry import Commands, Handler
from unibind.retrieval.backends import BACKENDS


def add_parsers(commands: Commands) -> None:
    """Add ``quickstart`` and, under ``data``, ``export-xtd``."""
    quick = commands.command(
        "quickstart", help="emoji corpus + frozen towers: train dense and MoE alignment, report recall per language"
    )
    quick.add_argument(
        "--out", default="runs/quickstart", help="output folder (report.md, metrics.json, plots, model/)"
    )
    quick.add_argument("--corpus", default=None, help="use an already built emoji corpus folder")
    quick.add_argument("--epochs", type=int, default=60, help="training epochs per aligner")
    quick.add_argument("--no-progress", action="store_true", help="no progress bars")
    quick.add_argument("--no-speech", action="store_true", help="skip the spoken names (audio)")
    quick.add_argument("--no-sounds", action="store_true", help="skip the labelled instrument and event sounds")
    quick.add_argument("--no-motion", action="store_true", help="skip text <-> motion on real mocap")
    quick.add_argument("--no-graph", action="store_true", help="skip the emoji graph rows")
    quick.add_argument("--index-backend", default="exact", choices=list(BACKENDS), help="the demo index's backend "
                       "(milvus: a Milvus Lite database inside the index folder)")  # fmt: skip
    xtd = commands.command("data export-xtd", help="the emoji corpus's held-out split in the XTD10 layout")
    xtd.add_argument("--out", required=True, help="output folder")
    xtd.add_argument("--split", default="test", choices=["train", "val", "test"])
    xtd.add_argument("--corpus", default=None, help="a built emoji corpus folder (default: build or reuse the cached)")


def quickstart(args: argparse.Namespace) -> int:
    """Run the quickstart (its report says what it did)."""
    from unibind.quickstart.run import run_quickstart

    run_quickstart(
        args.out,
        args.corpus,
        args.epochs,
        progress=not args.no_progress,
        with_speech=not args.no_speech,
        with_sounds=not args.no_sounds,
        with_motion=not args.no_motion,
        with_graph=not args.no_graph,
        index_backend=args.index_backend,
    )
    return 0


def export_xtd(args: argparse.Namespace) -> int:
    """Write a split of the emoji corpus in the XTD10 layout and say where."""
    from pathlib import Path

    from unibind.datasets.emoji import EmojiCorpus
    from unibind.quickstart.xtd_export import export_emoji_xtd

    corpus = EmojiCorpus(Path(args.corpus)) if args.corpus else None
    out = export_emoji_xtd(args.out, corpus, args.split)
    print(f"wrote the {args.split} split in the XTD10 layout: {out}")
    return 0


HANDLERS: dict[str, Handler] = {"quickstart": quickstart, "data export-xtd": export_xtd}
