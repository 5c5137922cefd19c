"""``POST /api/search`` and ``/api/search/file``: index items ranked against a text, an indexed item or an upload."""

import time
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, UploadFile

from unibind.modalities import Modality
from unibind.serve.cards import hits_out
from unibind.serve.dependencies import EngineDep, LimitsDep
from unibind.serve.engine import SearchEngine
from unibind.serve.limits import Limits
from unibind.serve.queries import check_modalities, embed_upload, query_vector
from unibind.serve.routes.forms import QueryFile, QueryFileModality
from unibind.serve.schemas import QueryOut, SearchOut, SearchRequest

OnlyModalities = Annotated[list[Modality] | None, Form(description="only items of these modalities")]


def search_router(search_request: type[SearchRequest], max_top_k: int) -> APIRouter:
    """The search routes of one app: its JSON body ``search_request`` and the form's ``top_k`` carry its limits."""

    def search(request: search_request, engine: EngineDep) -> SearchOut:  # type: ignore[valid-type]
        """Index items nearest to a text or to an indexed item (not the item itself), optionally reranked."""
        return search_index(engine, request)

    def search_file(
        file: QueryFile,
        engine: EngineDep,
        limits: LimitsDep,
        modality: QueryFileModality = None,
        modalities: OnlyModalities = None,
        top_k: Annotated[int, Form(ge=1, le=max_top_k)] = 10,
    ) -> SearchOut:
        """Index items nearest to an uploaded file."""
        return search_upload(engine, limits, file, modality, modalities, top_k)

    router = APIRouter()
    summary = "Search with a text or an indexed item"
    router.add_api_route("/api/search", search, methods=["POST"], response_model=SearchOut, summary=summary)
    summary = "Search with an uploaded image, audio or motion"
    router.add_api_route("/api/search/file", search_file, methods=["POST"], response_model=SearchOut, summary=summary)
    return router


def search_index(engine: SearchEngine, request: SearchRequest) -> SearchOut:
    """The answer to ``request``: its ``top_k`` nearest items, reranked by E2Rank when it asks."""
    start = time.perf_counter()
    modalities = check_modalities(engine, request.modalities)
    if request.rerank:
        check_rerank(engine, request.text, modalities)
    query, vector = query_vector(engine, request)
    depth = max(request.top_k, engine.rerank_candidates) if request.rerank else request.top_k
    hits = engine.search(vector, depth, modalities, exclude=request.item_id)
    if request.rerank:
        hits = engine.rerank(request.text, hits, request.top_k)
    return SearchOut(
        query=query, modalities=modalities, top_k=request.top_k, reranked=request.rerank, took_ms=elapsed_ms(start),
        results=hits_out(hits),
    )  # fmt: skip


def search_upload(
    engine: SearchEngine,
    limits: Limits,
    file: UploadFile,
    modality: str | None,
    modalities: list[Modality] | None,
    top_k: int,
) -> SearchOut:
    """The ``top_k`` items of ``modalities`` (default all) nearest to the uploaded ``file``."""
    start = time.perf_counter()
    chosen = check_modalities(engine, modalities)
    modality, vector = embed_upload(engine, limits, file, modality)
    hits = engine.search(vector, top_k, chosen)
    return SearchOut(
        query=QueryOut(kind="file", modality=modality), modalities=chosen, top_k=top_k, reranked=False,
        took_ms=elapsed_ms(start), results=hits_out(hits),
    )  # fmt: skip


def check_rerank(engine: SearchEngine, text: str | None, modalities: list[str]) -> None:
    """400 when the server has no reranker; 422 unless the query is a text and the results only texts."""
    if engine.reranker is None:
        raise HTTPException(400, "rerank: this server has no reranker (start it with --reranker)")
    if text is None or modalities != [Modality.TEXT]:
        raise HTTPException(422, "rerank: E2Rank reranks text items for a text query; set modalities to ['text']")


def elapsed_ms(start: float) -> float:
    """Milliseconds since ``start`` (a :func:`time.perf_counter` reading), to 0.1 ms."""
    return round(1000 * (time.perf_counter() - start), 1)
