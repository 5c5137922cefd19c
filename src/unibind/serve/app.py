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
"""

import time
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import torch
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from unibind.modalities import InputError, Modality
from unibind.retrieval.payload import MEDIA_TYPES, ItemCard
from unibind.serve.engine import Hit, SearchEngine
from unibind.serve.limits import BodySizeLimit, Limits
from unibind.serve.schemas import (
    EmbedOut,
    ErrorOut,
    HitOut,
    InfoOut,
    ItemOut,
    NeighbourOut,
    QueryOut,
    SearchOut,
    UploadModality,
    request_models,
)
from unibind.serve.uploads import UploadError, check_decodable_size, saved_upload, upload_modality

# the page and its two assets, by name: no request path is ever mapped onto the file system
PAGE_ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
ERRORS = {status: {"model": ErrorOut} for status in (400, 404, 413, 415, 422)}


def create_app(engine: SearchEngine, limits: Limits | None = None) -> FastAPI:
    """The API and page over ``engine``, refusing requests beyond ``limits`` (default :class:`Limits`)."""
    limits = limits or Limits()
    EmbedRequest, SearchRequest = request_models(limits)  # noqa: N806 (classes built per app)
    app = FastAPI(
        title="unibind",
        summary="Cross-modal search: text, image, audio, motion and graph items in one embedding space.",
        version="1",
        responses=ERRORS,
    )
    app.add_middleware(BodySizeLimit, limits=limits)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"].removeprefix("Value error, ")}
            for e in error.errors()
        ]
        detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse({"detail": detail, "errors": fields}, status_code=422)

    @app.exception_handler(StarletteHTTPException)  # also the router's own 404 and 405
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(error.detail), "errors": []}, status_code=error.status_code, headers=error.headers
        )

    def item_out(card: ItemCard) -> dict:
        quoted = quote(card.id, safe="")
        return {
            "id": card.id,
            "modality": card.modality,
            "text": card.text,
            "label": card.label,
            "media_url": f"/api/media/{quoted}" if card.media else None,
            "media_type": MEDIA_TYPES.get(Path(card.media).suffix.lower()) if card.media else None,
            "neighbours": [NeighbourOut(text=n.text, relation=n.relation, id=n.id) for n in card.neighbours],
        }

    def hits_out(hits: list[Hit]) -> list[HitOut]:
        return [
            HitOut(**item_out(hit.card), rank=rank, score=hit.score, first_stage_score=hit.first_stage_score)
            for rank, hit in enumerate(hits, start=1)
        ]

    def known_card(item_id: str) -> ItemCard:
        try:
            return engine.card(item_id)
        except KeyError:
            raise HTTPException(404, f"item_id: no item {item_id!r} in the index") from None

    def check_modalities(modalities: list[Modality] | None) -> list[str]:
        if modalities is None:
            return list(engine.index_modalities)
        missing = [str(m) for m in modalities if m not in engine.index_modalities]
        if missing:
            raise HTTPException(
                404, f"modalities: the index holds no {missing} items; it holds {engine.index_modalities}"
            )
        return [str(m) for m in dict.fromkeys(modalities)]

    def embed_text(text: str) -> torch.Tensor:
        if Modality.TEXT not in engine.specs:
            raise HTTPException(422, "text: this model has no text encoder")
        try:
            return engine.embed(Modality.TEXT, text)
        except InputError as err:
            raise HTTPException(422, f"text: {str(err).removeprefix('query: ')}") from err

    def embed_upload(file: UploadFile, modality: str | None) -> tuple[str, torch.Tensor]:
        try:
            modality, suffix = upload_modality(file.filename or "", modality, limits)
            if modality not in engine.specs:
                raise UploadError(
                    422, f"modality: this model has no {modality} encoder; it has {engine.query_modalities}"
                )
            with saved_upload(file.file, suffix, limits) as path:
                check_decodable_size(path, modality, limits)
                try:
                    return modality, engine.embed(modality, path)
                except InputError as err:
                    message = str(err).replace(str(path), "the upload").removeprefix("query: ")
                    raise UploadError(422, f"file: {message}") from err
        except UploadError as err:
            raise HTTPException(err.status, err.detail) from err

    @app.get("/api/info", response_model=InfoOut, summary="What the server can do")
    def info() -> InfoOut:
        return InfoOut(
            query_modalities=engine.query_modalities,
            index_modalities=engine.index_counts,
            dim=engine.index.dim,
            reranker=engine.reranker is not None,
            limits=asdict(limits),
        )

    @app.post("/api/embed", response_model=EmbedOut, summary="Embed a text, or fetch an indexed item's vector")
    def embed(request: EmbedRequest) -> EmbedOut:  # type: ignore[valid-type]
        if request.text is not None:
            vector, modality = embed_text(request.text), str(Modality.TEXT)
        else:
            modality = known_card(request.item_id).modality
            vector = engine.item_vector(request.item_id)
        return EmbedOut(modality=modality, dim=int(vector.shape[0]), vector=vector.tolist())

    @app.post("/api/embed/file", response_model=EmbedOut, summary="Embed an uploaded image, audio or motion file")
    def embed_file(
        file: Annotated[UploadFile, File(description="the query file")],
        modality: Annotated[UploadModality | None, Form(description="default: from the file's suffix")] = None,
    ) -> EmbedOut:
        modality, vector = embed_upload(file, modality)
        return EmbedOut(modality=modality, dim=int(vector.shape[0]), vector=vector.tolist())

    @app.post("/api/search", response_model=SearchOut, summary="Search with a text or an indexed item")
    def search(request: SearchRequest) -> SearchOut:  # type: ignore[valid-type]
        start = time.perf_counter()
        modalities = check_modalities(request.modalities)
        if request.rerank:
            if engine.reranker is None:
                raise HTTPException(400, "rerank: this server has no reranker (start it with --reranker)")
            if request.text is None or modalities != [Modality.TEXT]:
                raise HTTPException(
                    422, "rerank: E2Rank reranks text items for a text query; set modalities to ['text']"
                )
        if request.text is not None:
            query = QueryOut(kind="text", modality=Modality.TEXT)
            vector = embed_text(request.text)
        else:
            card = known_card(request.item_id)
            query = QueryOut(kind="item", modality=card.modality, item_id=card.id)
            vector = engine.item_vector(card.id)
        depth = max(request.top_k, engine.rerank_candidates) if request.rerank else request.top_k
        hits = engine.search(vector, depth, modalities, exclude=request.item_id)
        if request.rerank:
            hits = engine.rerank(request.text, hits, request.top_k)
        took = round(1000 * (time.perf_counter() - start), 1)
        return SearchOut(
            query=query, modalities=modalities, top_k=request.top_k, reranked=request.rerank, took_ms=took,
            results=hits_out(hits),
        )  # fmt: skip

    @app.post("/api/search/file", response_model=SearchOut, summary="Search with an uploaded image, audio or motion")
    def search_file(
        file: Annotated[UploadFile, File(description="the query file")],
        modality: Annotated[UploadModality | None, Form(description="default: from the file's suffix")] = None,
        modalities: Annotated[list[Modality] | None, Form(description="only items of these modalities")] = None,
        top_k: Annotated[int, Form(ge=1, le=limits.max_top_k)] = 10,
    ) -> SearchOut:
        start = time.perf_counter()
        chosen = check_modalities(modalities)
        modality, vector = embed_upload(file, modality)
        hits = engine.search(vector, top_k, chosen)
        took = round(1000 * (time.perf_counter() - start), 1)
        return SearchOut(
            query=QueryOut(kind="file", modality=modality), modalities=chosen, top_k=top_k, reranked=False,
            took_ms=took, results=hits_out(hits),
        )  # fmt: skip

    @app.get("/api/items/{item_id:path}", response_model=ItemOut, summary="An indexed item's card")
    def item(item_id: str) -> ItemOut:
        return ItemOut(**item_out(known_card(item_id)))

    @app.get(
        "/api/media/{item_id:path}",
        summary="An indexed item's image, audio or motion GIF",
        response_class=FileResponse,
        responses={200: {"content": {t: {} for t in sorted(set(MEDIA_TYPES.values()))}}},
    )
    def media(item_id: str) -> FileResponse:
        known_card(item_id)
        try:
            path, media_type = engine.media(item_id)
        except KeyError:
            raise HTTPException(404, f"item_id: item {item_id!r} has no media") from None
        except (PermissionError, FileNotFoundError) as err:
            raise HTTPException(404, f"item_id: {err}") from None
        return FileResponse(path, media_type=media_type)

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_asset("index.html"))

    @app.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in PAGE_ASSETS:
            raise HTTPException(404, f"no page asset {name!r}")
        return Response(_asset(name), media_type=PAGE_ASSETS[name])

    return app


def _asset(name: str) -> str:
    return resources.files("unibind.serve").joinpath("static", name).read_text(encoding="utf-8")
