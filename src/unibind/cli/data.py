"""``unibind data build / shapes / shard``: build data sets."""

from __future__ import annotations

import argparse
from pathlib import Path

from unibind.cli.registry import Commands, Handler

_MODALITIES = ("text", "image", "audio", "motion")


def add_parsers(commands: Commands) -> None:
    """Add ``data build``, ``data shapes`` and ``data shard``."""
    commands.group("data", "DATA_COMMAND", help="build data sets")
    build = commands.command("data build", help="build a corpus from registry packages")
    build.add_argument(
        "name",
        choices=list(_CORPORA),
        help="emoji: Noto images + CLDR names in the XTD languages; "
        "sounds: GM instrument notes (fluidsynth) + freedesktop event sounds; "
        "mocap: captioned windows of DeepMimic (pybullet) and BVH (assimp-testmodels) clips; "
        "wordnet: noun synsets and hypernym edges (wordnet-base) as nodes.jsonl / edges.tsv",
    )
    build.add_argument("--soundfont", default=None, help="sounds: a General MIDI .sf2 (default: the Debian one)")
    build.add_argument("--out", default=None, help="output folder (default: under $UNIBIND_CACHE)")
    build.add_argument("--fixture-every", type=int, default=None, help="write a small fixture of every N-th emoji")
    shapes = commands.command(
        "data shapes", help="write the coloured-shapes image-text corpus (with --sounds: image, audio and text, mixed)"
    )
    shapes.add_argument("out", help="output folder")
    shapes.add_argument("--train", type=int, default=12, help="training images per concept")
    shapes.add_argument("--val", type=int, default=3, help="validation images per concept")
    shapes.add_argument("--size", type=int, default=32, help="image side in pixels")
    shapes.add_argument("--seed", type=int, default=0)
    shapes.add_argument("--sounds", action="store_true", help="add a tone per concept; items carry mixed modalities")
    shard = commands.command(
        "data shard", help="pack a manifest and its files into WebDataset tar shards (to stream from disk or a bucket)"
    )
    shard.add_argument("manifest", help="JSONL/CSV/TSV manifest")
    shard.add_argument("out", help="local output folder (copy it to an object store afterwards)")
    shard.add_argument("--modalities", nargs="+", default=list(_MODALITIES), choices=_MODALITIES,
                       help="modalities to pack (default: all four; graphs cannot be sharded)")  # fmt: skip
    shard.add_argument("--samples-per-shard", type=int, default=1000)
    shard.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    shard.add_argument("--no-progress", action="store_true")


def _emoji(args: argparse.Namespace) -> None:
    from unibind.datasets.emoji import build_emoji_corpus, build_fixture

    if args.fixture_every:
        if args.out is None:
            raise SystemExit("--fixture-every needs --out")
        corpus = build_fixture(Path(args.out), args.fixture_every).root
    else:
        corpus = build_emoji_corpus(Path(args.out) if args.out else None).root
    print(f"emoji corpus: {corpus}")


def _sounds(args: argparse.Namespace) -> None:
    from unibind.datasets.sounds import SoundSourceMissingError, build_sound_corpus

    try:
        corpus = build_sound_corpus(args.out, args.soundfont)
    except SoundSourceMissingError as err:
        raise SystemExit(str(err)) from err
    counts = ", ".join(f"{split} {len(corpus.rows(split))}" for split in ("train", "val", "test"))
    print(f"sound corpus: {corpus.root} ({counts})")


def _mocap(args: argparse.Namespace) -> None:
    from unibind.datasets.mocap_corpus import build_mocap_corpus

    try:
        corpus = build_mocap_corpus(args.out)
    except RuntimeError as err:
        raise SystemExit(str(err)) from err
    print(f"motion corpus: {corpus.root} (train {len(corpus.rows('train'))}, test {len(corpus.rows('test'))} windows)")


def _wordnet(args: argparse.Namespace) -> None:
    from unibind.cache import cache_dir
    from unibind.datasets.wordnet_graph import build_wordnet_graph

    try:
        nodes, edges = build_wordnet_graph(args.out or cache_dir() / "corpora" / "wordnet")
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from err
    print(f"WordNet noun graph: {nodes}, {edges}")


#: ``data build NAME`` -> the function that builds corpus NAME and says where it went.
_CORPORA = {"emoji": _emoji, "sounds": _sounds, "mocap": _mocap, "wordnet": _wordnet}


def build(args: argparse.Namespace) -> int:
    """Build the corpus ``args.name``."""
    _CORPORA[args.name](args)
    return 0


def shapes(args: argparse.Namespace) -> int:
    """Write the shapes corpus and name its manifests."""
    from unibind.datasets import write_shapes_dataset

    manifests = write_shapes_dataset(
        args.out, {"train": args.train, "val": args.val}, args.size, args.seed, sounds=args.sounds
    )
    for split, path in manifests.items():
        print(f"{split}: {path}")
    return 0


def shard(args: argparse.Namespace) -> int:
    """Write the shards; a bad manifest or a missing file exits with its message."""
    from unibind.datasets.shard_writer import write_shards

    try:
        shards = write_shards(
            args.manifest, args.out, args.modalities, args.samples_per_shard, args.on_error, not args.no_progress
        )
    except (ValueError, FileNotFoundError) as err:  # ManifestError is a ValueError
        raise SystemExit(str(err)) from err
    print(f"wrote {shards.total} samples in {len(shards.shards)} shards to {args.out} ({shards.skipped} skipped)")
    return 0


HANDLERS: dict[str, Handler] = {"data build": build, "data shapes": shapes, "data shard": shard}
