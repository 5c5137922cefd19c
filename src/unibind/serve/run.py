"""Start the demo server: load the model, the index and the reranker, then serve the app with uvicorn."""

from __future__ import annotations

from pathlib import Path

from unibind.serve.app import create_app
from unibind.serve.engine import SearchEngine
from unibind.serve.limits import Limits


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
    print(f"index {index_dir}: {counts}; queries: {', '.join(engine.query_modalities)}")
    print(f"reranking: {reranker or 'off'}; open http://{host}:{port}/ (API schema at /docs)")
    uvicorn.run(create_app(engine, limits), host=host, port=port, log_level="warning")
