"""``POST /api/embed`` and ``/api/embed/file``: the embedding of a text, an indexed item or an uploaded file."""

import torch
from fastapi import APIRouter

from unibind.serve.dependencies import EngineDep, LimitsDep
from unibind.serve.queries import embed_upload, query_vector
from unibind.serve.routes.forms import QueryFile, QueryFileModality
from unibind.serve.schemas import EmbedOut, EmbedRequest


def embed_router(embed_request: type[EmbedRequest]) -> APIRouter:
    """The embed routes of one app, whose JSON body is ``embed_request`` (it carries the app's query length)."""

    def embed(request: embed_request, engine: EngineDep) -> EmbedOut:  # type: ignore[valid-type]
        """A text's embedding, or the vector the index stores for an item."""
        query, vector = query_vector(engine, request)
        return embed_out(query.modality, vector)

    router = APIRouter()
    summary = "Embed a text, or fetch an indexed item's vector"
    router.add_api_route("/api/embed", embed, methods=["POST"], response_model=EmbedOut, summary=summary)
    summary = "Embed an uploaded image, audio or motion file"
    router.add_api_route("/api/embed/file", embed_file, methods=["POST"], response_model=EmbedOut, summary=summary)
    return router


def embed_file(file: QueryFile, engine: EngineDep, limits: LimitsDep, modality: QueryFileModality = None) -> EmbedOut:
    """The embedding of an uploaded file, checked against the server's limits before it is decoded."""
    modality, vector = embed_upload(engine, limits, file, modality)
    return embed_out(modality, vector)


def embed_out(modality: str, vector: torch.Tensor) -> EmbedOut:
    """The answer for ``vector``, a query of ``modality``."""
    return EmbedOut(modality=modality, dim=int(vector.shape[0]), vector=vector.tolist())
