"""The FastAPI app of ``unibind serve``: JSON endpoints under ``/api`` and the demo page at ``/``.

Endpoints (the OpenAPI schema is at ``/openapi.json``, its browsable form at ``/docs``):

- ``GET /api/info``: query modalities, items per modality in the index, reranking, limits.
- ``POST /api/embed``: ``{"text"}`` or ``{"item_id"}`` -> the embedding.
- ``POST /api/embed/file``: an uploaded image, audio or motion file -> its embedding.
- ``POST /api/search``: ``{"text"}`` or ``{"item_id"}`` (more like this), ``modalities``, ``top_k``, ``rerank``.
- ``POST /api/search/file``: an uploaded image, audio or motion file as the query.
- ``GET /api/items/{id}``: an item's card; ``GET /api/media/{id}``: its image, audio or motion GIF.

Errors are JSON ``{"detail", "errors"}`` with a 4xx status: 404 unknown item or modality, 413 too large,
415 unaccepted file type, 422 invalid value or unreadable file, 400 reranking asked of a server without it.
The routes live in :mod:`unibind.serve.routes` and reach the engine and limits through ``app.state``.
"""

from fastapi import FastAPI

from unibind.serve.engine import SearchEngine
from unibind.serve.errors import ERRORS, add_error_handlers
from unibind.serve.limits import BodySizeLimit, Limits
from unibind.serve.routes import info, items, page
from unibind.serve.routes.embed import embed_router
from unibind.serve.routes.search import search_router
from unibind.serve.schemas import request_models


def create_app(engine: SearchEngine, limits: Limits | None = None) -> FastAPI:
    """The API and page over ``engine``, refusing requests beyond ``limits`` (default :class:`Limits`)."""
    limits = limits or Limits()
    app = FastAPI(
        title="unibind",
        summary="Cross-modal search: text, image, audio, motion and graph items in one embedding space.",
        version="1",
        responses=ERRORS,
    )
    app.state.engine, app.state.limits = engine, limits
    app.add_middleware(BodySizeLimit, limits=limits)
    add_error_handlers(app)
    embed_request, search_request = request_models(limits)
    app.include_router(info.router)
    app.include_router(embed_router(embed_request))
    app.include_router(search_router(search_request, limits.max_top_k))
    app.include_router(items.router)
    app.include_router(page.router)
    return app
