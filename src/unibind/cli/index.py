"""``unibind index build``: embed a manifest with a saved model into a vector index."""

from __future__ import annotations

import argparse

from unibind.cli.options import add_runtime
from unibind.cli.registry import Commands, Handler
from unibind.retrieval.backends import BACKENDS, MILVUS_INDEX_TYPES


def add_parsers(commands: Commands) -> None:
    """Add ``index build``."""
    commands.group("index", "INDEX_COMMAND", help="vector indexes")
    build = commands.command("index build", help="embed a manifest with a saved model into an index")
    build.add_argument("--model", required=True, help="a saved unibind model")
    build.add_argument("--manifest", required=True, help="JSONL/CSV/TSV manifest")
    build.add_argument("--modalities", nargs="+", required=True, help="modalities to index (each gets vectors)")
    build.add_argument("--out", required=True, help="index folder")
    build.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    build.add_argument("--backend", default="exact", choices=list(BACKENDS), help="where the vectors live and how "
                       "they are searched (default: exact)")  # fmt: skip
    build.add_argument(
        "--milvus-uri",
        help="milvus backend: a Milvus Lite file (default OUT/milvus.db) or a server/cluster, e.g. "
        "http://host:19530 (token from MILVUS_TOKEN)",
    )
    build.add_argument("--milvus-index", default="FLAT", choices=list(MILVUS_INDEX_TYPES),
                       help="milvus backend: the vector index type (default FLAT, exact)")  # fmt: skip
    build.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    add_runtime(build)
    build.add_argument("--dim", type=int, help="keep the first DIM dimensions (a Matryoshka size the model was "
                       "trained for); searches cut their queries to it")  # fmt: skip
    build.add_argument(
        "--no-media",
        action="store_true",
        help="no copies of image/audio files or motion GIFs in the index (cards only)",
    )


def _backend_options(args: argparse.Namespace) -> dict[str, object]:
    """``unibind index build``'s settings for the chosen backend; a setting it does not take is an error."""
    from unibind.retrieval.backends import backend_options

    given = {"uri": args.milvus_uri, "index_type": None if args.milvus_index == "FLAT" else args.milvus_index}
    given = {key: value for key, value in given.items() if value is not None}
    if set(given) - set(backend_options(args.backend)):
        raise SystemExit(f"--milvus-uri and --milvus-index apply to --backend milvus, not {args.backend}")
    return given


def build(args: argparse.Namespace) -> int:
    """Embed the manifest into the index folder and say how many vectors went in."""
    from unibind.retrieval.build import build_index

    built = build_index(
        args.model,
        args.manifest,
        args.modalities,
        args.out,
        args.dtype,
        args.backend,
        on_error=args.on_error,
        media=not args.no_media,
        backend_options=_backend_options(args),
        dim=args.dim,
        runtime=args.runtime,
    )
    print(f"indexed {len(built)} vectors ({', '.join(sorted(set(built.modalities)))}) into {args.out}")
    return 0


HANDLERS: dict[str, Handler] = {"index build": build}
