"""The ``unibind`` command: LightningCLI subcommands plus unibind's own."""

from __future__ import annotations

import argparse
import sys

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unibind",
        description="Bind text, image, audio, motion and graphs into one embedding space.",
        epilog="fit / validate / test / predict take LightningCLI arguments, e.g. "
        "'unibind fit --config experiments/tiny.yaml' or 'unibind fit --help'.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in LIGHTNING_COMMANDS:
        commands.add_parser(name, help=f"Lightning {name} (LightningCLI; see 'unibind {name} --help')", add_help=False)
    quick = commands.add_parser(
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
    data = commands.add_parser("data", help="build data sets")
    data_commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    build = data_commands.add_parser("build", help="build a corpus from registry packages")
    build.add_argument(
        "name",
        choices=["emoji", "sounds", "mocap"],
        help="emoji: Noto images + CLDR names in the XTD languages; "
        "sounds: GM instrument notes (fluidsynth) + freedesktop event sounds; "
        "mocap: captioned windows of DeepMimic (pybullet) and BVH (assimp-testmodels) clips",
    )
    build.add_argument("--soundfont", default=None, help="sounds: a General MIDI .sf2 (default: the Debian one)")
    build.add_argument("--out", default=None, help="output folder (default: under $UNIBIND_CACHE)")
    build.add_argument("--fixture-every", type=int, default=None, help="write a small fixture of every N-th emoji")
    shapes = data_commands.add_parser("shapes", help="write the coloured-shapes image-text corpus")
    shapes.add_argument("out", help="output folder")
    shapes.add_argument("--train", type=int, default=12, help="training images per concept")
    shapes.add_argument("--val", type=int, default=3, help="validation images per concept")
    shapes.add_argument("--size", type=int, default=32, help="image side in pixels")
    shapes.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from unibind.training.cli import run_lightning_cli

        # from the shell LightningCLI reads sys.argv itself (and warns when given both)
        run_lightning_cli(None if from_command_line else argv)
        return 0
    args = build_parser().parse_args(argv)
    if args.command == "quickstart":
        from unibind.quickstart import run_quickstart

        run_quickstart(
            args.out,
            args.corpus,
            args.epochs,
            progress=not args.no_progress,
            with_speech=not args.no_speech,
            with_sounds=not args.no_sounds,
            with_motion=not args.no_motion,
        )
        return 0
    if args.command == "data" and args.data_command == "build" and args.name == "mocap":
        from unibind.datasets.mocap_corpus import build_mocap_corpus

        try:
            corpus = build_mocap_corpus(args.out)
        except RuntimeError as err:
            raise SystemExit(str(err)) from err
        print(
            f"motion corpus: {corpus.root} (train {len(corpus.rows('train'))}, test {len(corpus.rows('test'))} windows)"
        )
        return 0
    if args.command == "data" and args.data_command == "build" and args.name == "sounds":
        from unibind.datasets.sounds import SoundSourceMissingError, build_sound_corpus

        try:
            corpus = build_sound_corpus(args.out, args.soundfont)
        except SoundSourceMissingError as err:
            raise SystemExit(str(err)) from err
        counts = ", ".join(f"{split} {len(corpus.rows(split))}" for split in ("train", "val", "test"))
        print(f"sound corpus: {corpus.root} ({counts})")
        return 0
    if args.command == "data" and args.data_command == "build":
        from pathlib import Path

        from unibind.datasets.emoji import build_emoji_corpus, build_fixture

        if args.fixture_every:
            if args.out is None:
                raise SystemExit("--fixture-every needs --out")
            corpus = build_fixture(Path(args.out), args.fixture_every).root
        else:
            corpus = build_emoji_corpus(Path(args.out) if args.out else None).root
        print(f"emoji corpus: {corpus}")
        return 0
    if args.command == "data" and args.data_command == "shapes":
        from unibind.datasets import write_shapes_dataset

        manifests = write_shapes_dataset(args.out, {"train": args.train, "val": args.val}, args.size, args.seed)
        for split, path in manifests.items():
            print(f"{split}: {path}")
        return 0
    build_parser().print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
