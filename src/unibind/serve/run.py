"""Start the demo server: load the model, the index and the reranker, then serve the app with uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path

from unibind.serve.app import create_app
from unibind.serve.engine import SearchEngine
from unibind.serve.limits import Limits

log = logging.getLogger(__name__)


def serve(
    model_dir: str | Path,
    index_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    reranker: str | None = None,
    limits: Limits | None = None,
    runtime: str = "torch",
) -> None:
    """Serve ``index_dir`` searched with ``model_dir`` (for ``runtime``, :mod:`unibind.runtimes`) at
    ``http://host:port/`` until interrupted."""
    import uvicorn

    engine = SearchEngine(model_dir, index_dir, reranker=reranker, runtime=runtime)
    counts = ", ".join(f"{count} {m}" for m, count in engine.index_counts.items())
    log.info("index %s: %s; queries: %s", index_dir, counts, ", ".join(engine.query_modalities))
    log.info("reranking: %s; open http://%s:%s/ (API schema at /docs)", reranker or "off", host, port)
    uvicorn.run(create_app(engine, limits), host=host, port=port, log_level="warning")
