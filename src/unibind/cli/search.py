"""``unibind search``: search an index with a text query."""

from __future__ import annotations

import argparse

from unibind.cli.options import add_runtime
from unibind.cli.registry import Commands, Handler


def add_parsers(commands: Commands) -> None:
    """Add ``search``."""
    search = commands.command("search", help="search an index with a text query")
    search.add_argument("--model", required=True)
    search.add_argument("--index", required=True)
    search.add_argument("--text", required=True, help="the query")
    search.add_argument("-k", type=int, default=10)
    search.add_argument("--modalities", nargs="*", default=None, help="only items of these modalities")
    add_runtime(search)
    search.add_argument(
        "--hybrid", choices=["rrf", "zscore"], default=None, help="fuse with BM25 over the items' card texts"
    )


def search(args: argparse.Namespace) -> int:
    """Print the ranked hits with their scores."""
    from unibind.retrieval.build import search_text

    query = (args.model, args.index, args.text, args.k, args.modalities, args.hybrid)
    found = search_text(*query, runtime=args.runtime)
    for rank, (item, score) in enumerate(found, 1):
        print(f"{rank:3d}. {score:.4f}  {item}")
    return 0


HANDLERS: dict[str, Handler] = {"search": search}
