"""Request and response bodies of the ``unibind serve`` API (they make its OpenAPI schema).

Request models carry the server's limits (``top_k`` range, query length), so they are built per app by
:func:`request_models`; response models are fixed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from unibind.modalities import Modality
from unibind.serve.limits import Limits

UploadModality = Literal["image", "audio", "motion"]
MAX_ID_CHARS = 1000


def request_models(limits: Limits) -> tuple[type[BaseModel], type[BaseModel]]:
    """``(EmbedRequest, SearchRequest)`` with ``limits`` in their field constraints."""

    class EmbedRequest(BaseModel):
        """Embed a text, or return the stored vector of an indexed item: give exactly one of the two."""

        model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["text"]}, {"required": ["item_id"]}]})
        text: str | None = Field(None, min_length=1, max_length=limits.max_query_chars, description="a text query")
        item_id: str | None = Field(None, min_length=1, max_length=MAX_ID_CHARS, description="an indexed item's id")

        @model_validator(mode="after")
        def _one_query(self) -> EmbedRequest:
            if (self.text is None) == (self.item_id is None):
                raise ValueError("give exactly one of text and item_id")
            return self

    class SearchRequest(EmbedRequest):
        """Search the index with a text or with an indexed item ("more like this"; the item itself is left out)."""

        modalities: list[Modality] | None = Field(
            None, min_length=1, max_length=len(Modality), description="only items of these modalities (default all)"
        )
        top_k: int = Field(10, ge=1, le=limits.max_top_k, description="how many results")
        rerank: bool = Field(False, description="rerank text results with E2Rank (text query, modalities ['text'])")

    return EmbedRequest, SearchRequest


class FieldError(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every 4xx answer: ``detail`` names the field and the limit or the problem; ``errors`` lists each field."""

    detail: str
    errors: list[FieldError] = []


class NeighbourOut(BaseModel):
    text: str
    relation: str | None = None
    id: str | None = Field(None, description="the neighbour's index id, when it is indexed")


class ItemOut(BaseModel):
    """An indexed item as a front end shows it."""

    id: str
    modality: str
    text: str | None = None
    label: str | None = None
    media_url: str | None = Field(None, description="GET it for the item's image, audio or motion GIF")
    media_type: str | None = None
    neighbours: list[NeighbourOut] = []


class HitOut(ItemOut):
    rank: int
    score: float = Field(description="cosine similarity (E2Rank's score when reranked)")
    first_stage_score: float | None = Field(None, description="the cosine similarity before reranking")


class QueryOut(BaseModel):
    kind: Literal["text", "item", "file"]
    modality: str
    item_id: str | None = None


class SearchOut(BaseModel):
    query: QueryOut
    modalities: list[str]
    top_k: int
    reranked: bool
    took_ms: float
    results: list[HitOut]


class EmbedOut(BaseModel):
    modality: str
    dim: int
    vector: list[float]


class InfoOut(BaseModel):
    """What the server can do: the model's query modalities, the index, reranking and the limits."""

    query_modalities: list[str]
    index_modalities: dict[str, int] = Field(description="items per modality")
    dim: int
    reranker: bool
    limits: dict
